package config

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aishell/aishell/errs"
)

func TestLoadMissingIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil || len(f.Harnesses) != 0 {
		t.Fatalf("got %+v, %v", f, err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "config.yaml")
	in := File{BaseImage: "mirror.example/debian:bookworm-slim", Harnesses: map[string]HarnessChoice{
		"claude": {Version: "latest", Resolved: "2.1.0"},
		"codex":  {Version: "0.1.0", Resolved: "0.1.0"},
	}}
	if err := Save(p, in, Person{Mode: ModeRoot}); err != nil {
		t.Fatal(err)
	}
	out, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if out.BaseImage != in.BaseImage || out.Harnesses["claude"] != in.Harnesses["claude"] || out.Harnesses["codex"] != in.Harnesses["codex"] {
		t.Errorf("round trip: %+v", out)
	}
	if names := out.HarnessNames(); len(names) != 2 || names[0] != "claude" || names[1] != "codex" {
		t.Errorf("names %v", names)
	}
}

func TestLoadBadYAMLIsUsageError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(p, []byte("harnesses: [oops"), 0o644)
	_, err := Load(p)
	var ue *errs.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("want UsageError, got %v", err)
	}
}

func TestUserPathHonoursXDG(t *testing.T) {
	alice := Person{Mode: ModeRootless, UID: 1000, Name: "alice", Home: "/home/alice"}
	if p := UserPath(alice, env(map[string]string{"XDG_CONFIG_HOME": "/x/cfg"})); p != "/x/cfg/aishell/config.yaml" {
		t.Errorf("got %s", p)
	}
	if p := UserPath(alice, env(nil)); p != "/home/alice/.config/aishell/config.yaml" {
		t.Errorf("got %s", p)
	}
}

func TestUserPathUnderSudoIsThePersons(t *testing.T) {
	alice := Person{Mode: ModeSudo, UID: 1000, Name: "alice", Home: "/home/alice"}
	// root's own XDG_CONFIG_HOME is not alice's config.
	if p := UserPath(alice, env(map[string]string{"XDG_CONFIG_HOME": "/root/.config"})); p != "/home/alice/.config/aishell/config.yaml" {
		t.Errorf("root's XDG_CONFIG_HOME used under sudo: %s", p)
	}
	// One kept by sudo -E from alice's environment is hers.
	if p := UserPath(alice, env(map[string]string{"XDG_CONFIG_HOME": "/home/alice/cfg"})); p != "/home/alice/cfg/aishell/config.yaml" {
		t.Errorf("got %s", p)
	}
}

func TestSaveUnderSudoGivesFilesToThePerson(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	p := filepath.Join(t.TempDir(), "home", ".config", "aishell", "config.yaml")
	alice := Person{Mode: ModeSudo, UID: 4242, GID: 4343, Name: "alice"}
	if err := Save(p, File{PassEnv: []string{"X"}}, alice); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, filepath.Dir(p), filepath.Dir(filepath.Dir(p))} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("%s owned by %d:%d, want 4242:4343", path, st.Uid, st.Gid)
		}
	}
}

func TestCABundlePath(t *testing.T) {
	has := map[string]bool{"/cfg.pem": true, "/env.pem": true, "/etc/ssl/certs/ca-certificates.crt": true}
	exists := func(p string) bool { return has[p] }
	getenv := env(map[string]string{"SSL_CERT_FILE": "/env.pem"})
	if got := (File{CABundle: "/cfg.pem"}).CABundlePath(getenv, exists); got != "/cfg.pem" {
		t.Errorf("config first: %s", got)
	}
	if got := (File{}).CABundlePath(getenv, exists); got != "/env.pem" {
		t.Errorf("env second: %s", got)
	}
	if got := (File{}).CABundlePath(env(nil), exists); got != "/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("debian default: %s", got)
	}
	if got := (File{CABundle: "/missing.pem"}).CABundlePath(env(nil), func(string) bool { return false }); got != "" {
		t.Errorf("none: %s", got)
	}
}
