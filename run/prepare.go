package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/protect"
)

// Request is what the user asked to run.
type Request struct {
	Purpose     string   // shell, exec, or the harness to run
	Harness     string   // the harness to run; empty for shell and exec
	Keys        []string // harnesses whose API keys and settings pass through, besides Harness's own
	Project     string   // the project root (project.Current), mounted read-write
	Cwd         string   // the working directory inside the project
	Args        []string
	TTY         bool
	Person      config.Person // who typed the command: their uid (or 0), home, config, git identity
	Runtime     Runtime
	Image       string // the foundation, or the project's extension
	Snapshotter string
	Config      config.File
	ConfigPath  string    // where Config was read from, for hints and once-only notices
	Warn        io.Writer // for notices such as a configured harness that is not built
	Name        string    // the session name (--name), or "" for one made up
	Keeper      *Keeper   // the keeper's side of a detached run (KeeperFromEnv), or nil
	Network     string    // the network mode for this run (--network), over the config's
	// Identity is the person's git identity for the project, started early (EarlyIdentity); nil:
	// Prepare asks git itself.
	Identity func() []string
}

// hostCABundle is where the host's CA certificates appear inside, for Node via NODE_EXTRA_CA_CERTS.
const hostCABundle = "/etc/ssl/certs/aishell-host-ca.crt"

// Prepare checks that what the run needs is there and turns the request into Options: the
// rootfs image, the configured harnesses' snapshots, the invoking user, the project, the
// environment that passes through and the harness config paths that exist on the host, with
// what of them is protected from the container.
func Prepare(ctx context.Context, c *containerd.Client, req Request) (Options, error) {
	var o Options
	if _, err := c.ImageService().Get(ctx, req.Image); err != nil {
		if errdefs.IsNotFound(err) {
			first := "aishell build --with-claude"
			if req.Harness != "" {
				first = "aishell build --with-" + req.Harness
			}
			return o, errs.WithHint(errors.New("no foundation image yet"), "run `"+first+"` first")
		}
		return o, fmt.Errorf("look up %s: %w", req.Image, err)
	}
	// git runs while containerd is asked about the harnesses (a few ms each).
	identity := req.Identity
	if identity == nil {
		identity = EarlyIdentity(req.Project, req.Person)
	}
	hs, err := configuredHarnesses(ctx, c, req)
	if err != nil {
		return o, err
	}
	proj := req.Project
	o = Options{
		Snapshotter: req.Snapshotter, Image: req.Image, Harnesses: hs, Args: req.Args, Purpose: req.Purpose,
		Project: proj, Cwd: req.Cwd, User: ContainerUser(req.Person), TTY: req.TTY && req.Keeper == nil, Runtime: req.Runtime,
		Name: req.Name, Owner: req.Person.Name, Keeper: req.Keeper,
	}
	if req.Harness != "" {
		o.Version = req.Config.Harnesses[req.Harness].Resolved
	}
	if o.Network, err = networkPolicy(req); err != nil {
		return o, err
	}
	if o.Network.Mode == network.Host {
		from := "network: host in the config"
		if req.Network != "" {
			from = "--network host"
		}
		fmt.Fprintf(req.Warn, "aishell: note: %s: the sandbox shares the host's network (services on its localhost, the LAN, cloud metadata, /proc/net)\n", from)
	}
	if o.Limits, o.User.HomeSize, err = limits(req); err != nil {
		return o, err
	}
	guard, err := guardGit(proj, req.Person)
	if err != nil {
		return o, err
	}
	o.ReadOnly, o.GitDirs, o.Worktree, o.WorktreeFiles = guard.ReadOnly, guard.Dirs, guard.Worktree, guard.WorktreeFiles
	o.Env = passEnv(req, os.LookupEnv)
	o.Env = append(o.Env, identity()...)
	if o.Network.Mode == network.AllowList {
		o.Env = append(o.Env, network.ProxyEnv()...)
	}
	if err := applySettings(&o, req, os.LookupEnv); err != nil {
		return o, err
	}
	entries, err := applyDefaults(&o, req, hs) // see defaults.go
	if err != nil {
		return o, err
	}
	if o.Protect, err = protect.Prepare(entries, req.Person, proj); err != nil {
		return o, err
	}
	o.Binds = o.Protect.Binds
	if ca := req.Config.HostCABundle(); ca != "" {
		o.CABundle = ca
		o.Env = append(o.Env, "NODE_EXTRA_CA_CERTS="+hostCABundle)
	}
	return o, nil
}

// configuredHarnesses are the harnesses of the user's config whose images are built. The
// harness asked to run must be among them; any other that is missing is only warned about.
func configuredHarnesses(ctx context.Context, c *containerd.Client, req Request) ([]Harness, error) {
	if req.Harness != "" {
		if _, err := harness.Lookup(req.Harness); err != nil {
			return nil, errs.Usage(err, "")
		}
		if _, ok := req.Config.Harnesses[req.Harness]; !ok {
			return nil, errs.WithHint(fmt.Errorf("%s is not built", req.Harness), "run `aishell build --with-"+req.Harness+"`")
		}
	}
	var hs []Harness
	for _, name := range req.Config.HarnessNames() {
		h, err := harness.Lookup(name)
		if err != nil {
			fmt.Fprintf(req.Warn, "aishell: ignoring %s in the config: %v\n", name, err)
			continue
		}
		ref := h.ChoiceRef(req.Config.Harnesses[name]) // with the packages it was built with (defaults.go)
		if _, err := c.ImageService().Get(ctx, ref); err != nil {
			if name == req.Harness {
				return nil, errs.WithHint(fmt.Errorf("%s %s is not built (%s missing)", name, req.Config.Harnesses[name].Resolved, ref),
					"run `aishell build --with-"+name+"`")
			}
			fmt.Fprintf(req.Warn, "aishell: %s is configured but %s is missing; run `aishell build` to restore it\n", name, ref)
			continue
		}
		hs = append(hs, Harness{Harness: h, Ref: ref})
	}
	return hs, nil
}

// passEnv is the environment a run gets from the host, when set: TERM, LANG, the running
// harness's keys and settings (and those of the harnesses asked for with --keys), and what the
// user's pass_env names; a TERM for a TTY; and IS_SANDBOX=1, Claude Code's documented switch for
// running as uid 0 in a sandbox (root and rootless mode), where it otherwise refuses some flags.
// A shell or exec gets no harness's keys unless asked: the code it runs is the project's.
func passEnv(req Request, lookup func(string) (string, bool)) []string {
	env := []string{}
	keys := []string{"TERM", "LANG"}
	for _, name := range append([]string{req.Harness}, req.Keys...) {
		if h, err := harness.Lookup(name); err == nil {
			keys = append(keys, h.Env...)
		}
	}
	seen := map[string]bool{}
	for _, k := range append(keys, req.Config.PassEnv...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := lookup("TERM"); !ok && req.TTY {
		env = append(env, "TERM=xterm-256color")
	}
	return append(env, "IS_SANDBOX=1")
}

// catalogEntries are the harnesses' catalog entries.
func catalogEntries(hs []Harness) []harness.Harness {
	out := make([]harness.Harness, len(hs))
	for i, h := range hs {
		out[i] = h.Harness
	}
	return out
}

// limits are the user's configured limits, and the size of the HOME tmpfs, resolved against
// the host: memory defaults to half
// of it, and NOFILE is capped where runc could not set it (the kernel's nr_open; in rootless
// mode, the hard limit aishell itself has). Without a cgroup of its own (rootless containerd on
// cgroup v1 or without delegation) a run has no pids or memory limit, which is said once.
func limits(req Request) (oci.Limits, int64, error) {
	total := hostMemory()
	v, err := req.Config.Limits.Values(total)
	if err != nil {
		return oci.Limits{}, 0, errs.Usage(fmt.Errorf("config: %w", err), "fix the limits section of "+req.ConfigPath)
	}
	l := oci.Limits{Pids: v.Pids, Memory: v.Memory, NoFile: v.NoFile}
	if max := nofileMax(req.Runtime.Rootless); l.NoFile > max {
		l.NoFile = max
	}
	if !req.Runtime.Cgroups() && (l.Pids > 0 || l.Memory > 0) && config.NoticeOnce(req.ConfigPath, req.Person, "limits-without-cgroup") {
		fmt.Fprintln(req.Warn, "aishell: note: this rootless containerd gives containers no cgroup, so runs have no pids or memory limit (cgroup v2 with delegation to the user's systemd gives them one); shown once")
	}
	return l, v.HomeSize, nil
}

// nofileMax is the highest NOFILE runc can give a container: the kernel's nr_open, or, when
// aishell cannot raise a hard limit itself (rootless, or root without CAP_SYS_RESOURCE, as in
// some CI containers), the hard limit it has, which runc started the same way has too.
func nofileMax(rootless bool) uint64 {
	max := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			max = n
		}
	}
	var own unix.Rlimit
	if (rootless || !canRaiseLimits()) && unix.Getrlimit(unix.RLIMIT_NOFILE, &own) == nil && own.Max < max {
		max = own.Max
	}
	return max
}

// canRaiseLimits reports whether aishell has CAP_SYS_RESOURCE, which raising a hard limit takes.
func canRaiseLimits() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<24) != 0
		}
	}
	return false
}
