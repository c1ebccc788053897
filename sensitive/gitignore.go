package sensitive

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aishell/aishell/config"
)

// markUnignored sets Unignored on the findings git would not ignore: tracked files, and those
// `git add .` would add. One `git check-ignore` for all of them (a few milliseconds); it is
// exact where a parser of .gitignore would not be (nested files, negations, the global
// excludes file, what is already tracked). Outside a git work tree, without git, or when git
// fails, nothing is marked: the report then says nothing about git.
func markUnignored(ctx context.Context, root string, p config.Person, found []Finding) {
	if len(found) == 0 || !isGitRepo(root) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var in bytes.Buffer
	for _, f := range found {
		if !strings.HasPrefix(f.Path, ".git/") { // git's own files are not in the work tree
			in.WriteString(f.Path)
			in.WriteByte(0)
		}
	}
	if in.Len() == 0 || !plainIgnoreFiles(root, found) {
		return
	}
	cmd := gitCommand(ctx, root, p, "check-ignore", "--stdin", "-z")
	cmd.Stdin = &in
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	// Exit status 1: none of them is ignored. Anything else but 0 is a failure.
	if err != nil && cmd.ProcessState == nil || err != nil && cmd.ProcessState.ExitCode() != 1 {
		return
	}
	ignored := map[string]bool{}
	for _, p := range strings.Split(out.String(), "\x00") {
		if p != "" {
			ignored[p] = true
		}
	}
	for i := range found {
		found[i].Unignored = !ignored[found[i].Path] && !strings.HasPrefix(found[i].Path, ".git/")
	}
}

// plainIgnoreFiles reports whether every .gitignore git would read for the found paths (in
// each directory from root down to theirs) is a regular file or absent: git would block on a
// FIFO planted as one, for as long as the check waits.
func plainIgnoreFiles(root string, found []Finding) bool {
	seen := map[string]bool{}
	for _, f := range found {
		for dir := filepath.Dir(f.Path); ; dir = filepath.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				if fi, err := os.Lstat(filepath.Join(root, dir, ".gitignore")); err == nil && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
					return false
				}
			}
			if dir == "." || dir == "/" {
				break
			}
		}
	}
	return true
}
