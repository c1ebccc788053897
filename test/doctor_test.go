package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aishell/aishell/errs"
)

func TestDoctorPasses(t *testing.T) {
	needEnv(t)
	r := aishell(t, "", nil, "doctor")
	if r.Code != errs.CodeOK {
		t.Fatalf("doctor exit %d, want %d", r.Code, errs.CodeOK)
	}
	for _, want := range []string{
		"ok    containerd   containerd v2.4.",
		"ok    snapshotter  overlayfs",
		"ok    runtime",
		"ok    buildkitd    buildkitd v0.34.",
		"(containerd, namespace aishell, same containerd)",
		"docker.io/library/debian:bookworm-slim",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("doctor output lacks %q", want)
		}
	}
}

// lineOf returns the report line of one check.
func lineOf(out, check string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == check {
			return l
		}
	}
	return ""
}

func checkUnreachable(t *testing.T, env []string, check, socket string) {
	t.Helper()
	r := aishell(t, "", env, "doctor")
	if r.Code == errs.CodeOK {
		t.Fatalf("doctor exit 0 with %s unreachable", check)
	}
	if r.Took > 5*time.Second {
		t.Errorf("doctor took %s with %s unreachable, want under 5 s", r.Took, check)
	}
	line := lineOf(r.Stdout, check)
	if !strings.HasPrefix(line, "FAIL") || !strings.Contains(line, socket) || !strings.Contains(line, "hint:") {
		t.Errorf("%s line %q: want FAIL naming %s with a hint", check, line, socket)
	}
	all := r.Stdout + r.Stderr
	for _, noise := range []string{"rpc error", "goroutine", "panic", "DeadlineExceeded"} {
		if strings.Contains(all, noise) {
			t.Errorf("output has %q: want one clear line", noise)
		}
	}
	if !strings.Contains(r.Stderr, "check(s) failed: "+check) {
		t.Errorf("stderr %q does not name the failed check %s", r.Stderr, check)
	}
}

func TestDoctorMissingContainerd(t *testing.T) {
	needEnv(t)
	sock := filepath.Join(t.TempDir(), "no-containerd.sock")
	checkUnreachable(t, []string{"CONTAINERD_ADDRESS=" + sock}, "containerd", sock)
}

func TestDoctorMissingBuildkitd(t *testing.T) {
	needEnv(t)
	sock := filepath.Join(t.TempDir(), "no-buildkitd.sock")
	checkUnreachable(t, []string{"BUILDKIT_HOST=unix://" + sock}, "buildkitd", sock)
}

// A socket file nobody listens on (left by a crashed daemon) must not hang either.
func TestDoctorStaleSocket(t *testing.T) {
	needEnv(t)
	dir, err := os.MkdirTemp("/tmp", "aishell-stale-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "stale.sock")
	if err := makeStaleSocket(sock); err != nil {
		t.Fatal(err)
	}
	checkUnreachable(t, []string{"CONTAINERD_ADDRESS=" + sock}, "containerd", sock)
	checkUnreachable(t, []string{"BUILDKIT_HOST=unix://" + sock}, "buildkitd", sock)
}
