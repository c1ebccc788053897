package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/run"
)

// ShellCmd is `aishell` with no command: an interactive bash in the sandbox.
type ShellCmd struct{}

// Run starts bash.
func (ShellCmd) Run(ctx context.Context, g *Globals, sigs signals) error {
	return runContainer(ctx, g, sigs, "shell", "", nil, run.IsTerminal())
}

// ExecCmd runs one command, for scripts and CI: no terminal needed, stdin passed through.
type ExecCmd struct {
	Command []string `arg:"" optional:"" passthrough:"" help:"The command and its arguments (a leading -- is dropped)."`
}

// Run runs the command and exits with its exit code.
func (c ExecCmd) Run(ctx context.Context, g *Globals, sigs signals) error {
	args := c.Command
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return &config.UsageError{Err: fmt.Errorf("exec needs a command"), Hint: "aishell exec -- CMD [ARGS...]"}
	}
	return runContainer(ctx, g, sigs, "exec", "", args, run.IsTerminal())
}

// HarnessRunCmd is `aishell <harness> [args...]`: one per catalog entry, added dynamically.
type HarnessRunCmd struct {
	name string
	Args []string `arg:"" optional:"" passthrough:"" help:"Arguments for the harness, passed untouched."`
}

// Run starts the harness with its arguments.
func (c *HarnessRunCmd) Run(ctx context.Context, g *Globals, sigs signals) error {
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	return runContainer(ctx, g, sigs, c.name, c.name, append([]string{c.name}, args...), run.IsTerminal())
}

func runContainer(ctx context.Context, g *Globals, sigs signals, purpose, harnessName string, args []string, tty bool) error {
	ep := g.Endpoints()
	path, err := config.UserPath()
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	cc, err := daemon.Containerd(ctx, ep)
	if err != nil {
		return err
	}
	defer cc.Close()
	opts, err := run.Prepare(ctx, cc, run.Request{
		Purpose: purpose, Harness: harnessName, Args: args, TTY: tty, RunAs: g.RunAs,
		Image: build.FoundationImage, Snapshotter: ep.Snapshotter, Config: cfg, Warn: os.Stderr,
	})
	if err != nil {
		return err
	}
	opts.Stdin, opts.Stdout, opts.Stderr, opts.Signals = os.Stdin, os.Stdout, os.Stderr, sigs
	code, err := run.Run(ctx, cc, opts)
	if err != nil {
		return err
	}
	return exitError{code}
}
