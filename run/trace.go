package run

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// tracer prints how long each phase of a command took when AISHELL_TRACE is set: one tracer
// for the whole process, started when the program is, so the phases before a run (config,
// project, extension check, Prepare) show beside the run's own.
type tracer struct {
	on    bool
	mu    sync.Mutex
	start time.Time
	last  time.Time
	steps []string
}

var processTrace = newTracer()

func newTracer() *tracer {
	now := time.Now()
	return &tracer{on: os.Getenv("AISHELL_TRACE") != "", start: now, last: now}
}

// Mark records that step has just ended, in the process's trace.
func Mark(step string) { processTrace.mark(step) }

func (t *tracer) mark(step string) {
	if t == nil || !t.on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.steps = append(t.steps, fmt.Sprintf("%s %.1fms", step, float64(now.Sub(t.last).Microseconds())/1000))
	t.last = now
}

// done prints the steps so far and starts a new list.
func (t *tracer) done() {
	if t == nil || !t.on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(os.Stderr, "aishell: trace: %s; total %.1fms\n", strings.Join(t.steps, ", "), float64(time.Since(t.start).Microseconds())/1000)
	t.steps = nil
}
