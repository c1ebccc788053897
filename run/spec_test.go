package run

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ctroci "github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/protect"
)

// testRun is a run of claude in /src/app as uid 1000, with the claude harness viewed.
func testRun(t *testing.T) (Options, parts) {
	t.Helper()
	claude, err := harness.Lookup("claude")
	if err != nil {
		t.Fatal(err)
	}
	h := Harness{Harness: claude, Ref: "docker.io/aishell/harness-claude:1.0.0"}
	o := Options{
		Snapshotter: "overlayfs", Image: "docker.io/library/aishell:foundation", Harnesses: []Harness{h},
		Args: []string{"claude", "--help"}, Purpose: "claude", Project: "/src/app", Cwd: "/src/app/sub",
		Env: []string{"ANTHROPIC_API_KEY=k"}, Binds: []string{"/home/alice/.claude"}, CABundle: "/etc/ca.pem",
	}
	p := parts{
		id: "aishell-app-claude-abc123", tini: "/usr/bin/tini",
		user:   oci.User{UID: 1000, GID: 1000, Name: "alice", Group: "alice", Home: "/home/alice", PasswdFile: "/tmp/p", GroupFile: "/tmp/g"},
		resolv: "/tmp/resolv.conf", hosts: "/tmp/hosts",
		views: []view{{Harness: h, key: "aishell/harness-view/sha256:7", mounts: []mount.Mount{{Type: "bind", Source: "/snap/7/fs", Options: []string{"ro", "rbind"}}}}},
	}
	return o, p
}

func generate(t *testing.T, opts []ctroci.SpecOpts) *specs.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "aishell")
	s, err := ctroci.GenerateSpec(ctx, nil, &containers.Container{ID: "t"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func envOf(s *specs.Spec, key string) string {
	for _, e := range s.Process.Env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestSpecOpts(t *testing.T) {
	o, p := testRun(t)
	s := generate(t, specOpts(o, p))
	if want := []string{"/usr/bin/tini", "-s", "-g", "--", "claude", "--help"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args %q, want %q", s.Process.Args, want)
	}
	if s.Process.Cwd != "/src/app/sub" || s.Process.User.UID != 1000 || s.Process.Terminal {
		t.Errorf("cwd %q, user %+v, terminal %v", s.Process.Cwd, s.Process.User, s.Process.Terminal)
	}
	for dst, want := range map[string]string{"/src/app": "rw", "/home/alice/.claude": "rw", hostCABundle: "ro", "/opt/harness/claude": "ro"} {
		m := mountAt(s, dst)
		if m == nil || !slices.Contains(m.Options, want) {
			t.Errorf("mount at %s: %+v, want %s", dst, m, want)
		}
	}
	if m := mountAt(s, "/opt/harness/claude"); m == nil || m.Source != "/snap/7/fs" {
		t.Errorf("harness view mount %+v", m)
	}
	if m := mountAt(s, "/home/alice"); m == nil || m.Type != "tmpfs" {
		t.Errorf("HOME is not a tmpfs: %+v", m)
	}
	if path := envOf(s, "PATH"); !strings.HasPrefix(path, "/opt/harness/claude/bin:") {
		t.Errorf("PATH %q", path)
	}
	if envOf(s, "ANTHROPIC_API_KEY") != "k" || envOf(s, "HOME") != "/home/alice" {
		t.Errorf("env %q", s.Process.Env)
	}
	own := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			own = ns.Path == ""
		}
	}
	if !own || mountAt(s, "/etc/resolv.conf") == nil || mountAt(s, "/etc/hosts") == nil {
		t.Errorf("the run has no network namespace of its own with its resolv.conf and hosts: %+v", s.Linux.Namespaces)
	}
	o.Network.Mode = network.Host
	for _, ns := range generate(t, specOpts(o, p)).Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Errorf("network host: own network namespace %+v", ns)
		}
	}
	if !s.Process.NoNewPrivileges || slices.Contains(s.Process.Capabilities.Bounding, "CAP_NET_RAW") || s.Linux.Seccomp == nil {
		t.Errorf("security defaults missing: nnp %v, caps %v, seccomp %v", s.Process.NoNewPrivileges, s.Process.Capabilities.Bounding, s.Linux.Seccomp != nil)
	}
	if s.Linux.CgroupsPath == "" {
		t.Error("a root run lost its cgroup")
	}
}

func TestSpecOptsProtectionsAndLimits(t *testing.T) {
	o, p := testRun(t)
	o.TTY = true
	o.Env = append(o.Env, "TERM=screen-256color")
	o.ReadOnly = []string{"/src/app/.git/config", "/src/app/.git/hooks"}
	o.GitDirs = []string{"/src/app/.git"}
	o.Limits = oci.Limits{Pids: 100, Memory: 1 << 30, NoFile: 65536}
	p.user.HomeSize = 1 << 28
	s := generate(t, specOpts(o, p))
	var terms []string
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, "TERM=") {
			terms = append(terms, e)
		}
	}
	if !slices.Equal(terms, []string{"TERM=screen-256color"}) {
		t.Errorf("TERM set %d times: %q", len(terms), terms)
	}
	project := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/src/app" })
	gitdir := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/src/app/.git" })
	if gitdir < project || s.Mounts[gitdir].Source != "/src/app/.git" || !slices.Contains(s.Mounts[gitdir].Options, "rw") {
		t.Errorf(".git not bound onto itself after the project: mount %d (project %d)", gitdir, project)
	}
	for _, dst := range o.ReadOnly {
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == dst })
		if i < gitdir || !slices.Contains(s.Mounts[i].Options, "ro") {
			t.Errorf("%s: mount %d (project %d), %+v", dst, i, project, s.Mounts[max(i, 0)])
		}
	}
	for _, dst := range []string{"/src/app", "/home/alice/.claude", hostCABundle} {
		if m := mountAt(s, dst); m == nil || !slices.Contains(m.Options, "nosuid") || !slices.Contains(m.Options, "nodev") {
			t.Errorf("%s without nosuid,nodev: %+v", dst, m)
		}
	}
	if m := mountAt(s, "/home/alice"); m == nil || !slices.Contains(m.Options, "size=268435456") {
		t.Errorf("HOME tmpfs without its size: %+v", m)
	}
	r := s.Linux.Resources
	if r == nil || r.Pids == nil || *r.Pids.Limit != 100 || r.Memory == nil || *r.Memory.Limit != 1<<30 {
		t.Errorf("resources %+v", r)
	}
	if i := slices.IndexFunc(s.Process.Rlimits, func(l specs.POSIXRlimit) bool { return l.Type == "RLIMIT_NOFILE" }); i < 0 || s.Process.Rlimits[i].Hard != 65536 || s.Process.Rlimits[i].Soft != 65536 {
		t.Errorf("rlimits %+v", s.Process.Rlimits)
	}
	// Rootless without a cgroup: no cgroup limits (runc would refuse them), NOFILE still.
	o.Runtime = Runtime{Rootless: true, RuntimeDir: "/run/user/1000"}
	s = generate(t, specOpts(o, p))
	if r := s.Linux.Resources; r != nil && (r.Pids != nil || (r.Memory != nil && r.Memory.Limit != nil)) {
		t.Errorf("rootless without a cgroup got limits %+v", r)
	}
}

func TestSpecOptsShellTTYRootless(t *testing.T) {
	o, p := testRun(t)
	o.Args, o.TTY, p.tini = nil, true, ""
	o.Project = "/home/alice" // HOME is the project: no tmpfs over it
	o.Runtime = Runtime{Rootless: true, RuntimeDir: "/run/user/1000"}
	s := generate(t, specOpts(o, p))
	if !slices.Equal(s.Process.Args, []string{"bash", "-l"}) || !s.Process.Terminal {
		t.Errorf("args %q, terminal %v", s.Process.Args, s.Process.Terminal)
	}
	if m := mountAt(s, "/home/alice"); m == nil || m.Type != "bind" {
		t.Errorf("HOME that is the project is not the project's bind: %+v", m)
	}
	if m := mountAt(s, "/sys"); m == nil || m.Type != "bind" || !slices.Contains(m.Options, "ro") {
		t.Errorf("rootless /sys %+v", m)
	}
	if s.Linux.CgroupsPath != "" {
		t.Errorf("rootless without delegation got cgroup %q", s.Linux.CgroupsPath)
	}
	o.Runtime.SystemdCgroup = true
	if s := generate(t, specOpts(o, p)); s.Linux.CgroupsPath != "user.slice:aishell:"+p.id {
		t.Errorf("delegated rootless cgroup %q", s.Linux.CgroupsPath)
	}
}

func TestContainerLabels(t *testing.T) {
	o, p := testRun(t)
	l := containerLabels(o, p, map[string]string{labels.PID: "42"})
	if l[labels.Project] != "/src/app" || l[labels.Purpose] != "claude" || l[labels.PID] != "42" {
		t.Errorf("labels %v", l)
	}
	if l[labels.Uses] != o.Image+","+p.views[0].Ref {
		t.Errorf("uses %q", l[labels.Uses])
	}
	// The reaper finds the views through the same labels.
	if got := labels.RefSnapshots(l); !slices.Equal(got, []string{p.views[0].key}) {
		t.Errorf("gc.ref snapshots %v", got)
	}
}

func TestCleanupStackUnwindsNewestFirstAfterCancel(t *testing.T) {
	var order []string
	var warn strings.Builder
	s := &cleanupStack{id: "c1", warn: &warn}
	ctx, cancel := context.WithCancel(context.Background())
	for _, what := range []string{"lease", "snapshot", "task"} {
		s.push(what, func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Errorf("%s removed on a cancelled context", what)
			}
			order = append(order, what)
			if what == "snapshot" {
				return errors.New("busy")
			}
			return nil
		})
	}
	cancel() // Ctrl-C before cleanup
	s.unwind(ctx)
	if !slices.Equal(order, []string{"task", "snapshot", "lease"}) {
		t.Errorf("order %v", order)
	}
	if !strings.Contains(warn.String(), "clean up c1: snapshot: busy") {
		t.Errorf("warning %q", warn.String())
	}
	s.unwind(ctx) // nothing left: runs nothing again
	if len(order) != 3 {
		t.Errorf("second unwind ran steps again: %v", order)
	}
}

// signalTask records the signals a killer sends.
type signalTask struct {
	containerd.Task
	sent []syscall.Signal
}

func (f *signalTask) Kill(_ context.Context, s syscall.Signal, _ ...containerd.KillOpts) error {
	f.sent = append(f.sent, s)
	return nil
}

func TestKillerForward(t *testing.T) {
	task := &signalTask{}
	k := killer{task: task, ctx: context.Background()}
	k.forward(syscall.SIGINT)
	if k.deadline != nil {
		t.Error("a first Ctrl-C started the kill deadline")
	}
	k.forward(syscall.SIGINT)
	if !slices.Equal(task.sent, []syscall.Signal{syscall.SIGINT, syscall.SIGKILL}) || k.deadline == nil {
		t.Errorf("second Ctrl-C: sent %v, deadline %v", task.sent, k.deadline != nil)
	}
	task2 := &signalTask{}
	k2 := killer{task: task2, ctx: context.Background()}
	k2.forward(syscall.SIGTERM)
	first := k2.deadline
	k2.send(syscall.SIGPIPE, PipeGrace)
	if first == nil || k2.deadline != first {
		t.Error("SIGTERM did not start the deadline, or a later signal moved it")
	}
}

func TestPassEnv(t *testing.T) {
	host := map[string]string{"ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g", "LANG": "C.UTF-8",
		"AWS_SECRET_ACCESS_KEY": "s", "DATABASE_URL": "pg://"}
	lookup := func(k string) (string, bool) { v, ok := host[k]; return v, ok }
	has := func(env []string, key string) bool {
		return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
	}
	// A harness run gets its own keys, and no other harness's.
	req := Request{TTY: true, Harness: "claude"}
	req.Config.PassEnv = []string{"DATABASE_URL"}
	env := passEnv(req, lookup)
	for _, want := range []string{"ANTHROPIC_API_KEY=k", "LANG=C.UTF-8", "DATABASE_URL=pg://", "TERM=xterm-256color", "IS_SANDBOX=1"} {
		if !slices.Contains(env, want) {
			t.Errorf("%s missing from %q", want, env)
		}
	}
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"} {
		if has(env, k) {
			t.Errorf("claude run got %s: %q", k, env)
		}
	}
	// exec and the shell get none unless asked, by --keys or the config's pass_env.
	env = passEnv(Request{Purpose: "exec"}, lookup)
	for _, k := range harness.EnvKeys() {
		if has(env, k) {
			t.Errorf("exec got %s: %q", k, env)
		}
	}
	env = passEnv(Request{Purpose: "exec", Keys: []string{"codex"}}, lookup)
	if !slices.Contains(env, "OPENAI_API_KEY=o") || has(env, "ANTHROPIC_API_KEY") {
		t.Errorf("exec --keys codex: %q", env)
	}
	// A key named twice (opencode shares claude's) passes once.
	env = passEnv(Request{Harness: "opencode", Keys: []string{"claude"}}, lookup)
	if n := slices.IndexFunc(env, func(e string) bool { return e == "ANTHROPIC_API_KEY=k" }); n < 0 || slices.Contains(env[n+1:], "ANTHROPIC_API_KEY=k") {
		t.Errorf("opencode + claude keys: %q", env)
	}
}

// The protected config is mounted after the read-write directory it covers (OCI mounts apply
// in order), read-only, and a private copy read-write from its own source.
func TestSpecOptsProtectedConfigAfterItsDirectory(t *testing.T) {
	o, p := testRun(t)
	p.config = []protect.Mount{
		{Source: "/home/alice/.claude/settings.json", Destination: "/home/alice/.claude/settings.json"},
		{Source: "/tmp/copies/0-.claude.json", Destination: "/home/alice/.claude.json", ReadWrite: true},
	}
	s := generate(t, specOpts(o, p))
	index := func(dst string) int {
		for i, m := range s.Mounts {
			if m.Destination == dst {
				return i
			}
		}
		t.Fatalf("no mount at %s", dst)
		return -1
	}
	if index("/home/alice/.claude") > index("/home/alice/.claude/settings.json") {
		t.Error("settings.json is mounted before ~/.claude: the directory would cover it")
	}
	if m := mountAt(s, "/home/alice/.claude/settings.json"); !slices.Contains(m.Options, "ro") {
		t.Errorf("settings.json: %+v, want read-only", m)
	}
	if m := mountAt(s, "/home/alice/.claude.json"); m.Source != "/tmp/copies/0-.claude.json" || !slices.Contains(m.Options, "rw") {
		t.Errorf("~/.claude.json: %+v, want the private copy read-write", m)
	}
}

// The config's mounts come before what protects the harness config and the git control files,
// so a mount over ~/.claude or the project's .git cannot uncover them; pre_start is an argument
// of sh, never part of its command line.
func TestSpecOptsConfigMountsAndPreStart(t *testing.T) {
	o, p := testRun(t)
	p.config = []protect.Mount{{Source: "/home/alice/.claude/settings.json", Destination: "/home/alice/.claude/settings.json"}}
	o.ReadOnly = []string{"/src/app/.git/hooks"}
	o.Mounts = []config.Mount{{Source: "/data", Destination: "/home/alice/.claude", ReadWrite: true}, {Source: "/x", Destination: "/src/app/.git/hooks", ReadWrite: true}}
	o.PreStart = `echo "$(id)"; touch /tmp/x`
	s := generate(t, specOpts(o, p))
	last := func(dst string) int {
		n := -1
		for i, m := range s.Mounts {
			if m.Destination == dst {
				n = i
			}
		}
		return n
	}
	if i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Source == "/data" }); i < 0 || i > last("/home/alice/.claude/settings.json") {
		t.Errorf("config mount at %d, protected settings.json at %d", i, last("/home/alice/.claude/settings.json"))
	}
	if m := s.Mounts[last("/src/app/.git/hooks")]; m.Source != "/src/app/.git/hooks" || !slices.Contains(m.Options, "ro") {
		t.Errorf("the last mount at .git/hooks is %+v, want the read-only guard", m)
	}
	args := s.Process.Args
	if !slices.Equal(args[:4], []string{"/usr/bin/tini", "-s", "-g", "--"}) || args[len(args)-3] != o.PreStart || !slices.Equal(args[len(args)-2:], []string{"claude", "--help"}) {
		t.Errorf("args %q", args)
	}
}

func TestWrapperQuotes(t *testing.T) {
	h, _ := harness.Lookup("claude")
	w := wrapper(h, []string{"k=it's $x"}, []string{"a b", `it's "$HOME"; $(x) ` + "`y`"})
	want := "export k='it'\\''s $x'\nexec '/opt/harness/claude/bin/claude' 'a b' 'it'\\''s \"$HOME\"; $(x) `y`' \"$@\"\n"
	if !strings.HasSuffix(w, want) || !strings.HasPrefix(w, "#!/bin/sh\n") {
		t.Errorf("wrapper:\n%s", w)
	}
	if got := promptName("p$(x)`y`;z\x1b]0;t\a é"); got != "p__x__y__z__0_t__é" {
		t.Errorf("prompt name %q", got)
	}
}
