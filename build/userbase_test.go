package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUserBasePlaces(t *testing.T) {
	cfgDir, home := t.TempDir(), t.TempDir()
	cfg := filepath.Join(cfgDir, "config.yaml")
	if e, _, err := LoadUserBase(cfg, home); e != nil || err != nil {
		t.Fatalf("none: %v %v", e, err)
	}
	os.MkdirAll(filepath.Join(home, ".aishell"), 0o755)
	os.WriteFile(filepath.Join(home, LegacyUserBase), []byte("FROM aishell:base\nRUN echo old\n"), 0o644)
	e, legacy, err := LoadUserBase(cfg, home)
	if err != nil || !legacy || e.Path != filepath.Join(home, LegacyUserBase) || e.ContextDir != filepath.Join(home, ".aishell") {
		t.Fatalf("legacy: %+v %v %v", e, legacy, err)
	}
	os.WriteFile(filepath.Join(cfgDir, UserBaseFile), []byte("FROM aishell:foundation\nCOPY tools/ /opt/tools/\n"), 0o644)
	os.MkdirAll(filepath.Join(cfgDir, "tools"), 0o755)
	os.WriteFile(filepath.Join(cfgDir, "tools", "a"), []byte("a"), 0o644)
	e, legacy, err = LoadUserBase(cfg, home)
	if err != nil || legacy || e.Path != filepath.Join(cfgDir, UserBaseFile) || !e.approved || !e.user {
		t.Fatalf("new place wins: %+v %v %v", e, legacy, err)
	}
	if e.Ref() != UserBaseRef(e.Path) || !strings.HasPrefix(e.Ref(), FoundationRepo+":user-") || UserBaseRef(filepath.Join(home, LegacyUserBase)) == e.Ref() {
		t.Errorf("refs: %s", e.Ref())
	}
	// It is checked as an extension is.
	os.WriteFile(filepath.Join(cfgDir, UserBaseFile), []byte("FROM debian\n"), 0o644)
	if _, _, err := LoadUserBase(cfg, home); err == nil || !strings.Contains(err.Error(), "final stage") {
		t.Errorf("user base FROM debian: %v", err)
	}
}
