package run

import (
	"context"
	"fmt"
	"io"
)

// cleanupStack is what a run has created so far (lease, snapshots, views, files, container,
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
}

// push records one resource and how to remove it.
func (s *cleanupStack) push(what string, remove func(context.Context) error) {
	s.steps = append(s.steps, cleanupStep{what, remove})
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
