package main

import (
	"context"
	"fmt"
	"os"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/run"
)

// ShellCmd is `aishell` with no command: an interactive bash in the sandbox.
type ShellCmd struct{}

// Run starts bash.
func (ShellCmd) Run(ctx context.Context, g *Globals, hub *signalHub) error {
	return runContainer(ctx, g, hub, "shell", "", nil, run.IsTerminal())
}

// ExecCmd runs one command, for scripts and CI: no terminal needed, stdin passed through.
type ExecCmd struct {
	Command []string `arg:"" optional:"" passthrough:"" help:"The command and its arguments (a leading -- is dropped)."`
}

// Run runs the command and exits with its exit code.
func (c ExecCmd) Run(ctx context.Context, g *Globals, hub *signalHub) error {
	args := c.Command
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return &errs.UsageError{Err: fmt.Errorf("exec needs a command"), Hint: "aishell exec -- CMD [ARGS...]"}
	}
	return runContainer(ctx, g, hub, "exec", "", args, run.IsTerminal())
}

// HarnessRunCmd is `aishell <harness> [args...]`: one per catalog entry, added dynamically.
type HarnessRunCmd struct {
	name string
	Args []string `arg:"" optional:"" passthrough:"" help:"Arguments for the harness, passed untouched."`
}

// Run starts the harness with its arguments.
func (c *HarnessRunCmd) Run(ctx context.Context, g *Globals, hub *signalHub) error {
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	return runContainer(ctx, g, hub, c.name, c.name, append([]string{c.name}, args...), run.IsTerminal())
}

func runContainer(ctx context.Context, g *Globals, hub *signalHub, purpose, harnessName string, args []string, tty bool) error {
	ep := g.Endpoints()
	cfg, path, person, err := g.UserConfig()
	if err != nil {
		return err
	}
	cc, err := daemon.Containerd(ctx, ep)
	if err != nil {
		return err
	}
	defer cc.Close()
	image, err := projectImage(ctx, g, ep, cc, cfg, path, person)
	if err != nil {
		return err
	}
	opts, err := run.Prepare(ctx, cc, run.Request{
		Purpose: purpose, Harness: harnessName, Args: args, TTY: tty, Person: person, Runtime: run.DetectRuntime(g.host()),
		Image: image, Snapshotter: ep.Snapshotter, Config: cfg, Warn: os.Stderr,
	})
	if err != nil {
		return err
	}
	opts.Stdin, opts.Stdout, opts.Stderr = os.Stdin, os.Stdout, os.Stderr
	opts.Signals = hub.Forward()
	if err := ctx.Err(); err != nil {
		return err // a signal came while the run was being prepared
	}
	code, err := run.Run(ctx, cc, opts)
	if err != nil {
		return err
	}
	return errs.Exit(code)
}

// projectImage is the rootfs image of a run: the project's extension, built first when it is
// missing or stale, or the foundation when the project has no .aishell/Dockerfile. A fresh
// extension costs no buildkitd call.
func projectImage(ctx context.Context, g *Globals, ep config.Endpoints, cc *containerd.Client, cfg config.File, cfgPath string, person config.Person) (string, error) {
	project, ext, err := build.ProjectExtension()
	if project == "" {
		return build.FoundationImage, nil // Prepare reports it
	}
	if err != nil || ext == nil {
		return build.FoundationImage, err
	}
	baseNotice(cfgPath, person, ext)
	b := newBuilder(ep, cc, cfg, BuildOutput{Progress: "auto"}, false)
	defer b.Close()
	if g.NoRebuild {
		st, err := b.CheckExtension(ctx, ext, ep.Snapshotter)
		if err != nil {
			return "", err
		}
		if !st.Exists {
			return "", errs.WithHint(fmt.Errorf("--no-rebuild: %s has no extension image yet", project), "run without --no-rebuild to build it")
		}
		if !st.Fresh {
			fmt.Fprintf(os.Stderr, "aishell: using the stale extension %s (%s) as asked\n", st.Ref, st.Reason)
		}
		return st.Ref, nil
	}
	ref, _, err := b.EnsureExtension(ctx, ext, ep.Snapshotter, false)
	if err != nil {
		return "", err
	}
	return ref, nil
}
