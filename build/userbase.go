package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/project"
)

// The user base is a Dockerfile of the person's own, beside their config file, built FROM the
// foundation into a personal base image that every project's extension builds on and that
// runs when a project has none. It is the person's own file: no approval is asked, and its
// build gets the CA bundle as aishell's own builds do.

// UserBaseFile is the user base's file name, in the directory of the user's config.
const UserBaseFile = "Dockerfile"

// LegacyUserBase is where the ancestor (the Docker aishell) read it, relative to the home.
const LegacyUserBase = ".aishell/Dockerfile"

// Familiar names of the foundation as a Dockerfile's FROM line writes them, which BuildKit's
// named contexts match.
const (
	shortFoundation = "aishell:foundation"
	shortBase       = "aishell:base"
)

// UserBaseRef is the person's base image: aishell:user-<hash12 of the Dockerfile's path>. The
// path holds the person's home (or XDG_CONFIG_HOME), so root, each sudo user and each
// XDG_CONFIG_HOME on one containerd namespace have their own name, and none moves another's.
func UserBaseRef(dockerfile string) string {
	return FoundationRepo + ":user-" + labels.ProjectKey(dockerfile)
}

// UserBasePath is where the person's user base is: the Dockerfile in the directory of their
// config file, else (legacy true) the ancestor's ~/.aishell/Dockerfile when only that exists;
// "" when there is neither.
func UserBasePath(configPath, home string) (path string, legacy bool) {
	path = filepath.Join(filepath.Dir(configPath), UserBaseFile)
	if plainFile(path) {
		return path, false
	}
	if home != "" {
		if old := filepath.Join(home, LegacyUserBase); plainFile(old) {
			return old, true
		}
	}
	return "", false
}

// plainFile reports whether path is there (a link is followed: the file is the person's own,
// and dotfile managers link it); anything there that is not a regular file is reported by the
// read that follows.
func plainFile(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// LoadUserBase reads and checks the person's user base (UserBasePath): nil when they have
// none. It is checked as an extension is (its final stage FROM aishell:foundation or
// aishell:base, which here both mean the foundation), with its own directory as the build
// context, and needs no approval.
func LoadUserBase(configPath, home string) (e *Extension, legacy bool, err error) {
	path, legacy := UserBasePath(configPath, home)
	if path == "" {
		return nil, false, nil
	}
	dir := filepath.Dir(path)
	content, err := project.ReadRegular(path, 0)
	if err != nil {
		return nil, legacy, errs.WithHint(fmt.Errorf("read %s: %w", path, err), "make it a plain file")
	}
	e = &Extension{Project: dir, Path: path, Content: content, ContextDir: dir, user: true}
	if err := e.parse(); err != nil {
		return nil, legacy, err
	}
	if _, err := e.Approve(); err != nil {
		return nil, legacy, err
	}
	return e, legacy, nil
}

// UserBaseAlive reports whether a user base's Dockerfile may still be used: only one that is
// certainly gone is dead; an unreadable path (another person's home) counts as alive.
func UserBaseAlive(dockerfile string) bool {
	_, err := os.Stat(dockerfile)
	return dockerfile == "" || !errors.Is(err, fs.ErrNotExist)
}
