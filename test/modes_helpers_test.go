package test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// rootlessEnv is the rootless environment test/env/rootless-up.sh brings up: an unprivileged
// user whose rootlesskit holds a containerd and a buildkitd, found by aishell's defaults under
// the user's XDG_RUNTIME_DIR.
type rootlessEnv struct {
	User       string
	UID, GID   int
	Home       string
	RuntimeDir string // the user's XDG_RUNTIME_DIR
	Bin        string // containerd, runc, buildkitd... reachable by the user
	Containerd string // the socket, for the test's own checks (as root)
}

// needRootless returns the rootless environment and a containerd client on it, or skips (fails
// under make test and CI).
func needRootless(t *testing.T) (*rootlessEnv, *containerd.Client) {
	t.Helper()
	needEnv(t)
	stop := func(format string, args ...any) {
		t.Helper()
		if required() {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	e, err := readTestEnv(filepath.Join(envDir(), "rootless", "env.json"))
	if err != nil {
		stop("no rootless environment (%v): run test/env/rootless-up.sh", err)
	}
	r := &rootlessEnv{User: e.Env["AISHELL_ROOTLESS_USER"], RuntimeDir: e.Env["AISHELL_ROOTLESS_RUNTIME_DIR"],
		Bin: e.PathPrepend, Containerd: e.Env["CONTAINERD_ADDRESS"]}
	u, err := user.Lookup(r.User)
	if err != nil {
		stop("rootless test user %q: %v", r.User, err)
	}
	r.UID, _ = strconv.Atoi(u.Uid)
	r.GID, _ = strconv.Atoi(u.Gid)
	r.Home = u.HomeDir
	c, err := connect(r.Containerd, "aishell")
	if err != nil {
		stop("rootless environment: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return r, c
}

// dir makes a directory owned by the user in their home, removed after the test.
func (r *rootlessEnv) dir(t *testing.T, name string) string {
	t.Helper()
	base := filepath.Join(r.Home, "aishell-tests")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(base, r.UID, r.GID)
	d := filepath.Join(base, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, r.UID, r.GID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// project makes a git work tree owned by the user, with its own git identity.
func (r *rootlessEnv) project(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(r.dir(t, "proj"), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, r.UID, r.GID)
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "rootless-test@example.com"}, {"config", "user.name", "Rootless Test"}} {
		cmd := r.command(dir, nil, "git", append([]string{"-C", dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v as %s: %v %s", args, r.User, err, out)
		}
	}
	return dir
}

// command is name with args run as the user, in dir, with the environment a login gives them
// (HOME, USER, PATH, XDG_RUNTIME_DIR) and nothing of the test's, plus extra.
func (r *rootlessEnv) command(dir string, extra []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"HOME=" + r.Home, "USER=" + r.User, "LOGNAME=" + r.User,
		"PATH=" + r.Bin + ":" + filepath.Dir(aishellBin) + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"XDG_RUNTIME_DIR=" + r.RuntimeDir, "LANG=C.UTF-8",
	}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.UID), Gid: uint32(r.GID)}}
	return cmd
}

// aishell runs the binary as the user in dir.
func (r *rootlessEnv) aishell(t *testing.T, dir string, extra []string, args ...string) result {
	t.Helper()
	return runCmd(t, r.command(dir, extra, aishellBin, args...), "(as "+r.User+" in "+dir+") aishell "+strings.Join(args, " "))
}

// sudoEnv is the environment `sudo aishell` gets when user u runs it: root's, reset by sudo
// (HOME is root's), with SUDO_USER, SUDO_UID and SUDO_GID naming u. The test environment's
// endpoints are kept, as `sudo -E` or a runner's sudoers would keep them. rootHome stands in
// for root's home, so that reading root's files instead of u's shows.
func sudoEnv(u *rootlessEnv, rootHome string, extra ...string) []string {
	env := []string{"HOME=" + rootHome, "USER=root", "LOGNAME=root", "SHELL=/bin/bash",
		"PATH=" + os.Getenv("PATH"),
		"SUDO_USER=" + u.User, "SUDO_UID=" + strconv.Itoa(u.UID), "SUDO_GID=" + strconv.Itoa(u.GID),
		"SUDO_COMMAND=" + aishellBin}
	for _, k := range []string{"CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "BUILDKIT_HOST"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// owner is the uid and gid that own path on the host.
func owner(t *testing.T, path string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
