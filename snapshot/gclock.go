package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
)

// One gc at a time in a namespace, and nothing looks at images while one removes.
//
// A gc holds the lease labels.GCLease (made with its owner's labels, so one whose aishell died
// is known as dead) while it reaps, decides and removes. A run makes its own lease first, naming
// what it may use, and a build makes one that says a build is under way; each then waits out a
// gc that holds the lock (AwaitGC). Either the gc listed the run's or the build's lease (it keeps
// what a run names, and leaves harness and foundation images alone while a build is under way),
// or the gc began before that lease existed, and the run or build looks at its images only once
// the gc is done. containerd's metadata store serializes the lease writes and lists, so one of
// the two always holds.

const (
	// gcLockExpiry bounds how long a gc's lock outlives an aishell that died holding it where its
	// owner cannot be judged (another pid namespace); past it the lock counts as free.
	gcLockExpiry = 30 * time.Minute
	// buildLeaseExpiry likewise bounds a build's lease.
	buildLeaseExpiry = 6 * time.Hour
	// gcWaitMax bounds how long a run or build waits for a gc to finish.
	gcWaitMax = 5 * time.Minute
	// pollGC is how often a waiter looks at the gc lock again.
	pollGC = 50 * time.Millisecond
	// expireLabel is containerd's label for a lease's expiry (leases.WithExpiration).
	expireLabel = "containerd.io/gc.expire"
)

// LockGC takes the namespace's gc lock, waiting while another live aishell holds it; waiting is
// told the holder's pid once, when the wait begins. The returned function releases it.
func LockGC(ctx context.Context, c *containerd.Client, waiting func(pid string)) (func(), error) {
	ls := c.LeasesService()
	self := owner.Self()
	told := false
	for {
		l, err := ls.Create(ctx, leases.WithID(labels.GCLease), leases.WithLabels(self), leases.WithExpiration(gcLockExpiry))
		if err == nil {
			return func() { deleteIfSame(context.WithoutCancel(ctx), c, l) }, nil
		}
		if !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("take the gc lock: %w", err)
		}
		holder, err := gcHolder(ctx, c)
		if err != nil {
			return nil, err
		}
		if holder != nil && lapsed(*holder) {
			deleteIfSame(ctx, c, *holder) // its aishell died holding it
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
		if holder == nil || lapsed(*holder) {
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

// HoldBuild says, for as long as the returned function has not been called, that this aishell
// is building: gc leaves harness and foundation images alone meanwhile, since a build may have
// found or tagged one its person's config does not name yet. It waits out a gc under way first;
// waiting is told that gc's pid.
func HoldBuild(ctx context.Context, c *containerd.Client, waiting func(pid string)) (func(), error) {
	suffix := make([]byte, 6)
	rand.Read(suffix)
	l := owner.Self()
	l[labels.Building] = "1"
	lease, err := c.LeasesService().Create(ctx, leases.WithID("aishell-build-"+hex.EncodeToString(suffix)),
		leases.WithLabels(l), leases.WithExpiration(buildLeaseExpiry))
	if err != nil {
		return nil, fmt.Errorf("create the build's lease: %w", err)
	}
	release := func() { c.LeasesService().Delete(context.WithoutCancel(ctx), lease) }
	if err := AwaitGC(ctx, c, waiting); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// BuildsUnderWay are the pids of the live aishell builds in the namespace (HoldBuild).
func BuildsUnderWay(ctx context.Context, c *containerd.Client) ([]string, error) {
	ls, err := c.LeasesService().List(ctx, labels.HasKey(labels.Building))
	if err != nil {
		return nil, fmt.Errorf("list builds: %w", err)
	}
	var pids []string
	for _, l := range ls {
		if !lapsed(l) {
			pids = append(pids, l.Labels[labels.PID])
		}
	}
	return pids, nil
}

// lapsed reports whether a lock's or a build's lease no longer counts: its aishell is certainly
// gone, or it is past its expiry (an owner that cannot be judged).
func lapsed(l leases.Lease) bool {
	if owner.Gone(l.Labels) {
		return true
	}
	exp, err := time.Parse(time.RFC3339, l.Labels[expireLabel])
	return err == nil && time.Now().After(exp)
}

// deleteIfSame deletes the lease l when the lease under its ID is still l (same owner labels):
// not a lock that another aishell has taken since.
func deleteIfSame(ctx context.Context, c *containerd.Client, l leases.Lease) {
	ls, err := c.LeasesService().List(ctx, "id=="+l.ID)
	if err != nil || len(ls) != 1 || !owner.Same(ls[0].Labels, l.Labels) {
		return
	}
	c.LeasesService().Delete(ctx, l)
}

// gcHolder is the gc lock's lease, or nil when nobody holds it.
func gcHolder(ctx context.Context, c *containerd.Client) (*leases.Lease, error) {
	// A lease that is not there is one look-up of its name; a list, even filtered by ID, reads
	// every lease of the namespace (buildkitd keeps hundreds there).
	if _, err := c.LeasesService().ListResources(ctx, leases.Lease{ID: labels.GCLease}); errdefs.IsNotFound(err) {
		return nil, nil
	}
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
