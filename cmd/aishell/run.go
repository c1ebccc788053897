package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/run"
	"github.com/aishell/aishell/snapshot"
	containerd "github.com/containerd/containerd/v2/client"
)

// Keys names the harnesses whose API keys a shell or exec gets: by default none, since what
// runs there is the project's own code.
type Keys struct {
	Keys []string `placeholder:"HARNESS" help:"Pass these harnesses' API keys and settings into the sandbox (claude, codex, gemini, opencode, pi, openspec, or all); none by default."`
}

// harnesses are the names asked for, with all expanded; an unknown name is a usage error.
func (k Keys) harnesses() ([]string, error) {
	var out []string
	for _, name := range k.Keys {
		if name == "all" {
			return harness.Names(), nil
		}
		if _, err := harness.Lookup(name); err != nil {
			return nil, errs.Usage(fmt.Errorf("--keys: %w", err), "")
		}
		out = append(out, name)
	}
	return out, nil
}

// SessionFlags name a run and let it outlive the terminal.
type SessionFlags struct {
	Name   string `placeholder:"NAME" help:"Name the session, unique among this project's running sessions (aishell attach NAME, aishell stop NAME); default: the command and a random suffix."`
	Detach bool   `help:"Start the session detached, in tmux inside the sandbox: it outlives this terminal and aishell attach NAME brings its screen back. The sandbox is removed when its process exits."`
	// Network is this run's network mode, over the config's.
	Network string `placeholder:"MODE" help:"This run's network: isolated (the default: the internet, not the host, LAN or metadata), allow-list (only network.allow, through aishell's proxy), none (loopback only) or host (the host's own network, all of it). Overrides network in the config."`
}

// check refuses a name containerd could not carry.
func (f SessionFlags) check() error {
	if f.Name == "" {
		return nil
	}
	return run.CheckName(f.Name)
}

// ShellCmd is `aishell` with no command: an interactive bash in the sandbox.
type ShellCmd struct {
	Keys
	SessionFlags
}

// Run starts bash.
func (c ShellCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	keys, err := c.harnesses()
	if err != nil {
		return err
	}
	return runSandbox(ctx, s, hub, sandboxJob{purpose: "shell", keys: keys, session: c.SessionFlags})
}

// ExecCmd runs one command, for scripts and CI: no terminal needed, stdin passed through.
type ExecCmd struct {
	Keys
	SessionFlags
	Command []string `arg:"" optional:"" passthrough:"partial" help:"The command and its arguments: everything from the first word that is not one of exec's flags (or after --) goes to it."`
}

// Run runs the command and exits with its exit code.
func (c ExecCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	args := dropDashes(c.Command)
	if len(args) == 0 {
		return errs.Usage(fmt.Errorf("exec needs a command"), "aishell exec -- CMD [ARGS...]")
	}
	keys, err := c.harnesses()
	if err != nil {
		return err
	}
	return runSandbox(ctx, s, hub, sandboxJob{purpose: "exec", keys: keys, args: args, session: c.SessionFlags})
}

// HarnessRunCmd is `aishell <harness> [args...]`: one per catalog entry, added dynamically.
type HarnessRunCmd struct {
	name string
	Args []string `arg:"" optional:"" passthrough:"" help:"Arguments for the harness, passed untouched."`
}

// Run starts the harness with its arguments.
func (c *HarnessRunCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	sf, args, err := peelSessionFlags(c.Args)
	if err != nil {
		return err
	}
	return runSandbox(ctx, s, hub, sandboxJob{purpose: c.name, harness: c.name, args: append([]string{c.name}, dropDashes(args)...), session: sf})
}

// peelSessionFlags takes aishell's --name, --detach and --network from the front of a harness's
// arguments (everything else, and all after --, is the harness's).
func peelSessionFlags(args []string) (SessionFlags, []string, error) {
	var f SessionFlags
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--detach":
			f.Detach, args = true, args[1:]
		case a == "--name":
			if len(args) < 2 {
				return f, nil, errs.Usage(fmt.Errorf("--name needs a value"), "e.g. aishell claude --name review")
			}
			f.Name, args = args[1], args[2:]
		case strings.HasPrefix(a, "--name="):
			if f.Name, args = strings.TrimPrefix(a, "--name="), args[1:]; f.Name == "" {
				return f, nil, errs.Usage(fmt.Errorf("--name needs a value"), "e.g. aishell claude --name review")
			}
		case a == "--network":
			if len(args) < 2 {
				return f, nil, errs.Usage(fmt.Errorf("--network needs a mode"), "e.g. aishell claude --network allow-list (none, allow-list, isolated, host)")
			}
			f.Network, args = args[1], args[2:]
		case strings.HasPrefix(a, "--network="):
			f.Network, args = strings.TrimPrefix(a, "--network="), args[1:]
		default:
			return f, args, f.check()
		}
	}
	return f, args, f.check()
}

// dropDashes strips the leading -- that separates aishell's flags from the command's.
func dropDashes(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// sandboxJob is what runSandbox runs: the purpose (shell, exec or the harness), the harness
// (empty for shell and exec), the harnesses whose keys pass too, and the process.
type sandboxJob struct {
	purpose, harness string
	keys, args       []string
	session          SessionFlags
}

// runSandbox runs the job's process (or bash) in the project's sandbox, on its extension (built
// first when missing or stale, once approved) or the foundation, and exits with its code.
func runSandbox(ctx context.Context, s *session, hub *run.SignalHub, job sandboxJob) error {
	if err := job.session.check(); err != nil {
		return err
	}
	keeper := run.KeeperFromEnv()
	if job.session.Detach && keeper == nil {
		return startDetached(job, hub)
	}
	ep := s.Endpoints()
	s.ConnectEarly(ctx) // while the config and the project are read
	uc, err := s.User()
	if err != nil {
		return err
	}
	run.Mark("user")
	root, cwd, err := project.Current(s.where(uc))
	if err != nil {
		return err
	}
	if err := checkSensitive(s, uc, root); err != nil {
		return err
	}
	run.Mark("sensitive")
	identity := run.EarlyIdentity(root, uc.Person) // git runs while containerd is asked
	// --network is the person's setting for this run: the project may only be stricter than it.
	user := *uc
	if job.session.Network != "" {
		user.File.Network.Mode = job.session.Network
	}
	st, err := settings(&user, root)
	if err != nil {
		return err
	}
	printNotes(st)
	run.Mark("settings")
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	run.Mark("connect")
	ext, err := approvedExtension(s, uc, root)
	if err != nil {
		return err
	}
	baseNotice(uc, ext)
	b, err := newBuilder(s, cc, uc, build.Options{Progress: "auto"})
	if err != nil {
		return err
	}
	defer b.Close()
	// The images the run may use are read while its reaper starts and its lease is made (only
	// their chain IDs, by digest, are kept: what the run uses is looked up again once it holds
	// them).
	uses := b.MayUse(st.File, ext)
	warmed := snapshot.Warm(ctx, cc, uses)
	// From here on the run holds what it may use, so no gc removes it meanwhile.
	rt := run.DetectRuntime(s.host)
	claim, err := run.BeginRun(ctx, cc, run.Begin{
		Project: root, Purpose: job.purpose, Name: job.session.Name, Uses: uses, Owner: uc.Person.Name,
		Address: ep.ContainerdAddress, Namespace: ep.Namespace, Snapshotter: ep.Snapshotter, Runtime: rt, Keeper: keeper, Warn: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer claim.Close(ctx)
	warmed()
	image, err := runImage(ctx, s, b, uc, st.File, ext, job.harness)
	if err != nil {
		return err
	}
	b.Close() // buildkitd, if a build needed it, is let go before the container starts
	run.Mark("image")
	// After the image is decided and what was missing rebuilt (by this aishell or another of the
	// person's): the harnesses, the protected config and the git guard are read as they are now.
	opts, err := run.Prepare(ctx, cc, run.Request{
		Purpose: job.purpose, Harness: job.harness, Keys: job.keys, Args: job.args, Project: root, Cwd: cwd,
		TTY: run.IsTerminal(), Person: uc.Person, Runtime: rt,
		Image: image, Snapshotter: ep.Snapshotter, Config: st.File, ConfigPath: uc.Path, Warn: os.Stderr,
		Name: job.session.Name, Keeper: keeper, Network: job.session.Network, Identity: identity,
	})
	if err != nil {
		return err
	}
	run.Mark("prepare")
	opts.Stdin, opts.Stdout, opts.Stderr = os.Stdin, os.Stdout, os.Stderr
	opts.Signals = hub.Forward()
	if err := ctx.Err(); err != nil {
		return err // a signal came while the run was being prepared
	}
	code, err := run.Run(ctx, cc, claim, opts)
	if keeper != nil && keeper.Running() {
		keeper.End(code, err)
		return errs.Exit(code)
	}
	if err != nil {
		return err
	}
	return errs.Exit(code)
}

// startDetached starts the job again as the keeper of a detached session, and says how to
// reach it once it runs.
func startDetached(job sandboxJob, hub *run.SignalHub) error {
	started, err := run.Detach(hub.Forward())
	if err != nil {
		return err
	}
	fmt.Printf("aishell: session %s runs detached (%s)\n", started.Name, job.purpose)
	fmt.Printf("  attach: aishell attach %s    stop: aishell stop %s    its log: %s\n", started.Name, started.Name, started.Log)
	return nil
}

// runImage is the project's extension ext (approved, and built first when missing or stale),
// or the person's base (their user base, or the foundation); the harnesses cfg configures whose
// snapshot is missing are rebuilt first.
func runImage(ctx context.Context, s *session, b *build.Builder, uc *userConfig, cfg config.File, ext *build.Extension, running string) (string, error) {
	// Whether the foundation is an older aishell's is asked while the harnesses are looked at;
	// its notice follows what a rebuild of a missing harness says.
	notice := make(chan string, 1)
	go func() { notice <- olderFoundation(ctx, b, uc) }()
	if !s.g.NoRebuild {
		if _, err := b.RestoreHarnesses(ctx, cfg, running); err != nil {
			return "", err
		}
	}
	if msg := <-notice; msg != "" {
		fmt.Fprintln(os.Stderr, "aishell: notice: "+msg)
	}
	return b.RunImage(ctx, ext, s.g.NoRebuild)
}

// newBuilder is the Builder of a command, with the person's user base loaded (the ancestor's
// ~/.aishell/Dockerfile, when only that exists, is named once with the new place).
func newBuilder(s *session, cc *containerd.Client, uc *userConfig, o build.Options) (*build.Builder, error) {
	u, legacy, err := build.LoadUserBase(uc.Path, uc.Person.Home)
	if err != nil {
		return nil, err
	}
	if legacy && config.NoticeOnce(uc.Path, uc.Person, "legacy-user-base") {
		fmt.Fprintf(os.Stderr, "aishell: notice: using %s as your base; its place is now %s (shown once)\n",
			u.Path, filepath.Join(filepath.Dir(uc.Path), build.UserBaseFile))
	}
	b := build.New(cc, s.Endpoints(), uc.File, o)
	b.UserBase = u
	b.NPMCacheID = func() string { return config.NPMCacheID(uc.Path, uc.Person) }
	b.Runtime, b.Person = run.DetectRuntime(s.host), uc.Person.Name
	b.Keeper = snapshot.KeeperOf(config.View(), uc.Path)
	b.Lock = func(ctx context.Context) (func(), error) {
		return config.LockBuilds(ctx, uc.Path, uc.Person, func(pid string) {
			fmt.Fprintf(os.Stderr, "aishell: waiting for another aishell of yours (pid %s) to finish building\n", pid)
		})
	}
	return b, nil
}

// olderFoundation is the one-line notice that the foundation is older than this aishell's, or "".
func olderFoundation(ctx context.Context, b *build.Builder, uc *userConfig) string {
	msg, err := b.OlderFoundation(ctx, build.FoundationSpec{BaseImage: uc.BaseImage, NodeImage: uc.NodeImage})
	if err != nil {
		return ""
	}
	return msg
}
