package run

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/snapshot"
)

// A run holds containerd from before it looks at any image: Begin starts its reaper, makes
// room for its name, and creates its lease, which names its owner and every image the run may
// use (labels.Uses): `aishell gc` keeps those from then on, so nothing a starting run has found
// is removed before it is mounted. A gc already under way is waited out first (snapshot.AwaitGC).
// Run then assembles the container under that lease.

// Claim is a run begun: its ID and session name, its reaper, its lease, and the cleanup stack
// that removes what it holds. Close removes it; Run closes it when it ends.
type Claim struct {
	id, name string
	rp       *reaper
	stack    *cleanupStack
	lctx     context.Context // carries the lease
	owner    map[string]string
	labels   map[string]string // the lease's
	created  time.Time
	closed   bool
}

// Begin is what a run is, before it looks at its images.
type Begin struct {
	Project, Purpose, Name string // Name: --name, or "" for one made up
	// Uses are the images the run may use: every configured harness, and the images its
	// rootfs may be (the extension, the user base, the foundation).
	Uses []string
	// Owner is the person's name (labels.User): the next run of theirs reaps their dead runs.
	Owner                           string
	Address, Namespace, Snapshotter string // for the reaper
	Runtime                         Runtime
	Keeper                          *Keeper // the keeper's side of a detached run, or nil
	Warn                            io.Writer
}

// BeginRun claims a run: see Claim.
func BeginRun(ctx context.Context, c *containerd.Client, b Begin) (*Claim, error) {
	id, name := runID(b.Project, b.Purpose, b.Name)
	if b.Keeper != nil {
		b.Keeper.logFor(id)
	}
	tr := processTrace
	cl := &Claim{id: id, name: name, stack: &cleanupStack{id: id, warn: b.Warn, tr: tr}}
	// The reaper exists before anything of the run does, so whatever happens to aishell from
	// here on, it removes what there is.
	cl.rp = startReaper(b, id)
	tr.mark("reaper")
	if b.Name != "" {
		if err := claimName(ctx, c, b.Snapshotter, id, b.Name); err != nil {
			cl.Close(ctx)
			return nil, err
		}
	}
	cl.owner = ownerLabels(cl.rp)
	cl.labels = leaseLabels(cl.owner, b.Owner, b.Uses)
	if err := cl.lease(ctx, c); err != nil {
		cl.Close(ctx)
		if errdefs.IsAlreadyExists(err) {
			return nil, nameTaken(name) // another run of this name won the race
		}
		return nil, fmt.Errorf("create lease: %w", err)
	}
	tr.mark("lease")
	if err := snapshot.AwaitGC(ctx, c, func(pid string) {
		fmt.Fprintf(b.Warn, "aishell: waiting for aishell gc (pid %s) to finish\n", pid)
	}); err != nil {
		cl.Close(ctx)
		return nil, err
	}
	tr.mark("gc check")
	return cl, nil
}

// leaseLabels are a run's lease's: its owner, its person, and the images it may use.
func leaseLabels(owner map[string]string, person string, uses []string) map[string]string {
	l := map[string]string{labels.Uses: strings.Join(uses, ",")}
	if person != "" {
		l[labels.User] = person
	}
	for k, v := range owner {
		l[k] = v
	}
	return l
}

// lease creates the run's lease, pushing its removal.
func (cl *Claim) lease(ctx context.Context, c *containerd.Client) error {
	lctx, done, err := c.WithLease(ctx, leases.WithID(cl.id), leases.WithExpiration(LeaseExpiry), leases.WithLabels(cl.labels))
	if err != nil {
		return err
	}
	cl.lctx, cl.created = lctx, time.Now()
	// A lease that outlived its hour is gone by the time a long run without a reaper ends.
	cl.stack.push("lease", func(ctx context.Context) error { return ignoreNotFound(done(ctx)) })
	return nil
}

// renew makes the lease anew when half its life went by before anything was made under it (a
// long extension build), so it cannot expire under the container being assembled. A second
// lease with the same labels names what the run uses while the first is replaced, and a gc
// begun meanwhile is waited out again.
func (cl *Claim) renew(ctx context.Context, c *containerd.Client) error {
	if time.Since(cl.created) < LeaseExpiry/2 {
		return nil
	}
	ls := c.LeasesService()
	bridge, err := ls.Create(ctx, leases.WithID(cl.id+"-renew"), leases.WithExpiration(LeaseExpiry), leases.WithLabels(cl.labels))
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	defer ls.Delete(context.WithoutCancel(ctx), bridge)
	cl.stack.unwind(ctx) // the lease alone
	if err := cl.lease(ctx, c); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nameTaken(cl.name)
		}
		return fmt.Errorf("renew lease: %w", err)
	}
	return snapshot.AwaitGC(ctx, c, nil)
}

// Close removes what the run holds (at once, or through its reaper) and lets its reaper go.
// It may be called more than once.
func (cl *Claim) Close(ctx context.Context) {
	if cl == nil || cl.closed {
		return
	}
	cl.closed = true
	cl.stack.unwind(ctx)
	cl.rp.cancel()
	cl.stack.tr.done()
}
