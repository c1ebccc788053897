package run

import (
	"context"
	"errors"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// createTask creates ctr's task with the rootfs mounts the run prepared, and its streams from
// creator. It is containerd's Container.NewTask without what that asks containerd first, all
// of which this run has just made: the container record (twice), its spec and the rootfs
// snapshot's mounts, four round trips one after the other before the task is even asked for
// (one is spent after it, for the client's handle: three fewer). The run's spec sets no SELinux
// mount label and no task options, so the request is the same.
func createTask(ctx context.Context, c *containerd.Client, ctr containerd.Container, rootfs []mount.Mount, creator cio.Creator) (containerd.Task, error) {
	io, err := creator(ctr.ID())
	if err != nil {
		return nil, err
	}
	cfg := io.Config()
	req := &tasks.CreateTaskRequest{ContainerID: ctr.ID(), Terminal: cfg.Terminal, Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr}
	for _, m := range rootfs {
		req.Rootfs = append(req.Rootfs, &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	if _, err := c.TaskService().Create(ctx, req); err != nil {
		io.Cancel()
		io.Close()
		return nil, errgrpc.ToNative(err)
	}
	// The client's handle of the task, with the streams already copying. containerd's client
	// attaches them only to a task whose state it knows.
	task, err := ctr.Task(ctx, func(*cio.FIFOSet) (cio.IO, error) { return io, nil })
	if err == nil && task.IO() == nil {
		err = errors.New("containerd does not know the state of the task it made (its shim is gone)")
	}
	if err != nil {
		// Made, but out of reach: removed now if it can be, else by the run's reaper, which
		// removes whatever task its container has.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		c.TaskService().Delete(dctx, &tasks.DeleteTaskRequest{ContainerID: ctr.ID()})
		cancel()
		io.Cancel()
		io.Close()
		return nil, err
	}
	return task, nil
}
