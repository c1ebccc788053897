package run

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/owner"
)

// StopGrace is how long a stopped session's process gets, after SIGKILL, to be reported
// gone, and how long a session being started gets to have a task to signal.
const StopGrace = 5 * time.Second

// Stop ends a session: SIGTERM to its process (tini passes it on), SIGKILL after timeout, and
// then everything the run created is removed: by its owner while that aishell lives (it writes
// the harness config copies back), else, or when the owner has not finished in time, here.
func Stop(ctx context.Context, c *containerd.Client, snapshotter string, s Session, timeout time.Duration) error {
	ctx = context.WithoutCancel(ctx) // a stop once begun is finished
	ctr, err := c.LoadContainer(ctx, s.ID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", s.Name, err)
	}
	l, err := ctr.Labels(ctx)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", s.Name, err)
	}
	task, err := ctr.Task(ctx, nil)
	// A session being started has its container before its task: wait for the task, so
	// that its process gets SIGTERM rather than being removed under its owner.
	for deadline := time.Now().Add(StopGrace); errdefs.IsNotFound(err) && !owner.Gone(l) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		task, err = ctr.Task(ctx, nil)
	}
	if err == nil {
		if err := endTask(ctx, task, timeout); err != nil {
			return fmt.Errorf("stop %s: %w", s.Name, err)
		}
	}
	if !owner.Gone(l) {
		// The owner has seen the exit: give it the time a run's cleanup may take.
		deadline := time.Now().Add(DrainTimeout + CleanupTimeout)
		for time.Now().Before(deadline) && !owner.Gone(l) {
			if _, err := c.LoadContainer(ctx, s.ID); errdefs.IsNotFound(err) {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := removeRun(ctx, c, snapshotter, ctr, l); err != nil {
		return fmt.Errorf("stop %s: %w", s.Name, err)
	}
	return nil
}

// endTask sends SIGTERM, then SIGKILL after timeout, and waits for the process to be gone.
func endTask(ctx context.Context, task containerd.Task, timeout time.Duration) error {
	st, err := task.Status(ctx)
	if err != nil || st.Status == containerd.Stopped {
		return nil
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
		return ignoreNotFound(err)
	}
	select {
	case <-exitCh:
		return nil
	case <-time.After(timeout):
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-exitCh:
		return nil
	case <-time.After(StopGrace):
		return errors.New("its process did not end after SIGKILL")
	}
}
