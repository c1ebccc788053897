package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNPMCacheID(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aishell", "config.yaml")
	p := Person{Mode: ModeRoot}
	id := NPMCacheID(cfg, p)
	if !validNPMCacheID(id) {
		t.Fatalf("id %q", id)
	}
	if again := NPMCacheID(cfg, p); again != id {
		t.Errorf("second call %q, first %q: the id must be kept", again, id)
	}
	if other := NPMCacheID(filepath.Join(t.TempDir(), "config.yaml"), p); other == id {
		t.Error("two config dirs share an npm cache id")
	}
	// A damaged file is replaced by a new id.
	os.WriteFile(filepath.Join(filepath.Dir(cfg), npmCacheFile), []byte("aishell-npm-../x\n"), 0o644)
	if fixed := NPMCacheID(cfg, p); !validNPMCacheID(fixed) || fixed == id {
		t.Errorf("after damage: %q", fixed)
	}
}
