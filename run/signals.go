package run

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// SignalHub owns SIGINT, SIGTERM and SIGHUP. Until a command hands them off, the first one
// cancels the command's context (a build stops, a run that has not started its process
// yet gives up and cleans up) and a second one ends aishell at once. A run command hands them
// off once its container is about to start, and forwards them to the container's process.
type SignalHub struct {
	ch        chan os.Signal
	cancel    context.CancelFunc
	handoff   chan struct{}
	watchDone chan struct{}
	once      sync.Once

	mu     sync.Mutex
	caught os.Signal
}

// NewSignalHub starts owning the signals; cancel is the command's context's.
func NewSignalHub(cancel context.CancelFunc) *SignalHub {
	h := &SignalHub{ch: make(chan os.Signal, 8), cancel: cancel, handoff: make(chan struct{}), watchDone: make(chan struct{})}
	signal.Notify(h.ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// A reader that went away (aishell exec yes | head -1) is an EPIPE error to handle, not a
	// signal that kills aishell before it cleans up.
	signal.Ignore(syscall.SIGPIPE)
	go h.watch()
	return h
}

func (h *SignalHub) watch() {
	defer close(h.watchDone)
	select {
	case s := <-h.ch:
		h.mu.Lock()
		h.caught = s
		h.mu.Unlock()
		h.cancel()
		// The next Ctrl-C is the impatient one: let it end aishell.
		signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	case <-h.handoff:
	}
}

// Forward stops cancelling on signals and returns them for forwarding to a container.
func (h *SignalHub) Forward() <-chan os.Signal {
	h.once.Do(func() { close(h.handoff) })
	<-h.watchDone
	return h.ch
}

// Caught is the signal that cancelled the command, if one did.
func (h *SignalHub) Caught() os.Signal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.caught
}
