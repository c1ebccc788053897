package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
)

// A run outlives a containerd restart. The process belongs to its shim, not to containerd, and
// its output reaches aishell through FIFOs the shim writes, so only the wait for its exit breaks
// when containerd goes away. waitExit then says so once, asks containerd about the task every
// reconnectRetry (gRPC redials the same client by itself) and, once it answers, says so and waits
// again; a signal that could not be passed on meanwhile is passed on then. If containerd stays
// away longer than the bound (AISHELL_RECONNECT_TIMEOUT), aishell gives up in one line and leaves
// the run as it is: deleting its task or container would kill the process the shim kept alive,
// were containerd to come back at that moment. `aishell gc` removes it once containerd is back
// and the process's owner (this aishell, and its reaper) is gone.

// ReconnectTimeoutEnv names how long a run waits for a containerd that went away to come back: a
// Go duration (90s, 5m); DefaultReconnectTimeout when unset.
const ReconnectTimeoutEnv = "AISHELL_RECONNECT_TIMEOUT"

const (
	// DefaultReconnectTimeout covers a containerd restarted by hand or by a package upgrade.
	DefaultReconnectTimeout = 60 * time.Second
	// reconnectRetry is how often containerd is asked about the task while it is away.
	reconnectRetry = 250 * time.Millisecond
	// probeTimeout bounds one such question, so a containerd that accepts the connection but does
	// not answer yet counts as away.
	probeTimeout = time.Second
)

// link is how a run waits for its process across a containerd restart.
type link struct {
	addr  string        // containerd's address, named in the messages
	bound time.Duration // how long containerd may stay away before aishell gives up
	warn  io.Writer     // where the lost and back lines go

	lostAt time.Time        // when the connection was lost; zero while containerd answers
	retry  <-chan time.Time // the next question while it is away
	giveUp <-chan time.Time // the bound, while it is away
}

// newLink is the link of a run on c, with the bound from AISHELL_RECONNECT_TIMEOUT; a value that
// is not a positive duration is a usage error, before anything of the run exists.
func newLink(c *containerd.Client, warn io.Writer) (*link, error) {
	bound, err := reconnectTimeout(os.Getenv(ReconnectTimeoutEnv))
	if err != nil {
		return nil, err
	}
	if warn == nil {
		warn = os.Stderr
	}
	addr := "its socket"
	if conn, ok := c.Conn().(interface{ Target() string }); ok {
		addr = strings.TrimPrefix(conn.Target(), "unix://")
	}
	return &link{addr: addr, bound: bound, warn: warn}, nil
}

// reconnectTimeout parses the value of AISHELL_RECONNECT_TIMEOUT.
func reconnectTimeout(v string) (time.Duration, error) {
	if v == "" {
		return DefaultReconnectTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errs.Usage(fmt.Errorf("%s=%q is not a positive duration", ReconnectTimeoutEnv, v),
			"give how long a run waits for containerd to come back as a Go duration, such as 60s or 5m")
	}
	return d, nil
}

// away reports whether containerd is away (and the run is reconnecting).
func (l *link) away() bool { return !l.lostAt.IsZero() }

// dropped reports whether err, from a call about the task, means that containerd went away.
// The first time it does, the link says so and starts the bound; either way it schedules the
// next question.
func (l *link) dropped(err error) bool {
	if !daemon.Lost(err) {
		return false
	}
	if !l.away() {
		l.lostAt = time.Now()
		fmt.Fprintf(l.warn, "aishell: lost containerd at %s (%s); the process keeps running, reconnecting for up to %s\n",
			l.addr, daemon.Short(err), shortDuration(l.bound))
		l.giveUp = time.After(l.bound)
	}
	l.retry = time.After(reconnectRetry)
	return true
}

// back asks containerd about the task once: true when it answers, which the link says once. A
// containerd still away schedules the next question. A containerd that came back without the
// task gives exitLost: containerd deletes, as it starts, a task whose process exited while it
// was down (it takes its shim for a leaked one), and the exit code goes with it.
func (l *link) back(ctx context.Context, task containerd.Process) (bool, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	_, err := task.Status(pctx)
	switch {
	case err == nil:
	case daemon.Lost(err) || errdefs.IsDeadlineExceeded(err) || errors.Is(err, context.DeadlineExceeded):
		l.retry = time.After(reconnectRetry)
		return false, nil
	case errdefs.IsNotFound(err):
		return false, errExitLost
	default:
		return false, fmt.Errorf("containerd came back, but not the process's task: %w", err)
	}
	fmt.Fprintf(l.warn, "aishell: containerd is back after %s; waiting for the process again\n", time.Since(l.lostAt).Round(100*time.Millisecond))
	l.lostAt, l.retry, l.giveUp = time.Time{}, nil, nil
	return true, nil
}

// errExitLost ends a run whose process exited while containerd was away: its output is all
// there, its exit code is not, and the run is removed as after any exit.
var errExitLost = errors.New("the process ended while containerd was away, and containerd dropped its exit code when it came back")

// lostError ends a run whose containerd stayed away longer than the bound.
type lostError struct {
	addr, id string
	bound    time.Duration
}

func (e *lostError) Error() string {
	return fmt.Sprintf("containerd at %s did not come back within %s; the process of %s keeps running, and `aishell gc` removes the run once containerd is back",
		e.addr, shortDuration(e.bound), e.id)
}

// gaveUp is the error of a run whose containerd did not come back in time.
func (l *link) gaveUp(id string) error { return &lostError{addr: l.addr, id: id, bound: l.bound} }

// abandoned reports whether err ended the run with its process possibly still running out of
// aishell's sight: nothing of it may be removed.
func abandoned(err error) bool {
	var lost *lostError
	return errors.As(err, &lost)
}

// shortDuration writes d as a person would: 1m rather than 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
