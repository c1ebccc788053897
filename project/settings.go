package project

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// Settings are the run settings of the project at root: its .aishell/config.yaml merged over
// the user's config (read from userPath). The project's file is untrusted: one that would widen
// what the container sees of the host (config.Widenings; harnessEnv are the harnesses' key
// variables) is refused unless the user's config trusts the project, by path or by the file's
// content. A .aishell/ or config file that is a symbolic link or not a plain file is refused.
func Settings(root string, user config.File, userPath, home string, harnessEnv []string) (config.Settings, error) {
	path := filepath.Join(root, config.ProjectFile)
	content, err := ReadPlain(root, config.ProjectFile)
	if errors.Is(err, fs.ErrNotExist) {
		return config.Merge(user, userPath, config.File{}, ""), nil
	}
	if err != nil {
		return config.Settings{}, errs.WithHint(fmt.Errorf("read %s: %w", path, err), "make .aishell/ a directory and .aishell/config.yaml a plain file in the project")
	}
	proj, err := config.Parse(path, content)
	if err != nil {
		return config.Settings{}, err
	}
	s := config.Merge(user, userPath, proj, path)
	if s.Trust = user.Trusts(root, home, content); s.Trust != "" {
		return s, nil
	}
	if s.Widened = config.Widenings(user.Network, s.Project, root, home, harnessEnv); len(s.Widened) > 0 {
		return s, errs.WithHint(fmt.Errorf("%s asks for more of the host than the project, and you have not trusted it: %s", path, s.Widened),
			"read the file, then `aishell config trust` (this content) or `aishell config trust --path` (whatever it says later); or remove those entries")
	}
	return s, nil
}
