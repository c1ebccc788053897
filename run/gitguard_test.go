package run

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aishell/aishell/config"
)

func TestGuardGit(t *testing.T) {
	proj := t.TempDir()
	for _, d := range []string{".git/objects", ".git/modules/lib/objects", ".git/modules/lib/modules/deep/objects"} {
		os.MkdirAll(filepath.Join(proj, d), 0o755)
	}
	for _, f := range []string{".git/config", ".git/modules/lib/config", ".git/modules/lib/modules/deep/config"} {
		os.WriteFile(filepath.Join(proj, f), []byte("[core]\n"), 0o644)
	}
	g, err := guardGit(proj, config.Person{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git/config", ".git/hooks", ".git/worktrees", ".git/modules/lib/config", ".git/modules/lib/hooks", ".git/modules/lib/modules/deep/config"} {
		if !slices.Contains(g.ReadOnly, filepath.Join(proj, want)) {
			t.Errorf("%s not read-only: %q", want, g.ReadOnly)
		}
	}
	// A missing hooks directory is created, so that the agent cannot create it.
	if fi, err := os.Stat(filepath.Join(proj, ".git/hooks")); err != nil || !fi.IsDir() {
		t.Errorf(".git/hooks not created: %v", err)
	}
	if len(g.Dirs) != 3 {
		t.Errorf("git dirs %q", g.Dirs)
	}
	// Missing ones are created empty first: else the agent could create them.
	bare := t.TempDir()
	os.MkdirAll(filepath.Join(bare, ".git"), 0o755)
	if _, err := guardGit(bare, config.Person{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config", "hooks", "worktrees"} {
		if _, err := os.Lstat(filepath.Join(bare, ".git", name)); err != nil {
			t.Errorf(".git/%s not created: %v", name, err)
		}
	}

	// A worktree's .git file names its git directory: it is read-only itself.
	wt := t.TempDir()
	os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: /elsewhere/.git/worktrees/wt\n"), 0o644)
	if g, err := guardGit(wt, config.Person{}); err != nil || !slices.Equal(g.ReadOnly, []string{filepath.Join(wt, ".git")}) {
		t.Errorf("worktree: %+v, %v", g, err)
	}
	// A control file that is a link cannot be protected: refused.
	linked := t.TempDir()
	os.MkdirAll(filepath.Join(linked, ".git"), 0o755)
	os.WriteFile(filepath.Join(linked, "evil-config"), nil, 0o644)
	os.Symlink(filepath.Join(linked, "evil-config"), filepath.Join(linked, ".git/config"))
	if _, err := guardGit(linked, config.Person{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked .git/config: %v", err)
	}
	// A .git that is a link: refused (the agent could point it elsewhere).
	dotlink := t.TempDir()
	os.MkdirAll(filepath.Join(dotlink, "real.git"), 0o755)
	os.Symlink("real.git", filepath.Join(dotlink, ".git"))
	if _, err := guardGit(dotlink, config.Person{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked .git: %v", err)
	}
	// No repository: nothing to protect.
	if g, err := guardGit(t.TempDir(), config.Person{}); err != nil || len(g.ReadOnly)+len(g.Dirs) != 0 {
		t.Errorf("no repository: %+v, %v", g, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestGitGuardRemovesPlantedCommondir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".git")
	os.MkdirAll(dir, 0o755)
	planted := filepath.Join(dir, redirectFile)
	os.WriteFile(planted, []byte("/tmp/evil\n"), 0o644) // left by an earlier run
	var warn syncBuffer
	stop := gitGuard{Dirs: []string{dir}}.watch(&warn, nil)
	if _, err := os.Lstat(planted); err == nil {
		t.Error("a commondir present before the run was kept")
	}
	// Planted while the run lasts: gone without waiting for the end.
	os.WriteFile(planted, []byte("/tmp/evil\n"), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Lstat(planted); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a commondir planted during the run was not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Other files in .git are left alone.
	os.WriteFile(filepath.Join(dir, "index.lock"), nil, 0o644)
	stop(t.Context())
	if _, err := os.Lstat(filepath.Join(dir, "index.lock")); err != nil {
		t.Error("the guard removed a file that is not commondir")
	}
	if n := strings.Count(warn.String(), "removed "+planted); n != 2 {
		t.Errorf("warnings:\n%s", warn.String())
	}
}

// A linked worktree gets its repository's git directory guarded like a repository's own, its
// own git directory read-write after it, and the files naming them read-only; a .git file
// naming a worktree of another repository that does not name it back is refused.
func TestGuardGitLinkedWorktree(t *testing.T) {
	dir := t.TempDir()
	main, wtDir := filepath.Join(dir, "main"), filepath.Join(dir, "wt")
	for _, args := range [][]string{{"init", "-q", main}, {"-C", main, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"},
		{"-C", main, "worktree", "add", "-q", wtDir}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	main, _ = filepath.EvalSymlinks(main)
	wtDir, _ = filepath.EvalSymlinks(wtDir)
	g, err := guardGit(wtDir, config.Person{})
	if err != nil {
		t.Fatal(err)
	}
	common := filepath.Join(main, ".git")
	own := filepath.Join(common, "worktrees", "wt")
	wantRO := []string{filepath.Join(wtDir, ".git"), filepath.Join(common, "config"), filepath.Join(common, "hooks"), filepath.Join(common, "worktrees")}
	if !slices.Equal(g.ReadOnly, wantRO) || !slices.Equal(g.Dirs, []string{common}) || g.Worktree != own ||
		!slices.Equal(g.WorktreeFiles, []string{filepath.Join(own, "commondir"), filepath.Join(own, "gitdir"), filepath.Join(own, "config.worktree")}) {
		t.Errorf("guard %+v", g)
	}

	// Another project whose .git file names main's worktree: main's worktree names wt back, not it.
	forged := t.TempDir()
	os.WriteFile(filepath.Join(forged, ".git"), []byte("gitdir: "+own+"\n"), 0o644)
	if _, err := guardGit(forged, config.Person{}); err == nil || !strings.Contains(err.Error(), "names this project back") {
		t.Errorf("a forged .git file: %v", err)
	}
	// One naming a repository's own git directory (no commondir): nothing outside is mounted.
	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, ".git"), []byte("gitdir: "+common+"\n"), 0o644)
	if g, err := guardGit(plain, config.Person{}); err != nil || len(g.Dirs) != 0 || g.Worktree != "" {
		t.Errorf(".git naming a repository: %+v, %v", g, err)
	}
}
