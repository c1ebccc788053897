package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// ignore is a build context's .dockerignore, applied as buildkitd applies it, so that what is
// hashed, approved and staged is what the build can see: an excluded file is neither hashed nor
// copied into the staged context.
type ignore struct {
	pm *patternmatcher.PatternMatcher
}

// readIgnore reads the context's .dockerignore; nil when it has none (or it is not a plain file).
func readIgnore(root *os.Root) (*ignore, error) {
	fi, err := root.Lstat(dockerignore)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	content, err := root.ReadFile(dockerignore)
	if err != nil {
		return nil, err
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("read patterns: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	return &ignore{pm: pm}, nil
}

// skip reports whether the context entry name is excluded, and returns fs.SkipDir for an
// excluded directory no exception (a `!` pattern) can reach into. The .dockerignore file itself
// is always kept: buildkitd reads it from the context.
func (ig *ignore) skip(name string, d fs.DirEntry) (bool, error) {
	if ig == nil || name == "." || name == dockerignore {
		return false, nil
	}
	matched, err := ig.pm.MatchesOrParentMatches(name)
	if err != nil || !matched {
		return false, err
	}
	if d.IsDir() && !ig.pm.Exclusions() {
		return true, fs.SkipDir
	}
	return true, nil
}
