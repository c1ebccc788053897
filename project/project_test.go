package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aishell/aishell/errs"
)

func TestRootRefusesSystemDirs(t *testing.T) {
	for _, d := range []string{"/", "/usr", "/etc", "/proc/self"} {
		if _, err := Root(d, Where{}); err == nil {
			t.Errorf("%s accepted as a project", d)
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "repo", ".git"), 0o755)
	os.MkdirAll(filepath.Join(dir, "repo", "a", "b"), 0o755)
	got, err := Root(filepath.Join(dir, "repo", "a", "b"), Where{})
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

func TestRootRefusesHomeAndStopsBelowIt(t *testing.T) {
	base, _ := filepath.EvalSymlinks(t.TempDir())
	home := filepath.Join(base, "home", "alice")
	os.MkdirAll(filepath.Join(home, ".git"), 0o755) // a dotfiles repository in ~
	os.MkdirAll(filepath.Join(home, "notes", "sub"), 0o755)
	w := Where{Home: home}

	// A directory under a dotfiles home is its own project, not the whole home.
	got, err := Root(filepath.Join(home, "notes", "sub"), w)
	if err != nil || got != filepath.Join(home, "notes", "sub") {
		t.Errorf("under a dotfiles home: %q, %v", got, err)
	}
	// The home itself, and a directory above it, are refused with a hint naming the flag.
	for _, d := range []string{home, filepath.Join(base, "home")} {
		_, err := Root(d, w)
		if err == nil || !strings.Contains(errs.HintOf(err), AllowHomeFlag) {
			t.Errorf("%s: %v (hint %q)", d, err, errs.HintOf(err))
		}
		if got, err := Root(d, Where{Home: home, AllowHome: true}); err != nil || got != d {
			t.Errorf("%s with AllowHome: %q, %v", d, got, err)
		}
	}
	// Elsewhere nothing changes: a repository outside home is found from below.
	os.MkdirAll(filepath.Join(base, "src", "repo", ".git"), 0o755)
	os.MkdirAll(filepath.Join(base, "src", "repo", "x"), 0o755)
	if got, err := Root(filepath.Join(base, "src", "repo", "x"), w); err != nil || got != filepath.Join(base, "src", "repo") {
		t.Errorf("outside home: %q, %v", got, err)
	}
}
