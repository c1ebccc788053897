// Package project finds the project a command runs in: the directory mounted read-write at its
// own path, which is the git work tree holding the current directory, or the directory itself.
// The person's home is never a project by accident: the search for a work tree stops below it
// (a dotfiles repository in ~ does not make ~ the project), and a project that is the home or
// holds it is refused unless the person insists.
package project

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aishell/aishell/errs"
)

// systemDirs are never mounted as a project: they would shadow the container's own.
var systemDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
	"/proc", "/run", "/sbin", "/sys", "/usr", "/var"}

// Where says whose home bounds the search, and whether a project that is that home (or holds
// it) was insisted on.
type Where struct {
	Home      string // the person's home; "" or "/" for no bound
	AllowHome bool   // mount the home (or a directory above it) as the project anyway
}

// AllowHomeFlag is the flag that insists on a home project, for the hint.
const AllowHomeFlag = "--allow-home"

// Root is the project of cwd: the git work tree that holds it, or cwd itself, with symbolic
// links resolved. A system directory (/, /usr, /proc/…) is refused: mounted over the
// container's own it would hide it. The search for .git stops below the home, and a project
// that is the home or above it is refused unless w.AllowHome.
func Root(cwd string, w Where) (string, error) {
	cwd, err := filepath.Abs(cwd)
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(cwd); err == nil {
		cwd = resolved
	}
	fi, err := os.Stat(cwd)
	if err != nil {
		return "", fmt.Errorf("project directory %s: %w", cwd, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("project directory %s is not a directory", cwd)
	}
	home := resolvedHome(w.Home)
	dir := cwd
	for d := cwd; d != home; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			dir = d
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := checkMountable(dir); err != nil {
		return "", err
	}
	if home != "" && !w.AllowHome && Within(home, dir) {
		what := "your home directory"
		if dir != home {
			what = "a directory that holds your home " + home
		}
		return "", errs.WithHint(fmt.Errorf("refusing to mount %s (%s) read-write as the project: ~/.ssh, ~/.aws and every other project would be in reach of the agent", dir, what),
			"cd into a project directory; pass "+AllowHomeFlag+" to insist")
	}
	return dir, nil
}

// resolvedHome is home with symbolic links resolved, or "" when it bounds nothing.
func resolvedHome(home string) string {
	if home == "" || filepath.Clean(home) == "/" {
		return ""
	}
	if r, err := filepath.EvalSymlinks(home); err == nil {
		return r
	}
	return filepath.Clean(home)
}

func checkMountable(dir string) error {
	for _, s := range systemDirs {
		if dir == filepath.Clean(s) {
			return fmt.Errorf("cannot mount %s as the project: it would hide the container's own %s; run aishell inside a project directory", dir, dir)
		}
	}
	for _, prefix := range []string{"/proc/", "/sys/", "/dev/"} {
		if strings.HasPrefix(dir+"/", prefix) {
			return fmt.Errorf("cannot mount %s as the project: it is a kernel filesystem; run aishell inside a project directory", dir)
		}
	}
	return nil
}

// Current is the project of the current directory, with its working directory (symbolic links
// resolved). Errors carry the next step.
func Current(w Where) (root, cwd string, err error) {
	cwd, err = os.Getwd()
	if err != nil {
		return "", "", errs.WithHint(fmt.Errorf("current directory: %w", err), "cd into a project directory that exists")
	}
	root, err = Root(cwd, w)
	if err != nil {
		if errs.HintOf(err) != "" {
			return "", "", err
		}
		return "", "", errs.WithHint(err, "cd into your project, then run aishell again")
	}
	if resolved, err := filepath.EvalSymlinks(cwd); err == nil {
		cwd = resolved
	}
	return root, cwd, nil
}

// Within reports whether path is dir or below it.
func Within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
