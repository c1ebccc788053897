package run

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/protect"
)

// A repository's control files decide what git runs on the host: hooks, and config keys such
// as core.hooksPath, core.fsmonitor, core.sshCommand or a diff driver. The project is mounted
// read-write, so these are mounted read-only over it; objects, refs, the index and HEAD stay
// writable and commits work inside.
//
// A file git honours that does not exist yet cannot be made read-only (a mount point would
// have to be created on the host): "commondir" in a git directory makes git read its config
// and hooks from another directory, so one planted in .git would bring a config of the agent's
// own. None belongs in a repository's own .git or in a submodule's, so aishell removes one that
// appears there, as soon as it appears (a watch for the run's lifetime) and before and after the
// run.

// gitGuard is a project's git directories and what protects them.
type gitGuard struct {
	ReadOnly []string // host paths to mount read-only over their place in the project
	// Dirs are the git directories (the repository's and its submodules'): each is bound
	// read-write onto itself before ReadOnly (a mount point cannot be renamed, so the agent
	// cannot move .git aside, its read-only files with it, and make a new one), and kept free of
	// a commondir.
	Dirs []string
	// Worktree is a linked worktree's own git directory (HEAD, index), outside the project:
	// bound read-write after ReadOnly (which makes its repository's worktrees/ read-only), with
	// WorktreeFiles, which name its repository and itself, read-only over it.
	Worktree      string
	WorktreeFiles []string
}

// redirectFile is the file in a git directory that points git at another directory's config
// and hooks (it belongs only in a linked worktree's directory under .git/worktrees/).
const redirectFile = "commondir"

// guardGit finds the project's git directories and makes sure each has a config, a hooks
// directory and (the repository's) a worktrees directory, empty ones owned by the person when
// missing: else the agent could create them. worktrees/ is read-only as a whole: each linked
// worktree's directory there names a commondir of its own. A .git that is a file (a linked
// worktree or a submodule's checkout) is itself made read-only, since it names the git
// directory; a linked worktree's repository is guarded the same way (linkedWorktree). Links are
// refused (.git itself, or among the control files): a mount over a link protects its target,
// not the name git reads, and the agent can point the link elsewhere.
func guardGit(proj string, p config.Person) (gitGuard, error) {
	var g gitGuard
	dotgit := filepath.Join(proj, ".git")
	fi, err := os.Lstat(dotgit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return g, nil
	case err != nil:
		return g, fmt.Errorf("protect %s: %w", dotgit, err)
	case fi.Mode().IsRegular():
		g.ReadOnly = append(g.ReadOnly, dotgit)
		wt, err := linkedWorktree(proj, dotgit)
		if err != nil || wt.GitDir == "" {
			return g, err
		}
		if err := g.guardRepository(wt.Common, p); err != nil {
			return g, err
		}
		g.Worktree = wt.GitDir
		for _, name := range []string{"commondir", "gitdir", "config.worktree"} {
			path := filepath.Join(wt.GitDir, name)
			if err := protect.Placeholder(harness.Protected{Path: path}, p); err != nil {
				return g, err
			}
			if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
				return g, errs.WithHint(fmt.Errorf("%s is not a plain file, which aishell cannot keep read-only for the agent", path), "replace it with the file git wrote")
			}
			g.WorktreeFiles = append(g.WorktreeFiles, path)
		}
		return g, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		return g, errs.WithHint(fmt.Errorf("%s is a symbolic link, which the agent could point at a git directory of its own", dotgit),
			"replace the link with the directory it points to (or a .git file: gitdir: PATH)")
	}
	return g, g.guardRepository(dotgit, p)
}

// guardRepository guards the git directory top and its submodules' (see guardGit).
func (g *gitGuard) guardRepository(top string, p config.Person) error {
	dirs := []string{top}
	dirs = append(dirs, submoduleGitDirs(filepath.Join(top, "modules"))...)
	for i, d := range dirs {
		names := []string{"config", "hooks"}
		if i == 0 {
			names = append(names, "worktrees")
		}
		for _, name := range names {
			path := filepath.Join(d, name)
			fi, err := os.Lstat(path)
			if errors.Is(err, fs.ErrNotExist) {
				if err := protect.Placeholder(harness.Protected{Path: path, Dir: name != "config"}, p); err != nil {
					return err
				}
				fi, err = os.Lstat(path)
			}
			if err != nil {
				return fmt.Errorf("protect %s: %w", path, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return errs.WithHint(fmt.Errorf("%s is a symbolic link, which aishell cannot keep read-only for the agent", path),
					"replace the link with the file it points to")
			}
			g.ReadOnly = append(g.ReadOnly, path)
		}
		g.Dirs = append(g.Dirs, d)
	}
	return nil
}

// worktree is a linked worktree's git directory (under its repository's .git/worktrees/) and
// the repository's git directory, where objects, refs, config and hooks are.
type worktree struct{ GitDir, Common string }

// linkedWorktree reads the .git file of the project at proj. When it names a linked worktree's
// git directory, that directory and the repository's are returned, once checked to belong
// together: the directory is <common>/worktrees/<name>, its commondir names <common>, which
// holds objects and HEAD, and its gitdir file names this .git back. A .git file naming
// something else (a submodule's checkout: no commondir), or nothing, gives an empty worktree: nothing
// outside the project is mounted. One naming a worktree that does not name this project back is
// refused: a project's .git file cannot bring another repository of the host into the sandbox.
func linkedWorktree(proj, dotgit string) (worktree, error) {
	var wt worktree
	b, err := readGitFile(dotgit)
	if err != nil {
		return wt, fmt.Errorf("read %s: %w", dotgit, err)
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:")
	if !ok {
		return wt, errs.WithHint(fmt.Errorf("%s is a file that does not say gitdir: PATH", dotgit), "fix or remove it")
	}
	gitdir := strings.TrimSpace(target)
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(proj, gitdir)
	}
	if gitdir, err = filepath.EvalSymlinks(gitdir); errors.Is(err, fs.ErrNotExist) {
		return wt, nil // git inside says what is wrong; nothing of the host is mounted
	} else if err != nil {
		return wt, errs.WithHint(fmt.Errorf("%s names %s: %w", dotgit, target, err), "repair the worktree on the host: git worktree repair")
	}
	cd, err := readGitFile(filepath.Join(gitdir, "commondir"))
	if errors.Is(err, fs.ErrNotExist) {
		return wt, nil
	}
	if err != nil {
		return wt, fmt.Errorf("read %s: %w", filepath.Join(gitdir, "commondir"), err)
	}
	common := strings.TrimSpace(string(cd))
	if !filepath.IsAbs(common) {
		common = filepath.Join(gitdir, common)
	}
	common, _ = filepath.EvalSymlinks(common)
	back, _ := readGitFile(filepath.Join(gitdir, "gitdir"))
	backPath, _ := filepath.EvalSymlinks(strings.TrimSpace(string(back)))
	selfPath, _ := filepath.EvalSymlinks(dotgit)
	if common == "" || filepath.Dir(gitdir) != filepath.Join(common, "worktrees") || !isDir(filepath.Join(common, "objects")) ||
		!isFile(filepath.Join(common, "HEAD")) || backPath == "" || backPath != selfPath {
		return wt, errs.WithHint(fmt.Errorf("%s names %s, which is not a worktree of a repository that names this project back; not mounting it", dotgit, gitdir),
			"if this is your worktree, run `git worktree repair` in it on the host")
	}
	return worktree{GitDir: gitdir, Common: common}, nil
}

// submoduleGitDirs are the git directories under .git/modules (nested submodules included):
// directories holding a config and an objects directory.
func submoduleGitDirs(modules string) []string {
	var dirs []string
	filepath.WalkDir(modules, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != modules && isFile(filepath.Join(path, "config")) && isDir(filepath.Join(path, "objects")) {
			dirs = append(dirs, path)
			return fs.SkipDir // its own modules are looked at below
		}
		if strings.Count(strings.TrimPrefix(path, modules), "/") > 8 {
			return fs.SkipDir
		}
		return nil
	})
	for _, d := range append([]string(nil), dirs...) {
		dirs = append(dirs, submoduleGitDirs(filepath.Join(d, "modules"))...)
	}
	return dirs
}

func isFile(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

// sweep removes a commondir from each git directory and says so on warn.
func (g gitGuard) sweep(warn io.Writer) {
	for _, d := range g.Dirs {
		removeRedirect(filepath.Join(d, redirectFile), warn)
	}
}

func removeRedirect(path string, warn io.Writer) {
	if _, err := os.Lstat(path); err != nil {
		return
	}
	if err := os.Remove(path); err != nil {
		fmt.Fprintf(warn, "aishell: warning: %s would make git read another directory's config and hooks, and could not be removed: %v; remove it before you use git here\n", path, err)
		return
	}
	fmt.Fprintf(warn, "aishell: removed %s, which would have made git on the host read another directory's config and hooks\n", path)
}

// readGitFile reads a small file of git's (a .git file, commondir, gitdir): a regular file of
// at most 64 KiB.
func readGitFile(path string) ([]byte, error) { return project.ReadRegular(path, 64<<10) }
