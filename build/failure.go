package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
)

// solveError turns a build failure into one line, with the next step when there is one: a
// cancelled build, a disk that filled up (in the error, or in the log of the step that failed,
// which space watched), a buildkitd that went away during the build. Each leaves every tag as
// it was (solve).
func (b *Builder) solveError(ctx context.Context, name string, err error, space *spaceWatch) error {
	msg := daemon.Short(err)
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return fmt.Errorf("build %s cancelled: nothing was tagged", name)
	case noSpace(msg) || space.full():
		what := space.said()
		if what == "" {
			what = lastClause(msg)
		}
		return errs.WithHint(fmt.Errorf("build %s failed: disk full where containerd and buildkitd keep their data (%s); nothing was changed", name, what),
			"free space there (`aishell gc` removes unused images, `buildctl prune --all` buildkitd's build cache), then run the same command again")
	case daemon.Lost(err) || !b.answers(ctx):
		return errs.WithHint(fmt.Errorf("build %s failed: buildkitd at %s stopped answering during the build; nothing was changed", name, b.host()),
			"start buildkitd again, then run the same command again")
	}
	return fmt.Errorf("build %s failed: %s", name, msg)
}

// answers reports whether buildkitd still answers on the build's connection (without one, it
// cannot tell, and says so).
func (b *Builder) answers(ctx context.Context) bool {
	if b.bk == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), daemon.ReadyTimeout)
	defer cancel()
	_, err := b.bk.Info(ctx)
	return err == nil
}

// host is buildkitd's address, for messages.
func (b *Builder) host() string {
	if b.Host != "" {
		return b.Host
	}
	return "its address"
}

// noSpace reports whether a message says that a disk filled up.
func noSpace(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "no space left on device") || strings.Contains(msg, "enospc")
}

// lastClause is the end of a chain of wrapped errors: what failed, and why
// ("write /x: no space left on device" of "failed to solve: ...: write /x: no space left on device").
func lastClause(msg string) string {
	parts := strings.Split(msg, ": ")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, ": ")
}

// spaceWatch reads a build's progress for a step that failed for want of space. When a RUN
// step's process hits ENOSPC, BuildKit's error says only that the process did not complete
// successfully; what it could not write is in the step's own log lines.
type spaceWatch struct {
	mu     sync.Mutex
	tail   map[digest.Digest]string // each step's last, unfinished log line
	lines  map[digest.Digest]string // the first log line of each step that says the disk is full
	failed []*bkclient.Vertex       // the steps that failed
}

func (w *spaceWatch) watch(s *bkclient.SolveStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tail == nil {
		w.tail, w.lines = map[digest.Digest]string{}, map[digest.Digest]string{}
	}
	for _, l := range s.Logs {
		lines := strings.Split(w.tail[l.Vertex]+string(l.Data), "\n")
		for _, line := range lines[:len(lines)-1] {
			if _, seen := w.lines[l.Vertex]; !seen && noSpace(line) {
				w.lines[l.Vertex] = strings.TrimSpace(line)
			}
		}
		w.tail[l.Vertex] = lines[len(lines)-1]
		if len(w.tail[l.Vertex]) > 4096 { // a line that long says nothing of the disk
			w.tail[l.Vertex] = ""
		}
	}
	for _, v := range s.Vertexes {
		if v.Error != "" {
			w.failed = append(w.failed, v)
		}
	}
}

// full reports whether a step failed because the disk was full.
func (w *spaceWatch) full() bool { return w.said() != "" }

// said is the failed step that ran out of space and what it said of it, as "step: line", or ""
// when no step did.
func (w *spaceWatch) said() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.failed {
		line, ok := w.lines[v.Digest]
		if tail := w.tail[v.Digest]; !ok && noSpace(tail) { // its last line, unfinished
			line, ok = strings.TrimSpace(tail), true
		}
		if !ok && noSpace(v.Error) {
			line, ok = lastClause(v.Error), true
		}
		if ok {
			return shorten(v.Name, 60, false) + ": " + shorten(line, 120, true)
		}
	}
	return ""
}

// shorten cuts s to about n bytes, marking the cut: its end, or with keepEnd its middle (the end
// of an error line says why).
func shorten(s string, n int, keepEnd bool) string {
	if len(s) <= n {
		return s
	}
	if !keepEnd {
		return strings.ToValidUTF8(s[:n-3], "") + "..."
	}
	head := n / 3
	return strings.ToValidUTF8(s[:head], "") + "..." + strings.ToValidUTF8(s[len(s)-(n-head-3):], "")
}
