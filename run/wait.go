package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/daemon"
)

// waitExit waits for the task's process to exit and returns its exit code. Meanwhile it
// forwards aishell's signals (the first Ctrl-C goes to the process, a second one kills it;
// SIGTERM and SIGHUP are followed by SIGKILL after StopTimeout), gives the container the host
// terminal's size on SIGWINCH, and ends a process whose output reader went away with SIGPIPE
// (SIGKILL after PipeGrace). When containerd goes away it waits for it to come back, up to ln's
// bound, and then returns ln's lostError with the process left running (reconnect.go).
func waitExit(ctx context.Context, task containerd.Process, exitCh <-chan containerd.ExitStatus, st *streams, signals <-chan os.Signal, tr *tracer, ln *link) (int, error) {
	winch := make(chan os.Signal, 1)
	if st.term != nil {
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		st.term.resize(ctx, task)
	}
	k := killer{task: task, ctx: context.WithoutCancel(ctx)}
	broken := st.broken
	for {
		select {
		case status := <-exitCh:
			if err := status.Error(); err != nil && ln.dropped(err) {
				exitCh = nil // asked again once containerd is back
				continue
			}
			drain(task)
			tr.mark("process exited")
			if err := status.Error(); err != nil {
				return 0, fmt.Errorf("wait: %w", err)
			}
			return int(status.ExitCode()), nil
		case <-ln.retry:
			back, err := ln.back(ctx, task)
			if errors.Is(err, errExitLost) {
				drain(task)
			}
			if err != nil {
				return 0, err
			}
			if back {
				exitCh, _ = task.Wait(context.WithoutCancel(ctx)) // its error comes on the channel
				k.resend()
				if st.term != nil {
					st.term.resize(ctx, task)
				}
			}
		case <-ln.giveUp:
			return 0, ln.gaveUp(task.ID())
		case <-winch:
			st.term.resize(ctx, task)
		case sig := <-signals:
			if s, ok := sig.(syscall.Signal); ok {
				k.forward(s)
			}
		case <-broken:
			broken = nil
			k.send(syscall.SIGPIPE, PipeGrace)
		case <-k.deadline:
			k.send(syscall.SIGKILL, 0)
		}
	}
}

// drain lets the process's output reach aishell before Delete closes the pipes, for at most
// DrainTimeout.
func drain(task containerd.Process) {
	drained := make(chan struct{})
	go func() { task.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(DrainTimeout):
	}
}

// killer sends signals to the task and keeps the one deadline after which it gets SIGKILL.
type killer struct {
	task       containerd.Process
	ctx        context.Context // outlives Ctrl-C
	interrupts int
	deadline   <-chan time.Time
	// pending is the signal that could not be sent while containerd was away (SIGKILL wins
	// over any other), sent when it is back.
	pending syscall.Signal
}

// forward passes a signal aishell received on to the process: SIGINT as it is, a second SIGINT
// as SIGKILL, SIGTERM and SIGHUP with StopTimeout to exit.
func (k *killer) forward(s syscall.Signal) {
	grace := StopTimeout
	if s == syscall.SIGINT {
		if k.interrupts++; k.interrupts > 1 {
			s = syscall.SIGKILL
		} else {
			grace = 0 // the process may go on after a Ctrl-C
		}
	}
	k.send(s, grace)
}

// send signals the process; a non-zero grace starts the SIGKILL deadline unless one runs. A
// signal containerd could not take because it is away is kept for resend.
func (k *killer) send(s syscall.Signal, grace time.Duration) {
	if err := k.task.Kill(k.ctx, s); daemon.Lost(err) && k.pending != syscall.SIGKILL {
		k.pending = s
	}
	if grace > 0 && k.deadline == nil {
		k.deadline = time.After(grace)
	}
}

// resend sends the signal kept while containerd was away.
func (k *killer) resend() {
	if s := k.pending; s != 0 {
		k.pending = 0
		k.send(s, 0)
	}
}
