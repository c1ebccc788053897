package test

import (
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// makeStaleSocket leaves a unix socket file behind with no listener.
func makeStaleSocket(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	return l.Close()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type snapshotInfo = snapshots.Info

// timedBuffer is a syncBuffer that notes when each write came, so a test can tell when aishell
// said something.
type timedBuffer struct {
	syncBuffer
	mu     sync.Mutex
	writes []timedWrite
}

type timedWrite struct {
	at   time.Time
	text string
}

func (b *timedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.writes = append(b.writes, timedWrite{time.Now(), string(p)})
	b.mu.Unlock()
	return b.syncBuffer.Write(p)
}

// when is the time of the first write that holds s, zero when none does.
func (b *timedBuffer) when(s string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.writes {
		if strings.Contains(w.text, s) {
			return w.at
		}
	}
	return time.Time{}
}

// background is a command started in the background (started), its output collected as it
// comes.
type background struct {
	what           string
	cmd            *exec.Cmd
	stdout, stderr *timedBuffer
	exited         chan struct{}
	exitedAt       time.Time
	res            result
}

// started starts cmd in the background; the test's end kills it if it still runs, and shows
// its output if the test failed.
func started(t *testing.T, cmd *exec.Cmd, what string) *background {
	t.Helper()
	bg := &background{what: what, cmd: cmd, stdout: &timedBuffer{}, stderr: &timedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = bg.stdout, bg.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		bg.exitedAt = time.Now()
		bg.res = result{Stdout: bg.stdout.String(), Stderr: bg.stderr.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			bg.res.Code = ee.ExitCode()
		}
		close(bg.exited)
	}()
	t.Cleanup(func() {
		if bg.running() {
			cmd.Process.Kill()
		}
		<-bg.exited
		if t.Failed() {
			t.Logf("%s:\nstdout:\n%s\nstderr:\n%s", what, bg.stdout.String(), bg.stderr.String())
		}
	})
	return bg
}

// running reports whether the command has not exited yet.
func (bg *background) running() bool {
	select {
	case <-bg.exited:
		return false
	default:
		return true
	}
}

// said waits until the command has written s on its stderr.
func (bg *background) said(t *testing.T, s string) {
	t.Helper()
	waitUntil(t, time.Minute, bg.what+" to say "+strconv.Quote(s), func() bool { return strings.Contains(bg.stderr.String(), s) })
}

// wait waits for the command to end and returns what it did.
func (bg *background) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-bg.exited:
		t.Logf("%s -> exit %d\nstdout:\n%s\nstderr:\n%s", bg.what, bg.res.Code, bg.res.Stdout, bg.res.Stderr)
		return bg.res
	case <-time.After(10 * time.Minute):
		t.Fatalf("%s did not end", bg.what)
		return result{}
	}
}

// code waits for the command to exit, at most timeout, and returns its exit code.
func (bg *background) code(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-bg.exited:
	case <-time.After(timeout):
		t.Fatalf("%s still runs after %s", bg.what, timeout)
	}
	return bg.res.Code
}
