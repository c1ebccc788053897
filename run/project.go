package run

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// systemDirs are never mounted as a project: they would shadow the container's own.
var systemDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
	"/proc", "/run", "/sbin", "/sys", "/usr", "/var"}

// ProjectDir is the directory mounted read-write at its own path: the git work tree that
// holds cwd, or cwd itself.
func ProjectDir(cwd string) (string, error) {
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
	dir := cwd
	for d := cwd; ; d = filepath.Dir(d) {
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
	return dir, nil
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
