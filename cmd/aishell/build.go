package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
)

// HarnessFlags are the per-harness flags. `--with-claude` and `--claude-version=X` are rewritten
// into these before parsing (see harnessFlagArgs), so adding a harness to the catalog adds its flags.
type HarnessFlags struct {
	With           []string          `name:"with" placeholder:"HARNESS" help:"Add a harness to the set; also written ${with_flags}."`
	Without        []string          `name:"without" placeholder:"HARNESS" help:"Take a harness out of the set; also written --without-NAME."`
	HarnessVersion map[string]string `name:"harness-version" placeholder:"HARNESS=VERSION" help:"Pin a harness version (exact, or a dist-tag such as latest); also written ${version_flags}."`
}

// BuildOutput are the flags shared by the commands that may build.
type BuildOutput struct {
	Progress string `enum:"auto,plain,tty,quiet" default:"auto" help:"Build progress: auto (live display on a terminal, plain lines otherwise), plain, tty or quiet."`
	NoCache  bool   `help:"Run every build step again instead of reusing buildkitd's cache."`
}

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

// Run builds what is missing and records the harness set.
func (c *BuildCmd) Run(ctx context.Context, g *Globals) error {
	return runBuild(ctx, g, c.BuildOutput, func(cfg *config.File) build.Request {
		// A base or node image given once is kept for later builds.
		if c.BaseImage != "" {
			cfg.BaseImage = c.BaseImage
		}
		if c.NodeImage != "" {
			cfg.NodeImage = c.NodeImage
		}
		base, node := cfg.BaseImage, cfg.NodeImage
		return build.Request{Add: c.With, Remove: c.Without, Versions: c.HarnessVersion, Force: c.Force,
			Foundation: build.FoundationSpec{BaseImage: base, NodeImage: node}}
	}, c.Pull, c.Extension)
}

// Run resolves the configured versions again and builds only what changed.
func (c *UpdateCmd) Run(ctx context.Context, g *Globals) error {
	return runBuild(ctx, g, c.BuildOutput, func(*config.File) build.Request {
		return build.Request{Add: c.With, Remove: c.Without, Versions: c.HarnessVersion, Update: true}
	}, false, false)
}

func runBuild(ctx context.Context, g *Globals, out BuildOutput, request func(*config.File) build.Request, pull, extension bool) error {
	start := time.Now()
	ep := g.Endpoints()
	cfg, path, person, err := g.UserConfig()
	if err != nil {
		return err
	}
	req := request(&cfg)
	req.Registry = cfg.NPMRegistry
	if req.Update && len(cfg.Harnesses) == 0 && len(req.Add) == 0 && len(req.Versions) == 0 {
		return &errs.UsageError{Err: fmt.Errorf("no harnesses configured in %s", path),
			Hint: "choose some first: aishell build --with-claude (or --with-codex, --with-gemini, --with-opencode)"}
	}
	cc, err := daemon.Containerd(ctx, ep)
	if err != nil {
		return err
	}
	defer cc.Close()
	b := newBuilder(ep, cc, cfg, out, pull)
	defer b.Close()

	res, err := build.Apply(ctx, b, &cfg, req, harness.NewResolver(cfg.NPMRegistry))
	if err != nil {
		return err
	}
	if err := config.Save(path, cfg, person); err != nil {
		return err
	}
	report := buildReport(res, req.Update)
	fmt.Print(report)
	if !req.Update {
		// In a project with an extension, build brings it up to date too.
		if err := buildExtension(ctx, b, ep, person, path, extension); err != nil {
			return err
		}
	}
	if b.Solves() > 0 {
		fmt.Printf("done in %s (%d build(s)); harness set saved in %s\n", time.Since(start).Round(100*time.Millisecond), b.Solves(), path)
	}
	return nil
}

// newBuilder is the builder every command that may build uses; buildkitd is reached only
// when something must be built.
func newBuilder(ep config.Endpoints, cc *containerd.Client, cfg config.File, out BuildOutput, pull bool) *build.Builder {
	return &build.Builder{
		Images: cc, Snapshotter: ep.Snapshotter, Progress: out.Progress, Out: os.Stderr, Log: os.Stderr, Pull: pull, NoCache: out.NoCache,
		CABundle: cfg.CABundlePath(os.Getenv, fileExists),
		Connect:  func(ctx context.Context) (*bkclient.Client, error) { return connectBuildkit(ctx, ep, cc) },
	}
}

// connectBuildkit opens buildkitd and checks that it builds into the same containerd and namespace.
func connectBuildkit(ctx context.Context, ep config.Endpoints, cc *containerd.Client) (*bkclient.Client, error) {
	bk, err := daemon.Buildkit(ctx, ep)
	if err != nil {
		return nil, err
	}
	info, err := cc.Server(ctx)
	if err != nil {
		bk.Close()
		return nil, fmt.Errorf("containerd server info: %w", err)
	}
	if _, err := daemon.Worker(ctx, bk, ep, info.UUID); err != nil {
		bk.Close()
		return nil, err
	}
	return bk, nil
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

// harnessFlagArgs rewrites `--with-NAME` into `--with=NAME`, `--without-NAME` into
// `--without=NAME`, and `--NAME-version[=]V` into
// `--harness-version=NAME=V` for the catalog's harnesses, in the build and update commands only
// (a harness's own arguments after `aishell claude` are never touched).
func harnessFlagArgs(args []string) []string {
	cmd := ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case globalValueFlags[a]:
			i++ // skip the flag's value
		case !strings.HasPrefix(a, "-"):
			cmd = a
		}
		if cmd != "" {
			break
		}
	}
	if cmd != "build" && cmd != "update" {
		return args
	}
	known := map[string]bool{}
	for _, n := range harness.Names() {
		known[n] = true
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if n, ok := strings.CutPrefix(a, "--with-"); ok && known[n] {
			out = append(out, "--with="+n)
			continue
		}
		if n, ok := strings.CutPrefix(a, "--without-"); ok && known[n] {
			out = append(out, "--without="+n)
			continue
		}
		if rest, ok := strings.CutPrefix(a, "--"); ok {
			flag, val, hasVal := strings.Cut(rest, "=")
			if n, ok := strings.CutSuffix(flag, "-version"); ok && known[n] {
				if !hasVal && i+1 < len(args) {
					i++
					val, hasVal = args[i], true
				}
				if hasVal {
					out = append(out, "--harness-version="+n+"="+val)
					continue
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// globalValueFlags are the global flags that take their value as the next argument.
var globalValueFlags = map[string]bool{
	"-a": true, "--address": true, "-n": true, "--namespace": true, "--buildkit-host": true, "--snapshotter": true,
	"--tlsservername": true, "--tlscacert": true, "--tlscert": true, "--tlskey": true, "--tlsdir": true,
}

// harnessVars are the help-text variables naming the generated per-harness flags.
func harnessVars() map[string]string {
	var with, ver []string
	for _, n := range harness.Names() {
		with = append(with, "--with-"+n)
		ver = append(ver, "--"+n+"-version=V")
	}
	return map[string]string{
		"with_flags":    strings.Join(with, ", "),
		"version_flags": strings.Join(ver, ", "),
		"base_image":    build.DefaultBaseImage,
		"node_image":    build.DefaultNodeImage,
	}
}
