package main

import (
	"context"
	"os"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/rootless"
)

// session is what every command works with, bound once for all of them: the host and the
// endpoints the flags resolve to, and, made when a command first asks and kept for the rest of
// it, the person who typed the command with their config, and the containerd client. Close
// releases the client.
type session struct {
	g    *Globals
	host config.Host

	cc   *containerd.Client
	user *userConfig
	// dialing is closed once a connection ConnectEarly began is made (cc) or failed (ccErr);
	// mu guards cc and ccErr meanwhile, and closed, after which the connection is let go.
	dialing chan struct{}
	mu      sync.Mutex
	ccErr   error
	closed  bool
}

// userConfig is the person and their config file.
type userConfig struct {
	config.File
	Path   string
	Person config.Person
}

func newSession(g *Globals) *session {
	euid, egid, child := rootless.HostIDs()
	return &session{g: g, host: config.Host{Getenv: os.Getenv, EUID: euid, EGID: egid, Rootless: child || euid != 0, Exists: config.FileExists}}
}

// Endpoints are the daemons' addresses, from flags, environment and defaults.
func (s *session) Endpoints() config.Endpoints { return config.Resolve(s.g.overrides(), s.host) }

// ConnectEarly starts connecting to containerd while the command does other work; Containerd
// waits for it, and reports its error.
func (s *session) ConnectEarly(ctx context.Context) {
	if s.cc != nil || s.dialing != nil {
		return
	}
	ep, done := s.Endpoints(), make(chan struct{})
	s.dialing = done
	go func() {
		cc, err := daemon.Containerd(ctx, ep)
		s.mu.Lock()
		if s.closed && cc != nil { // the command ended first
			cc.Close()
			cc = nil
		}
		s.cc, s.ccErr = cc, err
		s.mu.Unlock()
		close(done)
	}()
}

// Containerd is the containerd client, connected (and checked to answer) on first use.
func (s *session) Containerd(ctx context.Context) (*containerd.Client, error) {
	if s.dialing != nil {
		<-s.dialing
		s.dialing = nil
		if err := s.ccErr; err != nil {
			s.ccErr = nil // the next call tries again
			return nil, err
		}
	}
	if s.cc == nil {
		cc, err := daemon.Containerd(ctx, s.Endpoints())
		if err != nil {
			return nil, err
		}
		s.cc = cc
	}
	return s.cc, nil
}

// User is whoever typed the command (through sudo, or rootless, too) and their config file.
func (s *session) User() (*userConfig, error) {
	if s.user == nil {
		p, err := config.WhoInvoked(s.host)
		if err != nil {
			return nil, err
		}
		f, path, err := config.LoadUser(p)
		if err != nil {
			return nil, err
		}
		s.user = &userConfig{File: f, Path: path, Person: p}
	}
	return s.user, nil
}

// ReloadUser reads the person's config file again: what another aishell of theirs saved since
// this command began (a build that finished while this one waited for it).
func (s *session) ReloadUser() (*userConfig, error) {
	uc, err := s.User()
	if err != nil {
		return nil, err
	}
	f, err := config.Load(uc.Path)
	if err != nil {
		return nil, err
	}
	uc.File = f
	return uc, nil
}

// Close releases the containerd client, if one was opened.
func (s *session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cc != nil {
		s.cc.Close()
		s.cc = nil
	}
}
