// Package run owns the life of an aishell container: it assembles the spec from the oci
// package's options, creates the container under a lease, wires the terminal or the standard
// streams, forwards signals, returns the process's exit code, and removes the task, container,
// rootfs snapshot and lease on every way out (the harness views are shared: no run's to remove).
//
// Run reads top to bottom as those steps; each lives in its own file: the cleanup stack
// (cleanup.go), the rootfs snapshot, user files and shared harness views (assemble.go), the spec as a
// pure function of them (spec.go), the streams (streams.go, tty.go) and the wait loop with
// signals, resize and broken pipes (wait.go).
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/protect"
	"github.com/aishell/aishell/testpoint"
)

// Timeouts and lifetimes of a run.
const (
	// StopTimeout: after SIGTERM or SIGHUP the process gets this long to exit before SIGKILL.
	StopTimeout = 10 * time.Second
	// CleanupTimeout bounds the removal of a run's resources, so a containerd that hangs cannot
	// hang aishell on its way out; a task delete takes 100-160 ms here.
	CleanupTimeout = 30 * time.Second
	// LeaseExpiry: a run's lease holds what it makes until its container exists (which then
	// holds its rootfs and the shared harness views itself, however long it runs); a lease left by an aishell that
	// died, with its reaper, stops holding anything after an hour even if nobody runs aishell
	// again. A run whose lease is half that old before it assembles makes it anew (Claim.renew).
	LeaseExpiry = time.Hour
	// DrainTimeout: after the process exits, its last output gets this long to arrive before
	// the pipes close (a background child holding stdout open must not keep aishell waiting).
	DrainTimeout = 5 * time.Second
	// PipeGrace: a process whose reader went away gets this long after SIGPIPE before SIGKILL
	// (Node ignores SIGPIPE).
	PipeGrace = 2 * time.Second
)

// Harness is one harness to mount: its catalog entry and the image holding its snapshot.
type Harness struct {
	harness.Harness
	Ref string
}

// Options describe one run.
type Options struct {
	Snapshotter string
	Image       string    // rootfs image: the project's extension, or the foundation
	Harnesses   []Harness // mounted read-only at /opt/harness/<name>, bin on PATH
	Args        []string  // the process; empty for an interactive bash
	Purpose     string    // shell, exec or a harness name: part of the container name
	Project     string    // mounted read-write at the same path
	Cwd         string
	User        oci.User
	Env         []string // KEY=VALUE passed in (API keys, TERM, LANG, git identity)
	Binds       []string // host paths mounted read-write at the same paths (harness config)
	ReadOnly    []string // host paths in the project mounted read-only over it (.git/config, .git/hooks)
	GitDirs     []string // git directories bound onto themselves and kept free of a planted commondir
	// Worktree and WorktreeFiles: a linked worktree's git directory, and what of it is read-only.
	Worktree      string
	WorktreeFiles []string
	Mounts        []config.Mount // the config's mounts, their sources resolved
	PreStart      string         // the config's pre_start, run in the background before the process
	Limits        oci.Limits
	CABundle      string   // host CA certificates, mounted read-only for NODE_EXTRA_CA_CERTS
	Defaults      Defaults // the harness defaults' files and mounts (defaults.go)
	TTY           bool
	Runtime       Runtime
	Stdin         io.Reader // nil for none
	Stdout        io.Writer
	Stderr        io.Writer
	// Signals are the signals aishell receives (SIGINT, SIGTERM, SIGHUP): forwarded to the
	// process; SIGTERM and SIGHUP also end the run.
	Signals <-chan os.Signal
	// Protect is what of the harness config in Binds is mounted over it: read-only, or as a
	// private copy written back after the run.
	Protect protect.Plan
	// Name is the session name asked for (--name), unique among the project's live runs;
	// empty for a name made of the purpose and a random suffix.
	Name string
	// Version is the running harness's version, and Owner the name of the person; both only
	// label the run for ps.
	Version, Owner string
	// Network is the run's network: its mode and allow list (network.go).
	Network network.Policy
	// Keeper is set in the keeper of a detached session (detach.go): the process runs inside
	// tmux, and the starter hears once it does.
	Keeper *Keeper
}

// Runtime says how containers run on this containerd (oci.Runtime: the build package's
// harness installs run containers too).
type Runtime = oci.Runtime

// Runs of anything but letters and digits become one "-": containerd IDs allow no doubled or
// trailing separators.
var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

func sanitize(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "x"
	}
	return s
}

// Run runs the container of the run cl claimed to the end and returns its process's exit
// code. Whatever happens, everything it created is removed before it returns (by its reaper,
// while aishell returns the exit code), and cl is closed.
func Run(ctx context.Context, c *containerd.Client, cl *Claim, o Options) (code int, err error) {
	id, name, stack, rp, tr := cl.id, cl.name, cl.stack, cl.rp, cl.stack.tr
	if o.Keeper != nil { // its process has tmux's terminals, and no stdin
		o.Stdin = nil
	}
	defer cl.Close(ctx)
	ln, err := newLink(c, stderrOf(o))
	if err != nil {
		return 0, err
	}
	if err := cl.renew(ctx, c); err != nil {
		return 0, err
	}
	testpoint.Reached("prepared")
	lctx := cl.lctx
	// The namespace the spec names; slirp4netns, the DNS relay and the rules come up in it while
	// the task is made.
	early := earlyNetwork(lctx, o, stack)
	parts, err := assemble(lctx, c, o, id, stack)
	parts.name, parts.owner, parts.net = name, cl.owner, early
	if err != nil {
		return 0, err
	}
	testpoint.Reached("assembled")
	ctr, err := c.NewContainer(lctx, id, containerOpts(o, parts)...)
	if err != nil {
		return 0, viewsGone(lctx, c, o, parts.views, fmt.Errorf("create container: %w", err))
	}
	stack.push("container", func(ctx context.Context) error { return ignoreNotFound(ctr.Delete(ctx)) })
	tr.mark("container")
	early.begin()

	stack.pushLocal("git guard", gitGuard{Dirs: o.GitDirs}.watch(stderrOf(o), rp.takeWatcher()))
	st, err := newStreams(o)
	if err != nil {
		return 0, err
	}
	task, err := createTask(lctx, c, ctr, parts.rootfs, st.creator)
	if err != nil {
		return 0, viewsGone(lctx, c, o, parts.views, fmt.Errorf("create task: %w", err))
	}
	stack.push("task", func(ctx context.Context) error {
		_, err := task.Delete(ctx, containerd.WithProcessKill)
		return ignoreNotFound(err)
	})
	tr.mark("task")
	if err := setupNetwork(lctx, o, task, early, stack); err != nil {
		return 0, err
	}
	tr.mark("network")
	// Wait before Start, or a fast exit is missed; on a context that outlives Ctrl-C.
	exitCh, err := task.Wait(context.WithoutCancel(lctx))
	if err != nil {
		return 0, fmt.Errorf("wait: %w", err)
	}
	if err := st.attach(); err != nil {
		return 0, err
	}
	defer st.detach()
	// A signal that came while the container was assembled stops the run before it starts.
	select {
	case sig := <-o.Signals:
		return 0, fmt.Errorf("interrupted by %s before the process started; nothing was left behind: %w", sig, context.Canceled)
	default:
	}
	if err := task.Start(lctx); err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	st.closeStdinAtEOF(lctx, task)
	tr.mark("start")
	if o.Keeper != nil {
		if code, ended, err := o.Keeper.await(lctx, task, exitCh, o.Signals, Started{Name: name}); ended {
			return code, err
		}
	}
	code, err = waitExit(lctx, task, exitCh, st, o.Signals, tr, ln)
	switch {
	case err == nil || errors.Is(err, errExitLost): // the process has exited and its output is out: the reaper does the rest
		st.detach()
		stack.handOff(ctx, rp, task.IO().Close)
	case abandoned(err): // containerd stayed away: the process may live on, and nothing is removed
		stack.abandon(ctx, rp, task.IO().Close)
	}
	return code, err
}

func stderrOf(o Options) io.Writer {
	if o.Stderr != nil {
		return o.Stderr
	}
	return os.Stderr
}

// leaseOf is the lease that holds a run's resources: it carries the container's ID.
func leaseOf(id string) leases.Lease { return leases.Lease{ID: id} }

// ignoreNotFound treats a resource that is already gone as removed.
func ignoreNotFound(err error) error {
	if err == nil || errdefs.IsNotFound(err) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
