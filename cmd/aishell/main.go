// Command aishell runs AI coding agents in ephemeral containers on containerd.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/harness"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Globals are the flags every command accepts.
type Globals struct {
	Address      string `short:"a" placeholder:"SOCKET" help:"containerd socket (env CONTAINERD_ADDRESS; default /run/containerd/containerd.sock, rootless $XDG_RUNTIME_DIR/containerd/containerd.sock)."`
	Namespace    string `short:"n" placeholder:"NS" help:"containerd namespace (env CONTAINERD_NAMESPACE; default aishell)."`
	BuildkitHost string `placeholder:"ADDR" help:"buildkitd address (env BUILDKIT_HOST; default unix:///run/buildkit/buildkitd.sock, rootless under $XDG_RUNTIME_DIR)."`
	Snapshotter  string `placeholder:"NAME" help:"containerd snapshotter (env CONTAINERD_SNAPSHOTTER; default overlayfs)."`
	NoRebuild    bool   `help:"Run on the project's extension image as it is, even if stale; never build it."`
	RunAs        string `placeholder:"UID[:GID]" hidden:"" help:"Run containers as this uid/gid instead of the invoking user's (for root acting on a user's behalf, tests)."`
}

// Endpoints resolves flags, environment and defaults.
func (g *Globals) Endpoints() config.Endpoints {
	return config.Resolve(config.Overrides{
		ContainerdAddress: g.Address, Namespace: g.Namespace, BuildkitHost: g.BuildkitHost, Snapshotter: g.Snapshotter,
	}, config.Host{Getenv: os.Getenv, EUID: os.Geteuid(), Exists: fileExists})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// CLI is the whole command line.
type CLI struct {
	Globals

	Shell   ShellCmd   `cmd:"" default:"1" help:"Interactive bash in the project's sandbox (the default command)."`
	Exec    ExecCmd    `cmd:"" passthrough:"" help:"Run a command in the sandbox: aishell exec [--] CMD [ARGS...]. No terminal needed; stdin is passed through; exits with the command's code."`
	Build   BuildCmd   `cmd:"" help:"Build the foundation image and the chosen harness snapshots (${with_flags})."`
	Update  UpdateCmd  `cmd:"" help:"Resolve harness versions again and build only the snapshots that changed; nothing else is rebuilt."`
	Harness HarnessCmd `cmd:"" help:"Harness snapshots."`
	Ext     ExtCmd     `cmd:"" help:"Project extensions (.aishell/Dockerfile)."`
	Gc      GcCmd      `cmd:"" help:"Remove harness and foundation images that no config and no container uses, and extensions of projects that are gone."`
	Doctor  DoctorCmd  `cmd:"" help:"Check containerd, buildkitd and the base images, and say how to fix what is missing."`
	Version VersionCmd `cmd:"" help:"Print aishell's version."`
}

func main() {
	var cli CLI
	ctx, cancel := context.WithCancel(context.Background())
	hub := newSignalHub(cancel)
	options := []kong.Option{
		kong.Name("aishell"),
		kong.Description("Run AI coding agents (Claude Code, Codex, Gemini CLI, OpenCode) in ephemeral containers on containerd, built with buildkitd. No Docker engine needed."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars(harnessVars()),
		kong.Bind(hub),
	}
	for _, h := range harness.Catalog {
		options = append(options, kong.DynamicCommand(h.Name, fmt.Sprintf("Run %s (%s) in the sandbox; arguments go to it untouched.", h.Name, h.Package),
			"Harnesses", &HarnessRunCmd{name: h.Name}, `cmd:""`, `passthrough:""`))
	}
	parser, err := kong.New(&cli, options...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aishell:", err)
		os.Exit(2)
	}
	kctx, err := parser.Parse(harnessFlagArgs(os.Args[1:]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "aishell:", err)
		fmt.Fprintln(os.Stderr, "hint: aishell --help")
		os.Exit(2)
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&cli.Globals)
	cancel()
	if s := hub.Caught(); s != nil && err != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("interrupted by %s; nothing was left behind", s)
	}
	os.Exit(report(err))
}

// exitError carries an exit code chosen by a command (a container's, or a usage error's).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// report prints err as one line plus a hint and returns the process exit code.
func report(err error) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "aishell:", err)
	var h daemon.Hinted
	if errors.As(err, &h) && h.ErrorHint() != "" {
		fmt.Fprintln(os.Stderr, "hint:", h.ErrorHint())
	}
	var ue *config.UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
