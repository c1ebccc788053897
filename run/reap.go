package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// Reap removes what runs whose aishell process is gone (killed with SIGKILL, crashed, or on a
// machine that rebooted) left in the namespace: their task, container, rootfs snapshot, lease
// and host files, and the lease and snapshots of a run that died before its container existed.
// A run is left alone while its owner process (or its reaper) lives, and one of another pid
// namespace is never judged. With person set, only that person's runs are looked at (what a
// run's reaper does for its person); "" looks at everybody's (gc). It returns the IDs it
// removed (or would remove, with dryRun).
func Reap(ctx context.Context, c *containerd.Client, snapshotter, person string, dryRun bool) ([]string, error) {
	filter := labels.HasKey(labels.PID)
	if person != "" {
		filter += "," + labels.Equals(labels.User, strconv.Quote(person))
	}
	ctrs, err := c.Containers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var reaped []string
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	withContainer := map[string]bool{}
	for _, ctr := range ctrs {
		withContainer[ctr.ID()] = true
		l, err := ctr.Labels(ctx)
		if err != nil || !owner.Gone(l) {
			continue
		}
		reaped = append(reaped, ctr.ID())
		if !dryRun {
			if err := removeRun(ctx, c, snapshotter, ctr, l); err != nil {
				fail(err)
			}
		}
	}
	// Runs that died while they were assembled: a lease and no container.
	ls, err := c.LeasesService().List(ctx, filter)
	if err != nil {
		return reaped, fmt.Errorf("list leases: %w", err)
	}
	for _, l := range ls {
		if l.ID == labels.GCLease || l.Labels[labels.Building] != "" || withContainer[l.ID] || !owner.Gone(l.Labels) {
			continue
		}
		if _, err := c.LoadContainer(ctx, l.ID); !errdefs.IsNotFound(err) {
			continue // its container came since the list, or containerd cannot say
		}
		reaped = append(reaped, l.ID)
		if !dryRun {
			if err := removeAssembled(ctx, c, snapshotter, l); err != nil {
				fail(err)
			}
		}
	}
	if first != nil {
		return reaped, first
	}
	return reaped, nil
}

// stepLeftAfter is how long a build step's container may stay after its process exited before
// gc takes it for one that a buildkitd which died left: a live buildkitd deletes it at once.
const stepLeftAfter = 30 * time.Second

// ReapBuildSteps removes the containers that a buildkitd killed during a build left in the
// namespace (its containerd worker builds there): a RUN step's container, which has no label, no
// image and no snapshot of containerd's. One whose process has exited stepLeftAfter ago, or that
// has had no task for that long, is removed; one whose process still runs (blocked writing to the
// buildkitd that is gone) only when it was created before idleSince, a moment at which buildkitd
// had no build in progress (zero: not known), and then its process is killed. It returns the IDs
// it removed (or would remove, with dryRun).
func ReapBuildSteps(ctx context.Context, c *containerd.Client, idleSince time.Time, dryRun bool) ([]string, error) {
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var reaped []string
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil || len(info.Labels) > 0 || info.Image != "" || info.SnapshotKey != "" {
			continue
		}
		orphaned := !idleSince.IsZero() && info.CreatedAt.Before(idleSince)
		task, err := ctr.Task(ctx, nil)
		switch {
		case errdefs.IsNotFound(err):
			task = nil
			if !orphaned && time.Since(info.CreatedAt) < stepLeftAfter {
				continue
			}
		case err != nil:
			continue
		default:
			st, err := task.Status(ctx)
			if err != nil {
				continue
			}
			if !orphaned && (st.Status != containerd.Stopped || time.Since(st.ExitTime) < stepLeftAfter) {
				continue
			}
		}
		reaped = append(reaped, ctr.ID())
		if dryRun {
			continue
		}
		if task != nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); ignoreNotFound(err) != nil {
				return reaped, fmt.Errorf("remove the task of %s: %w", ctr.ID(), err)
			}
		}
		if err := ignoreNotFound(ctr.Delete(ctx)); err != nil {
			return reaped, fmt.Errorf("remove container %s: %w", ctr.ID(), err)
		}
	}
	return reaped, nil
}

// removeRun removes a run's task (killed), container, rootfs snapshot (and any per-run view its
// labels name, as older aishells made; never a shared one), its lease and its host files, when its owner is gone or has not removed it in time. A
// named run's ID is used again by the next run of that name: when the container under that ID
// is gone (another remover was first) or is no longer the one whose labels l are, or a lease
// of another owner holds the ID, what is under the ID is that run's and nothing more is removed.
func removeRun(ctx context.Context, c *containerd.Client, snapshotter string, ctr containerd.Container, l map[string]string) error {
	id := ctr.ID()
	now, err := ctr.Labels(ctx)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", id, err)
	}
	if !owner.Same(now, l) {
		return nil
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		task.Delete(ctx, containerd.WithProcessKill)
	}
	if err := ignoreNotFound(ctr.Delete(ctx)); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if !leaseIsOrGone(ctx, c, id, l) {
		return nil
	}
	sn := c.SnapshotService(snapshotter)
	for _, k := range append([]string{id}, labels.RefSnapshots(l)...) {
		if !labels.IsSharedView(k) { // the run's label only held it: the collector judges it
			sn.Remove(ctx, k)
		}
	}
	c.LeasesService().Delete(ctx, leaseOf(id))
	removeHostDirs(id, l[labels.HostDirs])
	return nil
}

// leaseIsOrGone reports whether the lease under id is the run's whose owner labels are l, or
// there is none: not a lease a new run of the same name made since.
func leaseIsOrGone(ctx context.Context, c *containerd.Client, id string, l map[string]string) bool {
	lease, err := leaseByID(ctx, c, id)
	return err == nil && (lease == nil || owner.Same(lease.Labels, l))
}

// removeHostDirs removes the host directories a run's labels name, but only absolute paths
// whose names start with the run's ID, as the run made them.
func removeHostDirs(id, list string) {
	for _, d := range strings.Split(list, ",") {
		if filepath.IsAbs(d) && strings.HasPrefix(filepath.Base(d), id+"-") && filepath.Clean(d) == d {
			os.RemoveAll(d)
		}
	}
}

// ownerLabels identify this process, and the run's reaper when it has one: pid, pid namespace
// and start time, so a reused pid is not mistaken for the owner.
func ownerLabels(rp *reaper) map[string]string {
	l := owner.Self()
	if rp != nil {
		l[labels.ReaperPID], l[labels.ReaperStart] = strconv.Itoa(rp.pid), rp.start
	}
	return l
}
