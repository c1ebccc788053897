package run

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// tracer prints how long each phase of a run took when AISHELL_TRACE is set.
type tracer struct {
	on    bool
	start time.Time
	last  time.Time
	steps []string
}

func newTracer() *tracer {
	now := time.Now()
	return &tracer{on: os.Getenv("AISHELL_TRACE") != "", start: now, last: now}
}

func (t *tracer) mark(step string) {
	if t == nil || !t.on {
		return
	}
	now := time.Now()
	t.steps = append(t.steps, fmt.Sprintf("%s %.1fms", step, float64(now.Sub(t.last).Microseconds())/1000))
	t.last = now
}

func (t *tracer) done() {
	if t != nil && t.on {
		fmt.Fprintf(os.Stderr, "aishell: trace: %s; total %.1fms\n", strings.Join(t.steps, ", "), float64(time.Since(t.start).Microseconds())/1000)
	}
}
