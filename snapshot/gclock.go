package snapshot

import (
	"context"
	"fmt"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
)

// One gc at a time in a namespace, and no run looking at its images while one removes: a gc
// holds the lease labels.GCLease (made with its owner's labels, so one whose aishell died is
// known as dead) while it decides and removes. A run makes its own lease first, naming what it
// may use, and then waits out a gc that holds the lock: either the gc listed the run's lease
// and keeps what it names, or the gc began before the run's lease existed and the run looks at
// its images only once the gc is done.

// gcLockExpiry bounds how long a gc's lock outlives an aishell that died holding it.
const gcLockExpiry = 10 * time.Minute

// gcWaitMax bounds how long a run waits for a gc to finish.
const gcWaitMax = 5 * time.Minute

// pollGC is how often a waiter looks at the gc lock again.
const pollGC = 50 * time.Millisecond

// LockGC takes the namespace's gc lock, waiting while another live aishell holds it; waiting is
// told the holder's pid once, when the wait begins. The returned function releases it.
func LockGC(ctx context.Context, c *containerd.Client, waiting func(pid string)) (func(), error) {
	ls := c.LeasesService()
	told := false
	for {
		l, err := ls.Create(ctx, leases.WithID(labels.GCLease), leases.WithLabels(owner.Self()), leases.WithExpiration(gcLockExpiry))
		if err == nil {
			return func() { ls.Delete(context.WithoutCancel(ctx), l) }, nil
		}
		if !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("take the gc lock: %w", err)
		}
		holder, err := gcHolder(ctx, c)
		if err != nil {
			return nil, err
		}
		if holder != nil && owner.Gone(holder.Labels) {
			ls.Delete(ctx, *holder) // its aishell died holding it
			continue
		}
		if holder != nil && !told && waiting != nil {
			waiting(holder.Labels[labels.PID])
			told = true
		}
		if err := sleep(ctx, pollGC); err != nil {
			return nil, err
		}
	}
}

// AwaitGC returns once no live aishell holds the namespace's gc lock (at once when none does:
// one list of the leases); waiting is told the holder's pid once, when the wait begins. A gc
// that holds it longer than gcWaitMax is an error.
func AwaitGC(ctx context.Context, c *containerd.Client, waiting func(pid string)) error {
	told := false
	deadline := time.Now().Add(gcWaitMax)
	for {
		holder, err := gcHolder(ctx, c)
		if err != nil {
			return err
		}
		if holder == nil || owner.Gone(holder.Labels) {
			return nil
		}
		if time.Now().After(deadline) {
			return errs.WithHint(fmt.Errorf("aishell gc (pid %s) has been removing images for over %s", holder.Labels[labels.PID], gcWaitMax),
				"wait for it to finish, then run the same command again")
		}
		if !told && waiting != nil {
			waiting(holder.Labels[labels.PID])
			told = true
		}
		if err := sleep(ctx, pollGC); err != nil {
			return err
		}
	}
}

// gcHolder is the gc lock's lease, or nil when nobody holds it.
func gcHolder(ctx context.Context, c *containerd.Client) (*leases.Lease, error) {
	ls, err := c.LeasesService().List(ctx, "id=="+labels.GCLease)
	if err != nil {
		return nil, fmt.Errorf("look at the gc lock: %w", err)
	}
	if len(ls) == 0 {
		return nil, nil
	}
	return &ls[0], nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
