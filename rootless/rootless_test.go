package rootless

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestStateDir(t *testing.T) {
	if d := StateDir(env(nil), "/run/user/1000"); d != "/run/user/1000/containerd-rootless" {
		t.Errorf("default: %s", d)
	}
	if d := StateDir(env(map[string]string{EnvStateDir: "/x"}), "/run/user/1000"); d != "/x" {
		t.Errorf("ROOTLESSKIT_STATE_DIR: %s", d)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	rt := filepath.Join(dir, "run")
	_, err := Find(env(nil), rt)
	if err == nil || !strings.Contains(err.Error(), "no rootless containerd") || !strings.Contains(err.(interface{ ErrorHint() string }).ErrorHint(), "sudo aishell") {
		t.Fatalf("no state dir: %v", err)
	}
	state := filepath.Join(rt, "containerd-rootless")
	os.MkdirAll(state, 0o700)
	if _, err := Find(env(nil), rt); err == nil || !strings.Contains(err.Error(), "child_pid") {
		t.Errorf("no child_pid: %v", err)
	}
	// A pid that is certainly gone (pid_max is below this).
	os.WriteFile(filepath.Join(state, "child_pid"), []byte("999999999\n"), 0o644)
	if _, err := Find(env(nil), rt); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("dead child: %v", err)
	}
	os.WriteFile(filepath.Join(state, "child_pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	k, err := Find(env(nil), rt)
	if err != nil || k.ChildPID != os.Getpid() || !k.SharedNetNS {
		t.Errorf("live child in our own network namespace: %+v %v", k, err)
	}
}

func TestArgs(t *testing.T) {
	k := Kit{ChildPID: 42}
	got := strings.Join(k.Args("/usr/bin/nsenter", "/usr/local/bin/aishell", "/home/a/p", []string{"exec", "--", "id"}), " ")
	want := "/usr/bin/nsenter -w/home/a/p --preserve-credentials -U -m -t 42 -F -n -- /usr/local/bin/aishell exec -- id"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	k.SharedNetNS = true
	if got := strings.Join(k.Args("nsenter", "aishell", "", nil), " "); strings.Contains(got, " -n") || strings.Contains(got, "-w") {
		t.Errorf("shared netns or no wd: %s", got)
	}
}

func TestInitialUIDMap(t *testing.T) {
	if !isInitialUIDMap("         0          0 4294967295\n") {
		t.Error("initial map not recognised")
	}
	if isInitialUIDMap("         0       1001          1\n         1     100000      65536\n") {
		t.Error("rootlesskit's map taken for the initial one")
	}
}

func TestHasSubIDs(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(f, []byte("bob:100000:65536\n1002:165536:65536\nzero:231072:0\n"), 0o644)
	for _, c := range []struct {
		name string
		uid  int
		want bool
	}{{"bob", 1001, true}, {"carol", 1002, true}, {"dave", 1003, false}, {"zero", 1004, false}} {
		if got := hasSubIDs(f, c.name, c.uid); got != c.want {
			t.Errorf("%s/%d: %v, want %v", c.name, c.uid, got, c.want)
		}
	}
	if hasSubIDs(filepath.Join(t.TempDir(), "none"), "bob", 1) {
		t.Error("missing file")
	}
}

func TestDetectCgroups(t *testing.T) {
	root, sd := t.TempDir(), t.TempDir()
	if c := detectCgroups(root, sd, 1000); c.Delegated || !strings.Contains(c.Detail, "cgroup v1") {
		t.Errorf("v1: %+v", c)
	}
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	if c := detectCgroups(root, filepath.Join(sd, "none"), 1000); c.Delegated || !strings.Contains(c.Detail, "without systemd") {
		t.Errorf("v2 without systemd: %+v", c)
	}
	svc := filepath.Join(root, "user.slice", "user-1000.slice", "user@1000.service")
	if c := detectCgroups(root, sd, 1000); c.Delegated || !strings.Contains(c.Hint, "enable-linger") {
		t.Errorf("v2, no user service: %+v", c)
	}
	os.MkdirAll(svc, 0o755)
	os.WriteFile(filepath.Join(svc, "cgroup.controllers"), []byte("cpu\n"), 0o644)
	if c := detectCgroups(root, sd, 1000); c.Delegated || !strings.Contains(c.Detail, "memory, pids") || !strings.Contains(c.Hint, "Delegate=") {
		t.Errorf("v2, not delegated: %+v", c)
	}
	os.WriteFile(filepath.Join(svc, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	if c := detectCgroups(root, sd, 1000); !c.Delegated {
		t.Errorf("v2, delegated: %+v", c)
	}
}
