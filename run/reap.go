package run

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
)

// Reap removes what runs whose aishell process is gone (killed with SIGKILL, crashed, or on a
// machine that rebooted) left in the namespace: their task, container, snapshots, views and
// lease. A container is left alone while its owner process is alive. It returns the IDs it
// removed (or would remove, with dryRun).
func Reap(ctx context.Context, c *containerd.Client, snapshotter string, dryRun bool) ([]string, error) {
	ctrs, err := c.Containers(ctx, `labels."`+LabelPID+`"`)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var reaped []string
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(labels[LabelPID])
		if err != nil || processAlive(pid) {
			continue
		}
		id := ctr.ID()
		reaped = append(reaped, id)
		if dryRun {
			continue
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			task.Delete(ctx, containerd.WithProcessKill)
		}
		if err := ignoreNotFound(ctr.Delete(ctx)); err != nil {
			return reaped, fmt.Errorf("remove container %s: %w", id, err)
		}
		sn := c.SnapshotService(snapshotter)
		var keys []string
		sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			if info.Name == id || strings.HasPrefix(info.Name, id+"-") {
				keys = append(keys, info.Name)
			}
			return nil
		})
		for _, k := range keys {
			sn.Remove(ctx, k)
		}
		c.LeasesService().Delete(ctx, leaseOf(id))
	}
	return reaped, nil
}

// processAlive reports whether a process with this pid exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
