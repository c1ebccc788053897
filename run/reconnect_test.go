package run

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestReconnectTimeout(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultReconnectTimeout, "2s": 2 * time.Second, "5m": 5 * time.Minute} {
		if got, err := reconnectTimeout(v); err != nil || got != want {
			t.Errorf("%q: %s, %v; want %s", v, got, err, want)
		}
	}
	for _, v := range []string{"60", "soon", "-1s", "0s"} {
		if _, err := reconnectTimeout(v); err == nil || !strings.Contains(err.Error(), ReconnectTimeoutEnv) {
			t.Errorf("%q: %v, want an error naming %s", v, err, ReconnectTimeoutEnv)
		}
	}
	for d, want := range map[time.Duration]string{time.Minute: "1m", 90 * time.Second: "1m30s", 2 * time.Second: "2s", time.Hour: "1h"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

var errAway = status.Error(codes.Unavailable, "error reading from server: EOF")

// awayProcess is a task whose containerd goes away: its first wait breaks, then Status and Kill
// fail as if nothing listened until back is closed; after that a wait returns code (or the task
// is gone, when gone is set).
type awayProcess struct {
	containerd.Process
	back  chan struct{}
	code  uint32
	gone  bool
	mu    sync.Mutex
	waits int
	sent  []syscall.Signal
}

func (p *awayProcess) isBack() bool {
	select {
	case <-p.back:
		return true
	default:
		return false
	}
}

func (p *awayProcess) ID() string { return "aishell-test-exec-1" }

func (p *awayProcess) Wait(context.Context) (<-chan containerd.ExitStatus, error) {
	p.mu.Lock()
	p.waits++
	p.mu.Unlock()
	ch := make(chan containerd.ExitStatus, 1)
	if p.isBack() {
		ch <- *containerd.NewExitStatus(p.code, time.Now(), nil)
	} else {
		ch <- *containerd.NewExitStatus(containerd.UnknownExitStatus, time.Time{}, errAway)
	}
	return ch, nil
}

func (p *awayProcess) Status(context.Context) (containerd.Status, error) {
	switch {
	case !p.isBack():
		return containerd.Status{}, errdefs.ErrUnavailable
	case p.gone:
		return containerd.Status{}, errdefs.ErrNotFound
	}
	return containerd.Status{Status: containerd.Running}, nil
}

func (p *awayProcess) Kill(_ context.Context, s syscall.Signal, _ ...containerd.KillOpts) error {
	if !p.isBack() {
		return errAway
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, s)
	return nil
}

func (p *awayProcess) IO() cio.IO { return doneIO{} }

type doneIO struct{ cio.IO }

func (doneIO) Wait() {}

// waitAcrossDrop runs waitExit on p with the given bound, sending sig (when not nil) once the
// drop was said, and closing p.back after comeBack (never when it is 0).
func waitAcrossDrop(t *testing.T, p *awayProcess, bound, comeBack time.Duration, sig os.Signal) (int, error, string) {
	t.Helper()
	var warn syncBuffer
	ln := &link{addr: "/run/containerd/containerd.sock", bound: bound, warn: &warn}
	exitCh, _ := p.Wait(context.Background())
	signals := make(chan os.Signal, 1)
	go func() {
		for !strings.Contains(warn.String(), "lost containerd") {
			time.Sleep(10 * time.Millisecond)
		}
		if sig != nil {
			signals <- sig
		}
		if comeBack > 0 {
			time.Sleep(comeBack)
			close(p.back)
		}
	}()
	code, err := waitExit(context.Background(), p, exitCh, &streams{}, signals, nil, ln)
	return code, err, warn.String()
}

func TestWaitExitAcrossContainerdRestart(t *testing.T) {
	p := &awayProcess{back: make(chan struct{}), code: 3}
	code, err, said := waitAcrossDrop(t, p, time.Minute, 600*time.Millisecond, syscall.SIGTERM)
	if err != nil || code != 3 {
		t.Fatalf("exit %d, %v; want the process's 3", code, err)
	}
	lines := strings.Split(strings.TrimSpace(said), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "aishell: lost containerd at /run/containerd/containerd.sock (error reading from server: EOF); the process keeps running, reconnecting for up to 1m") ||
		!strings.HasPrefix(lines[1], "aishell: containerd is back after ") {
		t.Errorf("said %q: want one lost line and one back line", said)
	}
	// The SIGTERM that came while containerd was away reached the process once it was back.
	if !slices.Equal(p.sent, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("sent %v, want the SIGTERM once containerd was back", p.sent)
	}
	if p.waits != 2 {
		t.Errorf("%d waits, want the broken one and one after the reconnect", p.waits)
	}
}

func TestWaitExitGivesUpWithoutKilling(t *testing.T) {
	p := &awayProcess{back: make(chan struct{})}
	start := time.Now()
	_, err, said := waitAcrossDrop(t, p, 300*time.Millisecond, 0, os.Interrupt)
	if !abandoned(err) {
		t.Fatalf("err %v, want a lostError", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s, bound 300ms", took)
	}
	want := "containerd at /run/containerd/containerd.sock did not come back within 300ms; the process of aishell-test-exec-1 keeps running, and `aishell gc` removes the run once containerd is back"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if strings.Count(said, "\n") != 1 {
		t.Errorf("said %q before giving up: want the lost line only", said)
	}
	if len(p.sent) != 0 {
		t.Errorf("signals reached the process: %v", p.sent)
	}
}

func TestWaitExitTaskGoneAfterRestart(t *testing.T) {
	p := &awayProcess{back: make(chan struct{}), gone: true}
	_, err, _ := waitAcrossDrop(t, p, time.Minute, 100*time.Millisecond, nil)
	if !errors.Is(err, errExitLost) || abandoned(err) {
		t.Errorf("err %v, want errExitLost (the run is removed as after an exit)", err)
	}
}

func TestAbandonKeepsTheRunForGC(t *testing.T) {
	var ran []string
	s := &cleanupStack{id: "c1", warn: &strings.Builder{}}
	for _, what := range []string{"lease", "snapshot", "container", "task"} {
		s.push(what, func(context.Context) error { ran = append(ran, what); return nil })
	}
	s.pushLocal("git guard", func(context.Context) error { ran = append(ran, "git guard"); return nil })
	s.pushLocal("harness config copies", func(context.Context) error { ran = append(ran, "harness config copies"); return nil })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	closed := false
	s.abandon(context.Background(), &reaper{w: w}, func() error { closed = true; return nil })
	if !slices.Equal(ran, []string{"harness config copies", "git guard"}) {
		t.Errorf("ran %v, want the local steps only, newest first", ran)
	}
	if !closed {
		t.Error("the task's streams were not closed")
	}
	b := make([]byte, 2)
	if n, _ := r.Read(b); n != 1 || b[0] != reaperSkip {
		t.Errorf("the reaper read %q, want the skip byte", b[:n])
	}
	s.unwind(context.Background())
	if len(ran) != 2 {
		t.Errorf("unwind after abandon ran %v", ran[2:])
	}
}
