package sensitive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// logArgs is the history as git shows it to Scan: every commit of every ref, with the lines
// each added to each file (no context; a deleted file adds none, and a merge shows no diff, as
// in gitleaks), with git's own diff (no external diff program, no textconv filter, no signature
// check, and submodules as one line: diff.submodule=diff would run git in a submodule, whose own
// config could name an external diff).
var logArgs = []string{"log", "--all", "--full-history", "-p", "-U0", "-M",
	"--no-color", "--no-ext-diff", "--no-textconv", "--no-show-signature", "--submodule=short",
	"--src-prefix=a/", "--dst-prefix=b/", "--format=commit %H"}

// historyFragments runs git log on the project at root and sends, for each commit and file, the
// lines the commit added to it to out (one fragment per file, its lines numbered as in the
// file), and for a binary file its name. It returns how many commits it read.
func historyFragments(ctx context.Context, root string, p config.Person, out chan<- fragment) (int, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return 0, errs.WithHint(fmt.Errorf("scan the history of %s: git is not installed", root), "install git, or scan the files only with --no-history")
	}
	cmd := gitCommand(ctx, root, p, logArgs...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("git log: %w", err)
	}
	commits, perr := parseLog(stdout, func(f fragment) bool {
		select {
		case out <- f:
			return true
		case <-ctx.Done():
			return false
		}
	})
	if perr != nil {
		io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return commits, ctx.Err()
	}
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if strings.Contains(msg, "does not have any commits") {
			return 0, nil // a repository with no commit yet: no history
		}
		return commits, errs.WithHint(fmt.Errorf("git log in %s: %v: %s", root, werr, msg), "scan the files only with --no-history")
	}
	return commits, perr
}

// parseLog reads `git log -p -U0 --format='commit %H'` and calls emit for each commit's added
// lines of each file (and each binary file, by name); it stops when emit returns false. It
// counts a hunk's lines from its header, so a line of content never passes for a header.
func parseLog(r io.Reader, emit func(fragment) bool) (commits int, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		commit, file     string
		cur              fragment
		text             strings.Builder
		oldLeft, newLeft int
		newNo            int
		stopped          bool
	)
	flush := func() {
		if cur.file != "" && len(cur.lines) > 0 && !stopped {
			cur.text = text.String()
			stopped = !emit(cur)
		}
		cur = fragment{}
		text.Reset()
	}
	for !stopped {
		line, rerr := br.ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return commits, rerr
		}
		if line == "" && rerr != nil {
			break
		}
		line = strings.TrimSuffix(line, "\n")
		if oldLeft > 0 || newLeft > 0 {
			switch {
			case strings.HasPrefix(line, "+") && newLeft > 0:
				if len(cur.lines) > 0 {
					text.WriteByte('\n')
				}
				text.WriteString(line[1:])
				cur.lines = append(cur.lines, newNo)
				newNo++
				newLeft--
				continue
			case strings.HasPrefix(line, "-") && oldLeft > 0:
				oldLeft--
				continue
			case strings.HasPrefix(line, " ") && oldLeft > 0 && newLeft > 0: // context (diff.interHunkContext)
				newNo++
				oldLeft--
				newLeft--
				continue
			case strings.HasPrefix(line, `\`): // \ No newline at end of file
				continue
			}
			oldLeft, newLeft = 0, 0 // a short hunk: read the line as a header
		}
		switch {
		case strings.HasPrefix(line, "commit ") && isHex(line[len("commit "):]):
			flush()
			commit, file = line[len("commit "):], ""
			commits++
		case strings.HasPrefix(line, "diff --git "):
			flush()
			file = ""
		case strings.HasPrefix(line, "+++ "):
			flush()
			file = diffPath(line[len("+++ "):], "b/")
			cur = fragment{commit: commit, file: file}
		case strings.HasPrefix(line, "Binary files ") && strings.HasSuffix(line, " differ"):
			flush()
			names := strings.TrimSuffix(strings.TrimPrefix(line, "Binary files "), " differ")
			for _, sep := range []string{` and "b/`, " and b/"} {
				if i := strings.LastIndex(names, sep); i >= 0 {
					if f := diffPath(names[i+len(" and "):], "b/"); f != "" && !stopped {
						stopped = !emit(fragment{commit: commit, file: f})
					}
					break
				}
			}
		case strings.HasPrefix(line, "@@ "):
			o, n, start, ok := hunkHeader(line)
			if !ok || file == "" {
				continue
			}
			oldLeft, newLeft, newNo = o, n, start
		}
		if rerr != nil {
			break
		}
	}
	flush()
	return commits, nil
}

// diffPath is a path of a ---/+++ line or a "Binary files" line without its prefix: "" for
// /dev/null. Git quotes names with unusual characters C-style, and ends a name with a space
// in it with a tab.
func diffPath(s, prefix string) string {
	s = strings.TrimSuffix(s, "\t")
	if s == "/dev/null" {
		return ""
	}
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return ""
		}
		s = u
	}
	return strings.TrimPrefix(s, prefix)
}

// hunkHeader reads "@@ -a[,b] +c[,d] @@…": the old and new line counts and the new start.
func hunkHeader(line string) (oldCount, newCount, newStart int, ok bool) {
	f := strings.Fields(line)
	if len(f) < 3 || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, 0, false
	}
	rng := func(s string) (start, count int, ok bool) {
		a, b, has := strings.Cut(s, ",")
		start, err := strconv.Atoi(a)
		if err != nil {
			return 0, 0, false
		}
		count = 1
		if has {
			if count, err = strconv.Atoi(b); err != nil {
				return 0, 0, false
			}
		}
		return start, count, true
	}
	_, oc, ok1 := rng(f[1][1:])
	ns, nc, ok2 := rng(f[2][1:])
	return oc, nc, ns, ok1 && ok2
}

func isHex(s string) bool {
	if len(s) < 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
