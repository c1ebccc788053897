// Command aishell runs AI coding agents in ephemeral containers on containerd.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/rootless"
	"github.com/aishell/aishell/run"
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
	Trust        bool   `help:"Approve the project's .aishell/Dockerfile for this command only (aishell ext trust records an approval)."`
	AllowHome    bool   `help:"Accept your home directory, or a directory above it, as the project (refused by default)."`
	Unsafe       bool   `help:"Run even when the project holds files with secrets of high severity (the check before a run lists them), without asking."`

	TLSServerName string `name:"tlsservername" placeholder:"NAME" help:"Name to verify a tcp:// buildkitd's certificate against (default: the address's host)."`
	TLSCACert     string `name:"tlscacert" placeholder:"FILE" type:"path" help:"CA certificate that signed a tcp:// buildkitd's certificate."`
	TLSCert       string `name:"tlscert" placeholder:"FILE" type:"path" help:"Client certificate for a tcp:// buildkitd."`
	TLSKey        string `name:"tlskey" placeholder:"FILE" type:"path" help:"Client key for a tcp:// buildkitd."`
	TLSDir        string `name:"tlsdir" placeholder:"DIR" type:"path" help:"Directory with ca.pem, cert.pem and key.pem (or ca.crt, tls.crt, tls.key) for a tcp:// buildkitd."`
}

// overrides are the endpoint flags as given.
func (g *Globals) overrides() config.Overrides {
	return config.Overrides{
		ContainerdAddress: g.Address, Namespace: g.Namespace, BuildkitHost: g.BuildkitHost, Snapshotter: g.Snapshotter,
		BuildkitTLS: config.TLS{ServerName: g.TLSServerName, CACert: g.TLSCACert, Cert: g.TLSCert, Key: g.TLSKey, Dir: g.TLSDir},
	}
}

// CLI is the whole command line.
type CLI struct {
	Globals

	Shell   ShellCmd   `cmd:"" default:"1" help:"Interactive bash in the project's sandbox (the default command)."`
	Exec    ExecCmd    `cmd:"" help:"Run a command in the sandbox: aishell exec [--] CMD [ARGS...]. No terminal needed; stdin is passed through; exits with the command's code."`
	Build   BuildCmd   `cmd:"" help:"Build the foundation image and the chosen harness snapshots (--with-claude, --with-codex, --with-gemini, --with-opencode, --with-pi, --with-openspec)."`
	Update  UpdateCmd  `cmd:"" help:"Resolve harness versions again and build only the snapshots that changed; nothing else is rebuilt."`
	Harness HarnessCmd `cmd:"" help:"Harness snapshots."`
	Ext     ExtCmd     `cmd:"" help:"Project extensions (.aishell/Dockerfile)."`
	Ps      PsCmd      `cmd:"" help:"List running sessions: this project's (--all: every project's), with name, harness, uptime, state and owner."`
	Attach  AttachCmd  `cmd:"" help:"Run a process in a running session: aishell attach NAME [-- CMD...]; a detached session's screen by default, else bash."`
	Stop    StopCmd    `cmd:"" help:"Stop sessions (SIGTERM, SIGKILL after --time) and remove what they hold, even when their aishell is gone."`
	Gc      GcCmd      `cmd:"" help:"Remove harness and foundation images that no config and no container uses, and extensions of projects that are gone."`
	Config  ConfigCmd  `cmd:"" help:"Show the merged config of this project, and trust or untrust the project's own."`
	Doctor  DoctorCmd  `cmd:"" help:"Check containerd, buildkitd and the base images, and say how to fix what is missing."`
	Scan    ScanCmd    `cmd:"" help:"Look for secrets (gitleaks' rules) in the project's files and its whole git history; exits 1 when any are found."`
	Version VersionCmd `cmd:"" help:"Print aishell's version."`
}

// newParser builds the command line: the static commands, one `aishell <harness>` command and
// the --with-X, --without-X and --X-version flags of build and update for each catalog entry.
func newParser(cli *CLI) (*kong.Kong, error) {
	cli.Build.HarnessFlags = newHarnessFlags()
	cli.Update.HarnessFlags = newHarnessFlags()
	options := []kong.Option{
		kong.Name("aishell"),
		kong.Description("Run AI coding agents (Claude Code, Codex, Gemini CLI, OpenCode) in ephemeral containers on containerd, built with buildkitd. No Docker engine needed."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	}
	for _, h := range harness.Catalog {
		options = append(options, kong.DynamicCommand(h.Name, fmt.Sprintf("Run %s (%s) in the sandbox; arguments go to it untouched.", h.Name, h.Package),
			"Harnesses", &HarnessRunCmd{name: h.Name}, `cmd:""`, `passthrough:""`))
	}
	return kong.New(cli, options...)
}

func main() {
	if os.Getenv("GOGC") == "" {
		// aishell's live heap is a few MB: collecting at 4 MB costs a short run two or three
		// collections (7 ms of CPU on 2 cores) for nothing; at 400% the heap stays under 20 MB.
		debug.SetGCPercent(400)
	}
	if run.IsReaper() { // a run's reaper (run/reaper.go), started by aishell itself
		os.Exit(run.Reaper())
	}
	var cli CLI
	parser, err := newParser(&cli)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aishell:", err)
		os.Exit(errs.CodeUsage)
	}
	kctx, err := parser.Parse(os.Args[1:])
	run.Mark("parse")
	if err != nil {
		// The command line did not parse, so its flags are unknown: --json is looked for in it.
		report := errs.Report
		if argsWantJSON(os.Args[1:]) {
			report = errs.ReportJSON
		}
		os.Exit(report(os.Stderr, errs.Usage(err, "aishell --help")))
	}
	report := errs.Report
	if wantsJSON(kctx) {
		report = errs.ReportJSON
	}
	// No containerd beside it (a Mac): aishell runs itself in the Lima or colima VM.
	if code, forwarded := forwardToVM(kctx.Command(), report); forwarded {
		os.Exit(code)
	}
	s := newSession(&cli.Globals)
	// A user's rootless containerd is reached from inside rootlesskit's namespaces: aishell
	// re-executes itself there (and does not come back) before anything else happens.
	if err := enterRootless(kctx.Command(), s.host); err != nil {
		os.Exit(report(os.Stderr, err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	hub := run.NewSignalHub(cancel)
	kctx.Bind(hub, s)
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run()
	s.Close()
	cancel()
	if sig := hub.Caught(); sig != nil && err != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("interrupted by %s; nothing was left behind", sig)
	}
	os.Exit(report(os.Stderr, err))
}

// enterRootless re-executes aishell inside rootlesskit's namespaces when a user who is not
// root runs a command that needs containerd. Root (also through sudo) and aishell already
// inside have nothing to enter, nor version, scan and config, which need no daemon. Without a rootless containerd the error names both ways to get
// one; doctor goes on outside and reports what is missing.
func enterRootless(command string, h config.Host) error {
	if !h.Rootless || rootless.InChild() || command == "version" || strings.HasPrefix(command, "scan") || strings.HasPrefix(command, "config") {
		return nil
	}
	kit, err := rootless.Find(h.Getenv, h.RuntimeDir())
	if err != nil {
		if command == "doctor" {
			return nil
		}
		return err
	}
	return rootless.Enter(kit, os.Args[1:])
}
