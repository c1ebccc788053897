package vm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func host(goos string, env map[string]string, onPath ...string) Host {
	return Host{
		Getenv: func(k string) string { return env[k] },
		GOOS:   goos,
		LookPath: func(name string) (string, error) {
			for _, p := range onPath {
				if p == name {
					return "/usr/local/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		},
		LimaExists: func(name string) bool { return env["exists:"+name] != "" },
	}
}

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name   string
		h      Host
		want   Target
		fwd    bool
		errHas string
	}{
		{"linux, nothing asked", host("linux", nil, "limactl"), Target{}, false, ""},
		{"linux, a Lima instance named", host("linux", map[string]string{EnvLimaInstance: "dev"}), Target{Lima, "dev"}, true, ""},
		{"linux, a colima profile named", host("linux", map[string]string{EnvColimaProfile: "work"}), Target{Colima, "work"}, true, ""},
		{"both named", host("darwin", map[string]string{EnvLimaInstance: "a", EnvColimaProfile: "b"}), Target{}, false, "both"},
		{"inside the VM", host("linux", map[string]string{EnvInVM: "1", EnvLimaInstance: "dev"}), Target{}, false, ""},
		{"inside a Lima guest", func() Host { h := host("linux", map[string]string{EnvLimaInstance: "dev"}); h.InGuest = true; return h }(), Target{}, false, ""},
		{"darwin, none on PATH", host("darwin", nil), Target{}, false, "neither limactl nor colima"},
		{"darwin, limactl", host("darwin", nil, "limactl"), Target{Lima, "aishell"}, true, ""},
		{"darwin, colima", host("darwin", nil, "colima"), Target{Colima, "default"}, true, ""},
		{"darwin, colima with COLIMA_PROFILE", host("darwin", map[string]string{"COLIMA_PROFILE": "p"}, "colima"), Target{Colima, "p"}, true, ""},
		{"darwin, both, aishell instance exists", host("darwin", map[string]string{"exists:aishell": "1"}, "limactl", "colima"), Target{Lima, "aishell"}, true, ""},
		{"darwin, both, no aishell instance", host("darwin", nil, "limactl", "colima"), Target{Colima, "default"}, true, ""},
		{"AISHELL_VM=none", host("darwin", map[string]string{EnvVM: "none"}, "limactl"), Target{}, false, ""},
		{"AISHELL_VM=colima over limactl", host("darwin", map[string]string{EnvVM: "colima"}, "limactl", "colima"), Target{Colima, "default"}, true, ""},
		{"AISHELL_VM=lima on linux", host("linux", map[string]string{EnvVM: "lima"}), Target{Lima, "aishell"}, true, ""},
		{"AISHELL_VM unknown", host("darwin", map[string]string{EnvVM: "qemu"}), Target{}, false, "qemu"},
	} {
		got, fwd, err := Decide(c.h)
		if c.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("%s: error %v, want one about %q", c.name, err, c.errHas)
			}
			continue
		}
		if err != nil || fwd != c.fwd || got != c.want {
			t.Errorf("%s: got %+v %v %v, want %+v %v", c.name, got, fwd, err, c.want, c.fwd)
		}
	}
}

func TestLocal(t *testing.T) {
	for cmd, want := range map[string]bool{"version": true, "scan": true, "config trust": true, "doctor": true,
		"shell": false, "exec <cmd>": false, "claude <args>": false, "build": false, "gc": false} {
		if Local(cmd) != want {
			t.Errorf("Local(%q) = %v", cmd, !want)
		}
	}
}

func TestGuestPath(t *testing.T) {
	ms := []Mount{{Location: "/Users/al", MountPoint: "/Users/al"}, {Location: "/Volumes/work", MountPoint: "/mnt/work"}}
	for in, want := range map[string]string{
		"/Users/al": "/Users/al", "/Users/al/src/p": "/Users/al/src/p", "/Volumes/work/x": "/mnt/work/x",
		"/Users/alice": "", "/tmp": "", "/Volumes/workshop": "",
	} {
		got, ok := GuestPath(ms, in)
		if got != want || ok != (want != "") {
			t.Errorf("GuestPath(%s) = %q %v, want %q", in, got, ok, want)
		}
	}
	if got, ok := GuestPath([]Mount{{Location: "/", MountPoint: "/"}}, "/any/where"); !ok || got != "/any/where" {
		t.Errorf("a root mount: %q %v", got, ok)
	}
}

func TestColimaMounts(t *testing.T) {
	home := t.TempDir()
	t.Setenv("COLIMA_HOME", "")
	ms, err := Mounts(t.Context(), Target{Colima, "default"}, home)
	if err != nil || len(ms) != 1 || ms[0].Location != home {
		t.Fatalf("no colima.yaml: %+v %v, want the home (colima's default)", ms, err)
	}
	os.MkdirAll(filepath.Join(home, ".colima", "work"), 0o755)
	os.WriteFile(filepath.Join(home, ".colima", "work", "colima.yaml"), []byte("cpu: 2\nmounts:\n  - location: ~/src\n    writable: true\n  - location: /data\n    mountPoint: /mnt/data\n"), 0o644)
	ms, err = Mounts(t.Context(), Target{Colima, "work"}, home)
	if err != nil || len(ms) != 2 || ms[0].Location != filepath.Join(home, "src") || ms[1].MountPoint != "/mnt/data" {
		t.Fatalf("colima.yaml mounts: %+v %v", ms, err)
	}
}

func TestForwardedEnv(t *testing.T) {
	got := forwardedEnv([]string{"ANTHROPIC_API_KEY=k", "OPENAI_API_KEY=o", "TERM=xterm", "PATH=/bin", "HOME=/h",
		"AISHELL_TRACE=1", "AISHELL_LIMA_INSTANCE=dev", "AISHELL_IN_VM=1", "CONTAINERD_ADDRESS=/x.sock", "CONTAINERD_NAMESPACE=ns", "SSH_AUTH_SOCK=/s"})
	want := "AISHELL_TRACE=1 ANTHROPIC_API_KEY=k CONTAINERD_NAMESPACE=ns OPENAI_API_KEY=o TERM=xterm"
	if strings.Join(got, " ") != want {
		t.Errorf("forwardedEnv = %v, want %s", got, want)
	}
}

// The VM's side: the variables file is taken and deleted; one others could read is refused.
func TestAdopt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "env-1")
	os.WriteFile(file, []byte("AISHELL_TEST_ADOPT=a b\x00AISHELL_TEST_ADOPT2=x=y\nz\x00"), 0o600)
	t.Setenv(EnvInVM, "1")
	t.Setenv(EnvEnvFile, file)
	t.Setenv("AISHELL_TEST_ADOPT", "")
	t.Setenv("AISHELL_TEST_ADOPT2", "")
	if err := Adopt(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("AISHELL_TEST_ADOPT") != "a b" || os.Getenv("AISHELL_TEST_ADOPT2") != "x=y\nz" {
		t.Errorf("got %q %q", os.Getenv("AISHELL_TEST_ADOPT"), os.Getenv("AISHELL_TEST_ADOPT2"))
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("the file is still there")
	}
	if os.Getenv(EnvEnvFile) != "" {
		t.Error("the file's variable is still set")
	}
	os.WriteFile(file, []byte("AISHELL_TEST_ADOPT=evil\x00"), 0o644)
	t.Setenv(EnvEnvFile, file)
	if err := Adopt(); err == nil || os.Getenv("AISHELL_TEST_ADOPT") == "evil" {
		t.Errorf("a file others can read was taken: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.WriteFile(file, []byte("AISHELL_TEST_ADOPT=evil\x00"), 0o600)
	os.Symlink(file, link)
	t.Setenv(EnvEnvFile, link)
	if err := Adopt(); err == nil {
		t.Error("a symlink was followed")
	}
}

// The host's side: the variables go to a private file under the home's cache when the VM sees
// it, and on the command line (with a notice) when it does not.
func TestPassEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", "")
	ms := []Mount{{Location: home, MountPoint: home}}
	argv, cleanup, err := passEnv(Target{Lima, "dev"}, ms, home, []string{"ANTHROPIC_API_KEY=k", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 3 || argv[0] != "AISHELL_IN_VM=1" || argv[1] != "HOME="+home || !strings.HasPrefix(argv[2], EnvEnvFile+"="+home+"/.cache/aishell/vm/env-") {
		t.Fatalf("argv %q", argv)
	}
	file := strings.TrimPrefix(argv[2], EnvEnvFile+"=")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(file); string(b) != "ANTHROPIC_API_KEY=k\x00" {
		t.Errorf("the file holds %q", b)
	}
	cleanup()
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("cleanup left the file")
	}
	argv, _, _ = passEnv(Target{Colima, "default"}, []Mount{{Location: "/elsewhere", MountPoint: "/elsewhere"}}, home, []string{"ANTHROPIC_API_KEY=k"})
	if strings.Join(argv, " ") != "AISHELL_IN_VM=1 ANTHROPIC_API_KEY=k" {
		t.Errorf("home not mounted: %q", argv)
	}
}
