package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
)

// BuildCmd builds the foundation and the chosen harness snapshots.
type BuildCmd struct {
	HarnessFlags
	BuildOutput
	BaseImage string `placeholder:"IMAGE" help:"Upstream Debian image of the foundation, kept in the config as base_image (default ${base_image})."`
	NodeImage string `placeholder:"IMAGE" help:"Image Node.js is copied from, kept in the config as node_image (default ${node_image})."`
	Force     bool   `help:"Rebuild the foundation and the harness snapshots even if they exist."`
	Pull      bool   `help:"Resolve base images from their registries even when present locally."`
	Extension bool   `help:"Rebuild this project's extension (.aishell/Dockerfile) even if it is fresh."`
}

// UpdateCmd rebuilds only the harness snapshots whose version changed.
type UpdateCmd struct {
	HarnessFlags
	BuildOutput
}

// Run builds what is missing, records the harness set, and brings the current project's
// extension up to date.
func (c *BuildCmd) Run(ctx context.Context, s *session) error {
	req := c.request()
	req.BaseImage, req.NodeImage, req.Force = c.BaseImage, c.NodeImage, c.Force
	opts := c.options()
	opts.Pull = c.Pull
	return runBuild(ctx, s, buildJob{Request: req, Options: opts, RebuildExtension: c.Extension})
}

// Run resolves the configured versions again and builds only what changed.
func (c *UpdateCmd) Run(ctx context.Context, s *session) error {
	req := c.request()
	req.Update = true
	return runBuild(ctx, s, buildJob{Request: req, Options: c.options()})
}

// buildJob is one build or update.
type buildJob struct {
	Request build.Request
	Options build.Options
	// RebuildExtension rebuilds the current project's extension even when it is fresh (build only).
	RebuildExtension bool
}

func runBuild(ctx context.Context, s *session, job buildJob) error {
	start := time.Now()
	uc, err := s.User()
	if err != nil {
		return err
	}
	job.Request.ConfigPath = uc.Path
	if err := job.Request.Check(uc.File); err != nil {
		return err
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	b, err := newBuilder(s, cc, uc, job.Options)
	if err != nil {
		return err
	}
	defer b.Close()

	res, err := build.Apply(ctx, b, &uc.File, job.Request, harness.NewResolver(uc.NPMRegistry))
	if err != nil {
		return err
	}
	if err := config.Save(uc.Path, uc.File, uc.Person); err != nil {
		return err
	}
	fmt.Print(buildReport(res, job.Request.Update))
	if !job.Request.Update {
		// The person's base, and in a project with an extension that too, are brought up to date.
		if err := buildUserBase(ctx, b, job.Request.Force); err != nil {
			return err
		}
		if err := buildExtension(ctx, s, b, uc, job.RebuildExtension); err != nil {
			return err
		}
	}
	if b.Solves() > 0 {
		fmt.Printf("done in %s (%d build(s)); harness set saved in %s\n", time.Since(start).Round(100*time.Millisecond), b.Solves(), uc.Path)
	}
	return nil
}

func buildReport(res build.Result, update bool) string {
	var sb strings.Builder
	if res.FoundationRef != "" && !update {
		state := "up to date"
		if res.FoundationBuilt {
			state = "built"
		}
		fmt.Fprintf(&sb, "foundation %s (%s)\n", res.FoundationRef, state)
	}
	changed := 0
	var unchanged []string
	for _, h := range res.Harnesses {
		switch {
		case h.From != "" && h.From != h.To:
			changed++
			fmt.Fprintf(&sb, "%s %s -> %s\n", h.Name, h.From, h.To)
		case update && !h.Built:
			unchanged = append(unchanged, h.Name+" "+h.To)
		case h.Built:
			changed++
			fmt.Fprintf(&sb, "%s %s (built)\n", h.Name, h.To)
		default:
			fmt.Fprintf(&sb, "%s %s (up to date)\n", h.Name, h.To)
		}
	}
	if update && changed == 0 {
		fmt.Fprintf(&sb, "nothing changed (%s)\n", strings.Join(unchanged, ", "))
	}
	return sb.String()
}

// buildUserBase brings the person's user base up to date during `aishell build`.
func buildUserBase(ctx context.Context, b *build.Builder, force bool) error {
	if b.UserBase == nil {
		return nil
	}
	ref, built, err := b.EnsureExtension(ctx, b.UserBase, force)
	if err != nil {
		return err
	}
	state := "up to date"
	if built {
		state = "built"
	}
	fmt.Printf("user base %s from %s (%s)\n", ref, b.UserBase.Path, state)
	return nil
}
