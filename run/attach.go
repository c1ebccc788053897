package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/oci"
)

// AttachOptions describe a process started in a running session.
type AttachOptions struct {
	// Args is the process; empty for the session's own screen (a detached session's tmux),
	// or an interactive bash.
	Args    []string
	TTY     bool
	Runtime Runtime
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Signals <-chan os.Signal
}

// Attach runs a new process in the session's container, as its process runs (user,
// environment, working directory, security), with the terminal when there is one, and returns
// its exit code. The session goes on when it ends.
func Attach(ctx context.Context, c *containerd.Client, s Session, o AttachOptions) (code int, err error) {
	ln, err := newLink(c, o.Stderr)
	if err != nil {
		return 0, err
	}
	ctr, err := c.LoadContainer(ctx, s.ID)
	if err != nil {
		return 0, endedOr(s, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, endedOr(s, err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return 0, endedOr(s, errGone)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("attach %s: read its spec: %w", s.Name, err)
	}
	p := *spec.Process
	p.Args = o.Args
	if len(p.Args) == 0 {
		p.Args = []string{"bash", "-l"}
		if s.Detached {
			if !o.TTY {
				return 0, errs.Usage(fmt.Errorf("the screen of the detached session %s needs a terminal", s.Name),
					"run it from a terminal, or give a command: aishell attach "+s.Name+" -- CMD")
			}
			p.Args = []string{"tmux", "attach-session"}
		}
	}
	p.Terminal = o.TTY
	p.ConsoleSize = nil
	p.Env = append([]string{}, p.Env...)
	if t, ok := os.LookupEnv("TERM"); ok && o.TTY { // this terminal's, not the starter's
		p.Env = oci.SetEnv(p.Env, "TERM="+t)
	}
	st, err := newStreams(Options{TTY: o.TTY, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Runtime: o.Runtime})
	if err != nil {
		return 0, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	proc, err := task.Exec(ctx, "attach-"+hex.EncodeToString(b), &p, st.creator)
	if err != nil {
		return 0, endedOr(s, err)
	}
	defer func() {
		if abandoned(err) { // containerd stayed away: the process may live on, as the session does
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		defer cancel()
		proc.Delete(cctx, containerd.WithProcessKill)
	}()
	exitCh, err := proc.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return 0, fmt.Errorf("attach %s: %w", s.Name, err)
	}
	if err := st.attach(); err != nil {
		return 0, err
	}
	defer st.detach()
	if err := proc.Start(ctx); err != nil {
		return 0, endedOr(s, err)
	}
	st.closeStdinAtEOF(ctx, proc)
	return waitExit(ctx, proc, exitCh, st, o.Signals, processTrace, ln)
}

// endedOr says a session has ended when err means it is gone, else wraps err.
func endedOr(s Session, err error) error {
	if gone(err) {
		return errs.WithHint(fmt.Errorf("the session %s has ended", s.Name), "aishell ps lists the running sessions")
	}
	return fmt.Errorf("attach %s: %w", s.Name, err)
}
