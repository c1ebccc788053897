package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock returns the fenced code block that follows marker in README.md.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```")
	if start < 0 {
		t.Fatalf("no code block after %q", marker)
	}
	s = s[start:]
	s = s[strings.IndexByte(s, '\n')+1:]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatalf("unterminated code block after %q", marker)
	}
	return s[:end]
}

// The README's recipe for CI on a runner with a rootful containerd and no buildkitd, run as it
// is written: the user types it, `sudo` gives root with SUDO_* naming them, buildkitd starts
// with the containerd worker, and `make test` runs in the sandbox as the user, whose files it
// leaves. Only what a runner has and this machine lacks is substituted: sudo is root with
// sudo's environment (the test already runs as root), and the daemons' default sockets are the
// test environment's private ones.
func TestCIRecipeFromREADME(t *testing.T) {
	needEnv(t)
	u, _ := needRootless(t) // its user plays the CI job's user
	recipe := readmeBlock(t, "<!-- ci-recipe: run -->")
	for _, want := range []string{"sudo buildkitd", "--containerd-worker=true", "--containerd-worker-namespace=aishell", "sudo aishell exec -- make test"} {
		if !strings.Contains(recipe, want) {
			t.Fatalf("the README's recipe lacks %q:\n%s", want, recipe)
		}
	}
	proj := u.project(t, "cijob")
	os.WriteFile(filepath.Join(proj, "Makefile"), []byte("test:\n\t@id -u > tests-ran-as\n\t@echo tests passed in $$(pwd)\n"), 0o644)
	os.Chown(filepath.Join(proj, "Makefile"), u.UID, u.GID)
	work := t.TempDir()
	rootHome := t.TempDir()
	// The user's config: the recipe's `sudo aishell build` writes it, as the user's.
	cfgDir := filepath.Join(u.Home, ".config", "aishell")
	t.Cleanup(func() { os.RemoveAll(cfgDir) })

	script := `set -euo pipefail
bk=$WORK/bk
sudo() ( export HOME=$ROOT_HOME USER=root LOGNAME=root SUDO_USER=$CI_USER SUDO_UID=$CI_UID SUDO_GID=$CI_GID; unset XDG_CONFIG_HOME; "$@" )
buildkitd() { command buildkitd --root "$bk" --addr "unix://$bk/buildkitd.sock" --containerd-worker-addr "$CONTAINERD_ADDRESS" "$@"; }
buildctl() { command buildctl --addr "unix://$bk/buildkitd.sock" "$@"; }
aishell() { "$AISHELL" "$@"; }
export BUILDKIT_HOST=unix://$bk/buildkitd.sock
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
` + recipe
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = proj
	cmd.Env = append(os.Environ(), "WORK="+work, "ROOT_HOME="+rootHome, "AISHELL="+aishellBin,
		"RUNNER_TEMP="+work, "CI_USER="+u.User, "CI_UID="+strconv.Itoa(u.UID), "CI_GID="+strconv.Itoa(u.GID))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan result, 1)
	go func() { done <- runCmd(t, cmd, "the README's CI recipe") }()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Minute):
		t.Fatal("the recipe did not finish in 15 minutes")
	}
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "tests passed in "+proj) {
		t.Errorf("make test's output: %q", r.Stdout)
	}
	b, err := os.ReadFile(filepath.Join(proj, "tests-ran-as"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(u.UID) {
		t.Errorf("make test ran as %q (%v), want the user's uid %d", b, err, u.UID)
	}
	if uid, _ := owner(t, filepath.Join(proj, "tests-ran-as")); uid != u.UID {
		t.Errorf("the file make test wrote is owned by %d, want the user's %d", uid, u.UID)
	}
	if uid, _ := owner(t, filepath.Join(cfgDir, "config.yaml")); uid != u.UID {
		t.Errorf("the config sudo aishell build wrote is owned by %d, want the user's %d", uid, u.UID)
	}
}
