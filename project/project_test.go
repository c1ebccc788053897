package project

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootRefusesSystemDirs(t *testing.T) {
	for _, d := range []string{"/", "/usr", "/etc", "/proc/self"} {
		if _, err := Root(d); err == nil {
			t.Errorf("%s accepted as a project", d)
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "repo", ".git"), 0o755)
	os.MkdirAll(filepath.Join(dir, "repo", "a", "b"), 0o755)
	got, err := Root(filepath.Join(dir, "repo", "a", "b"))
	want, _ := filepath.EvalSymlinks(filepath.Join(dir, "repo"))
	if err != nil || got != want {
		t.Errorf("git root: %q, %v; want %q", got, err, want)
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		path, dir string
		want      bool
	}{{"/a/b", "/a", true}, {"/a", "/a", true}, {"/ab", "/a", false}, {"/", "/a", false}, {"/a/../b", "/a", false}} {
		if got := Within(c.path, c.dir); got != c.want {
			t.Errorf("Within(%q, %q) = %v", c.path, c.dir, got)
		}
	}
}
