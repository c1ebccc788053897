package run

import (
	"context"
	"fmt"
	"io"
)

// cleanupStack is what a run has created so far (lease, rootfs snapshot, files, container,
// task), each with the step that removes it. unwind removes them newest first, on every way
// out of Run.
type cleanupStack struct {
	id    string    // the container's ID, named in warnings
	warn  io.Writer // where a step that failed is reported
	tr    *tracer
	steps []cleanupStep
}

type cleanupStep struct {
	what   string
	remove func(context.Context) error
	// local: only this process can do it (the network it serves, the git guard it runs, the
	// harness config it writes back); the run's reaper does the rest from the run's labels.
	local bool
}

// push records one resource and how to remove it.
func (s *cleanupStack) push(what string, remove func(context.Context) error) {
	s.steps = append(s.steps, cleanupStep{what: what, remove: remove})
}

// pushLocal records a step that this process must do itself.
func (s *cleanupStack) pushLocal(what string, remove func(context.Context) error) {
	s.steps = append(s.steps, cleanupStep{what: what, remove: remove, local: true})
}

// handOff ends a run whose process has exited: it does the local steps, newest first, and
// leaves the rest to the reaper rp, which removes it while aishell returns the exit code;
// closeIO closes the task's streams (and removes their FIFOs), which the reaper cannot.
// Without a live reaper it unwinds everything here.
func (s *cleanupStack) handOff(ctx context.Context, rp *reaper, closeIO func() error) {
	if rp == nil {
		s.unwind(ctx)
		return
	}
	local, rest := s.split()
	s.steps = local
	s.unwind(ctx)
	closeIO()
	if !rp.release() {
		s.steps = rest
		s.unwind(ctx)
	}
	s.tr.mark("handed to the reaper")
}

// abandon ends a run whose process may live on out of aishell's sight (containerd went away and
// did not come back in time, reconnect.go): it does the local steps, newest first, closes the
// task's streams, and tells the reaper rp to remove nothing. Deleting the task, container or
// snapshots would kill the process, were containerd to come back at that moment: they are left,
// with their owner's labels, for `aishell gc`.
func (s *cleanupStack) abandon(ctx context.Context, rp *reaper, closeIO func() error) {
	s.steps, _ = s.split()
	s.unwind(ctx)
	closeIO()
	rp.cancel()
	s.tr.mark("abandoned")
}

// split parts the steps into the local ones and the rest, each in the order pushed.
func (s *cleanupStack) split() (local, rest []cleanupStep) {
	for _, step := range s.steps {
		if step.local {
			local = append(local, step)
		} else {
			rest = append(rest, step)
		}
	}
	return local, rest
}

// unwind runs every step, newest first, and empties the stack. Its context outlives ctx's
// cancellation (Ctrl-C and SIGTERM cancel ctx, and cleanup must still happen) but is bounded by
// CleanupTimeout. A step that fails is reported as a warning and the others still run: the
// process's exit code stays what it was, and `aishell gc` removes what is left.
func (s *cleanupStack) unwind(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	for i := len(s.steps) - 1; i >= 0; i-- {
		step := s.steps[i]
		if err := step.remove(cctx); err != nil {
			fmt.Fprintf(s.warn, "aishell: warning: clean up %s: %s: %v (aishell gc removes leftovers)\n", s.id, step.what, err)
		}
		if s.tr != nil {
			s.tr.mark("remove " + step.what)
		}
	}
	s.steps = nil
}
