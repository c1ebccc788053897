package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/run"
	containerd "github.com/containerd/containerd/v2/client"
)

// ShellCmd is `aishell` with no command: an interactive bash in the sandbox.
type ShellCmd struct{}

// Run starts bash.
func (ShellCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	return runSandbox(ctx, s, hub, "shell", "", nil)
}

// ExecCmd runs one command, for scripts and CI: no terminal needed, stdin passed through.
type ExecCmd struct {
	Command []string `arg:"" optional:"" passthrough:"" help:"The command and its arguments (a leading -- is dropped)."`
}

// Run runs the command and exits with its exit code.
func (c ExecCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	args := dropDashes(c.Command)
	if len(args) == 0 {
		return errs.Usage(fmt.Errorf("exec needs a command"), "aishell exec -- CMD [ARGS...]")
	}
	return runSandbox(ctx, s, hub, "exec", "", args)
}

// HarnessRunCmd is `aishell <harness> [args...]`: one per catalog entry, added dynamically.
type HarnessRunCmd struct {
	name string
	Args []string `arg:"" optional:"" passthrough:"" help:"Arguments for the harness, passed untouched."`
}

// Run starts the harness with its arguments.
func (c *HarnessRunCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	return runSandbox(ctx, s, hub, c.name, c.name, append([]string{c.name}, dropDashes(c.Args)...))
}

// dropDashes strips the leading -- that separates aishell's flags from the command's.
func dropDashes(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// runSandbox runs args (or bash) in the project's sandbox, on its extension (built first when
// missing or stale) or the foundation, and exits with the process's code.
func runSandbox(ctx context.Context, s *session, hub *run.SignalHub, purpose, harnessName string, args []string) error {
	ep := s.Endpoints()
	uc, err := s.User()
	if err != nil {
		return err
	}
	if err := checkSensitive(s, uc); err != nil {
		return err
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	image, err := runImage(ctx, s, cc, uc)
	if err != nil {
		return err
	}
	opts, err := run.Prepare(ctx, cc, run.Request{
		Purpose: purpose, Harness: harnessName, Args: args, TTY: run.IsTerminal(), Person: uc.Person, Runtime: run.DetectRuntime(s.host),
		Image: image, Snapshotter: ep.Snapshotter, Config: uc.File, Warn: os.Stderr,
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

// runImage is the project's extension (built first when missing or stale), or the foundation;
// buildkitd, if a build needed it, is let go before the container starts.
func runImage(ctx context.Context, s *session, cc *containerd.Client, uc *userConfig) (string, error) {
	project, ext, err := build.ProjectExtension()
	if project == "" {
		return build.FoundationImage, nil // outside a project: Prepare says so
	}
	if err != nil || ext == nil {
		return build.FoundationImage, err
	}
	baseNotice(uc, ext)
	b := build.New(cc, s.Endpoints(), uc.File, build.Options{Progress: "auto"})
	defer b.Close()
	return b.RunImage(ctx, ext, s.g.NoRebuild)
}
