package test

import (
	"context"
	"github.com/containerd/containerd/v2/core/images"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aishell/aishell/errs"
)

// As root on the host, the agent's files in the project are root's.
func TestRootFilesOwnedByRoot(t *testing.T) {
	needEnv(t)
	if os.Geteuid() != 0 {
		t.Skip("runs as root")
	}
	env := runEnv(t)
	proj := project(t, "rootowner")
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "touch new.txt && id -u && whoami")
	mustSucceed(t, r)
	if r.Stdout != "0\nroot\n" {
		t.Errorf("inside: %q, want uid 0 root", r.Stdout)
	}
	if uid, gid := owner(t, filepath.Join(proj, "new.txt")); uid != 0 || gid != 0 {
		t.Errorf("new.txt owned by %d:%d, want 0:0", uid, gid)
	}
}

// `sudo aishell` from an unprivileged user: the system containerd, but the container runs as
// the user, with the user's home, config and ~/.claude, never root's; what it writes in the
// project and in the config directory is the user's.
func TestSudoRunsAsTheUser(t *testing.T) {
	needEnv(t)
	u, _ := needRootless(t) // its user is the one who "typed sudo"
	rootHome := t.TempDir() // stands in for /root: sudo leaves HOME there
	os.MkdirAll(filepath.Join(rootHome, ".claude"), 0o700)
	os.WriteFile(filepath.Join(rootHome, ".claude", "who"), []byte("root's\n"), 0o600)
	userClaude := filepath.Join(u.Home, ".claude")
	os.MkdirAll(userClaude, 0o755)
	os.WriteFile(filepath.Join(userClaude, "who"), []byte("the user's\n"), 0o644)
	os.Chown(userClaude, u.UID, u.GID)
	os.Chown(filepath.Join(userClaude, "who"), u.UID, u.GID)
	t.Cleanup(func() { os.RemoveAll(userClaude) })

	// sudo -E keeps the user's XDG_CONFIG_HOME, which lies in their home.
	cfg := u.dir(t, "sudocfg")
	env := sudoEnv(u, rootHome, "XDG_CONFIG_HOME="+cfg)
	proj := u.project(t, "sudoproj")
	build := runCmd(t, sudoCmd(proj, env, "build", "--with-claude", "--claude-version="+claudeV2, "--progress=plain"), "sudo aishell build")
	mustSucceed(t, build)
	cfgFile := filepath.Join(cfg, "aishell", "config.yaml")
	for _, p := range []string{cfgFile, filepath.Dir(cfgFile)} {
		if uid, gid := owner(t, p); uid != u.UID || gid != u.GID {
			t.Errorf("%s owned by %d:%d after sudo aishell build, want the user's %d:%d", p, uid, gid, u.UID, u.GID)
		}
	}

	r := runCmd(t, sudoCmd(proj, env, "exec", "--", "sh", "-c", `id -u; id -g; whoami; echo "$HOME"; cat "$HOME/.claude/who"; git config user.email; touch made-by-agent`), "sudo aishell exec")
	mustSucceed(t, r)
	want := strings.Join([]string{strconv.Itoa(u.UID), strconv.Itoa(u.GID), u.User, u.Home, "the user's", "rootless-test@example.com"}, "\n") + "\n"
	if r.Stdout != want {
		t.Errorf("inside under sudo:\n%s\nwant\n%s", r.Stdout, want)
	}
	if uid, gid := owner(t, filepath.Join(proj, "made-by-agent")); uid != u.UID || gid != u.GID {
		t.Errorf("the agent's file is owned by %d:%d, want the user's %d:%d", uid, gid, u.UID, u.GID)
	}
	if strings.Contains(r.Stdout, "root's") {
		t.Error("root's ~/.claude was mounted")
	}
	// The harness run mounts the user's config too.
	r = runCmd(t, sudoCmd(proj, env, "claude", "--version"), "sudo aishell claude --version")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, claudeV2) {
		t.Errorf("claude --version under sudo: %q", r.Stdout)
	}
}

// sudoCmd is aishell run as root with the environment sudo gives it (env, and nothing of the
// test's own).
func sudoCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := aishellCmd(dir, nil, args...)
	cmd.Env = env
	return cmd
}

// rlBuild builds the harness set for the rootless tests in the user's config dir cfg.
func rlBuild(t *testing.T, u *rootlessEnv, cfg string, args ...string) result {
	t.Helper()
	r := u.aishell(t, u.Home, []string{"XDG_CONFIG_HOME=" + cfg}, append([]string{"build", "--progress=plain"}, args...)...)
	mustSucceed(t, r)
	return r
}

// Rootless: a harness is installed by the rootless containerd (npm in a container of the user
// namespace, the layer hashed by aishell there), runs, and the install leaves nothing.
func TestRootlessHarnessInstall(t *testing.T) {
	u, c := needRootless(t)
	cfg := u.dir(t, "cfg")
	xdg := []string{"XDG_CONFIG_HOME=" + cfg}
	ref := harnessRef("openspec", openspecInstall)
	c.ImageService().Delete(context.Background(), ref, images.SynchronousDelete())
	r := rlBuild(t, u, cfg, "--with-openspec", "--openspec-version="+openspecInstall)
	if !strings.Contains(r.Stderr, "[harness openspec] npm install done in ") {
		t.Errorf("the build did not install openspec: %q", r.Stderr)
	}
	r = u.aishell(t, u.project(t, "rlinstall"), xdg, "exec", "--network", "none", "--", "openspec", "--version")
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != openspecInstall {
		t.Errorf("openspec --version says %q, want %s", r.Stdout, openspecInstall)
	}
	if left := leftovers(t, c, installPrefix); len(left) > 0 {
		t.Errorf("left by the rootless install: %v", left)
	}
}

// Rootless: build, update and run against a rootless containerd found by its defaults. The
// process is uid 0 of the user namespace, which is the user on the host; the new harness
// version shows after an update, and no extension or foundation is rebuilt for it.
func TestRootlessBuildUpdateRun(t *testing.T) {
	u, _ := needRootless(t)
	cfg := u.dir(t, "cfg")
	xdg := []string{"XDG_CONFIG_HOME=" + cfg}
	rlBuild(t, u, cfg, "--with-claude", "--claude-version="+claudeV1, "--with-gemini", "--gemini-version="+geminiV)
	proj := u.project(t, "rlrun")
	r := u.aishell(t, proj, xdg, "exec", "--", "sh", "-c", `id -u; whoami; echo "$HOME"; git config user.email; claude --version; touch made-rootless`)
	mustSucceed(t, r)
	want := "0\nroot\n" + u.Home + "\nrootless-test@example.com\n" + claudeV1
	if !strings.HasPrefix(r.Stdout, want) {
		t.Errorf("inside, rootless:\n%s\nwant it to start with\n%s", r.Stdout, want)
	}
	if uid, gid := owner(t, filepath.Join(proj, "made-rootless")); uid != u.UID || gid != u.GID {
		t.Errorf("the agent's file is owned by %d:%d on the host, want the user's %d:%d", uid, gid, u.UID, u.GID)
	}

	up := u.aishell(t, u.Home, xdg, "update", "--claude-version="+claudeV2, "--progress=plain")
	mustSucceed(t, up)
	if !strings.Contains(up.Stdout, "claude "+claudeV1+" -> "+claudeV2) {
		t.Errorf("update output: %q", up.Stdout)
	}
	if strings.Contains(up.Stderr, "building foundation") {
		t.Error("a harness update rebuilt the foundation")
	}
	r = u.aishell(t, proj, xdg, "claude", "--version")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, claudeV2) {
		t.Errorf("after the update: %q, want %s", r.Stdout, claudeV2)
	}
	// The harness snapshot is read-only here too, and /sys is the host's, read-only.
	r = u.aishell(t, proj, xdg, "exec", "--", "sh", "-c", "touch /opt/harness/claude/x; touch /sys/x; ls /sys/class/net >/dev/null && echo sys-readable")
	if !strings.Contains(r.Stderr, "/opt/harness/claude/x': Read-only file system") || !strings.Contains(r.Stderr, "/sys/x': Read-only file system") || !strings.Contains(r.Stdout, "sys-readable") {
		t.Errorf("read-only mounts, rootless: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	// A mount below git's hooks, made in rootlesskit's mount namespace (where aishell and runc
	// work): the run binds the hooks with the recursive flags, which runc sets in the user
	// namespace too, so the mount is seen inside and is read-only there.
	child, err := os.ReadFile(filepath.Join(u.RuntimeDir, "containerd-rootless", "child_pid"))
	if err != nil {
		t.Fatal(err)
	}
	inKit := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"-m", "-t", strings.TrimSpace(string(child)), "--"}, args...)...)
	}
	below := filepath.Join(proj, ".git/hooks/below")
	os.Mkdir(below, 0o755)
	if out, err := inKit("sh", "-c", `mount -t tmpfs -o size=1m,mode=0777 aishell-test-rootless "$1" && echo seen > "$1/seen"`, "sh", below).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s in rootlesskit's namespace: %v %s", below, err, out)
	}
	t.Cleanup(func() { inKit("umount", "-l", below).Run() })
	r = u.aishell(t, proj, xdg, "exec", "--", "sh", "-c", "cat .git/hooks/below/seen; touch .git/hooks/below/x && echo WROTE; true")
	mustSucceed(t, r)
	if r.Stdout != "seen\n" {
		t.Errorf("a mount below git's hooks, rootless: %q %q; want it seen, and read-only", r.Stdout, r.Stderr)
	}
}

// Claude Code refuses some flags when it sees uid 0; in rootless mode aishell runs it as uid 0
// of the user namespace and says it is a sandbox (IS_SANDBOX=1), so it goes on (to ask for a
// login here: the test has no API key).
func TestRootlessClaudeRunsAsNamespaceRoot(t *testing.T) {
	u, _ := needRootless(t)
	cfg := u.dir(t, "cfg")
	rlBuild(t, u, cfg, "--with-claude", "--claude-version="+claudeV2)
	proj := u.project(t, "rlclaude")
	r := u.aishell(t, proj, []string{"XDG_CONFIG_HOME=" + cfg}, "claude", "--dangerously-skip-permissions", "-p", "hello")
	out := r.Stdout + r.Stderr
	if strings.Contains(out, "cannot be used with root") {
		t.Fatalf("Claude Code refused to run as the namespace's root: %q", out)
	}
	if !strings.Contains(out, "Not logged in") && !strings.Contains(out, "API key") {
		t.Errorf("want Claude Code to get as far as asking for a login: exit %d %q", r.Code, out)
	}
}

// Rootless: SIGTERM to aishell stops the container, and the task, container, snapshots, views,
// lease and FIFOs are all gone.
func TestRootlessSigtermCleansUp(t *testing.T) {
	u, c := needRootless(t)
	cfg := u.dir(t, "cfg")
	rlBuild(t, u, cfg, "--with-claude", "--claude-version="+claudeV2, "--with-gemini", "--gemini-version="+geminiV)
	proj := u.project(t, "rlterm")
	cmd := u.command(proj, []string{"XDG_CONFIG_HOME=" + cfg}, aishellBin, "exec", "--", "sleep", "300")
	var se syncBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := runningID(t, c, proj)
	if left := leftovers(t, c, id); len(left) < 4 {
		t.Fatalf("a running rootless container should hold a container, task, lease and snapshots: %v", left)
	}
	waitForProcess(t, c, proj, "sleep")
	cmd.Process.Signal(syscall.SIGTERM)
	start := time.Now()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != signalCode(syscall.SIGTERM) {
		t.Errorf("exit %d, want %d (stderr %q)", code, signalCode(syscall.SIGTERM), se.String())
	}
	if time.Since(start) > 12*time.Second {
		t.Errorf("took %s to stop", time.Since(start))
	}
	waitGone(t, c, id)
	fifos, _ := filepath.Glob(filepath.Join(u.RuntimeDir, "aishell", "fifo", id+"*"))
	if len(fifos) > 0 {
		t.Errorf("FIFOs left: %v", fifos)
	}
}

// Rootless: a project's extension is built by the rootless buildkitd and run.
func TestRootlessExtension(t *testing.T) {
	u, _ := needRootless(t)
	cfg := u.dir(t, "cfg")
	xdg := []string{"XDG_CONFIG_HOME=" + cfg}
	rlBuild(t, u, cfg, "--with-gemini", "--gemini-version="+geminiV)
	proj := u.project(t, "rlext")
	ext := filepath.Join(proj, ".aishell")
	os.Mkdir(ext, 0o755)
	os.WriteFile(filepath.Join(ext, "Dockerfile"), []byte("# aishell: context=.aishell\nFROM aishell:foundation\nCOPY marker /etc/rootless-marker\nRUN chmod 644 /etc/rootless-marker\n"), 0o644)
	os.WriteFile(filepath.Join(ext, "marker"), []byte("built rootless\n"), 0o644)
	for _, p := range []string{ext, filepath.Join(ext, "Dockerfile"), filepath.Join(ext, "marker")} {
		os.Chown(p, u.UID, u.GID)
	}
	mustSucceed(t, u.aishell(t, proj, xdg, "ext", "trust"))
	r := u.aishell(t, proj, xdg, "exec", "--", "cat", "/etc/rootless-marker")
	mustSucceed(t, r)
	if r.Stdout != "built rootless\n" {
		t.Errorf("extension content: %q", r.Stdout)
	}
	st := u.aishell(t, proj, xdg, "ext", "status")
	mustSucceed(t, st)
	if !strings.Contains(st.Stdout, " fresh ") {
		t.Errorf("ext status after the build: %q", st.Stdout)
	}
}

// Rootless doctor passes and names the mode; a user with no rootless containerd gets one line
// naming both ways to get one, from doctor and from any other command.
func TestRootlessDoctorAndMissingContainerd(t *testing.T) {
	u, _ := needRootless(t)
	r := u.aishell(t, u.Home, nil, "doctor")
	mustSucceed(t, r)
	for _, want := range []string{"ok    mode         rootless for " + u.User, "ok    subids", "ok    uidmap", "warn  cgroups", "ok    buildkitd", "namespace aishell, same containerd"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("doctor output lacks %q", want)
		}
	}
	// Another runtime directory: no rootlesskit there.
	empty := u.dir(t, "emptyrun")
	r = u.aishell(t, u.Home, []string{"XDG_RUNTIME_DIR=" + empty}, "exec", "true")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != errs.CodeError || len(lines) != 2 || !strings.Contains(lines[0], "no rootless containerd for "+u.User) ||
		!strings.Contains(lines[1], "containerd-rootless-setuptool.sh install") || !strings.Contains(lines[1], "sudo aishell") {
		t.Errorf("no rootless containerd: exit %d, stderr %q: want one line and a hint naming both ways", r.Code, r.Stderr)
	}
	r = u.aishell(t, u.Home, []string{"XDG_RUNTIME_DIR=" + empty}, "doctor")
	if r.Code != errs.CodeError || !strings.Contains(r.Stdout, "FAIL  mode") || !strings.Contains(r.Stdout, "sudo aishell") || !strings.Contains(r.Stdout, "skip  containerd") {
		t.Errorf("doctor without rootless containerd: exit %d %q", r.Code, r.Stdout)
	}
}
