package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/aishell/aishell/labels"
	containerd "github.com/containerd/containerd/v2/client"
)

// Reap removes what runs whose aishell process is gone (killed with SIGKILL, crashed, or on a
// machine that rebooted) left in the namespace: their task, container, snapshots, views and
// lease. A container is left alone while its owner process is alive. It returns the IDs it
// removed (or would remove, with dryRun).
func Reap(ctx context.Context, c *containerd.Client, snapshotter string, dryRun bool) ([]string, error) {
	ctrs, err := c.Containers(ctx, labels.HasKey(labels.PID))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var reaped []string
	for _, ctr := range ctrs {
		l, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		if !ownerGone(l) {
			continue
		}
		id := ctr.ID()
		reaped = append(reaped, id)
		if dryRun {
			continue
		}
		if err := removeRun(ctx, c, snapshotter, ctr, l); err != nil {
			return reaped, err
		}
	}
	return reaped, nil
}

// removeRun removes a run's task (killed), container, rootfs snapshot, the views its labels
// name, its lease and its host files, when its owner is gone or has not removed it in time. A
// named run's ID is used again by the next run of that name: when the container under that
// ID is no longer the one whose labels l are (another owner), nothing is removed.
func removeRun(ctx context.Context, c *containerd.Client, snapshotter string, ctr containerd.Container, l map[string]string) error {
	id := ctr.ID()
	if now, err := ctr.Labels(ctx); err == nil && (now[labels.PID] != l[labels.PID] || now[labels.PIDStart] != l[labels.PIDStart]) {
		return nil
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		task.Delete(ctx, containerd.WithProcessKill)
	}
	if err := ignoreNotFound(ctr.Delete(ctx)); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	sn := c.SnapshotService(snapshotter)
	for _, k := range append([]string{id}, labels.RefSnapshots(l)...) {
		sn.Remove(ctx, k)
	}
	c.LeasesService().Delete(ctx, leaseOf(id))
	removeHostDirs(id, l[labels.HostDirs])
	return nil
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
	l := map[string]string{
		labels.PID:      strconv.Itoa(os.Getpid()),
		labels.PIDNS:    pidNS(),
		labels.PIDStart: startTime(os.Getpid()),
	}
	if rp != nil {
		l[labels.ReaperPID], l[labels.ReaperStart] = strconv.Itoa(rp.pid), rp.start
	}
	return l
}

func pidNS() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

// ownerGone reports whether the aishell process that created a container is certainly gone,
// and its reaper too. A container from another pid namespace (aishell in a container, another
// machine's view of a shared containerd) is never judged.
func ownerGone(l map[string]string) bool {
	if !judged(l) {
		return false
	}
	return processGone(l[labels.PID], l[labels.PIDStart]) &&
		(l[labels.ReaperPID] == "" || processGone(l[labels.ReaperPID], l[labels.ReaperStart]))
}

// reaping reports whether a run's aishell is gone and its reaper is removing it: the run is
// ending, and nobody else is to remove it meanwhile.
func reaping(l map[string]string) bool {
	return judged(l) && l[labels.ReaperPID] != "" && processGone(l[labels.PID], l[labels.PIDStart]) &&
		!processGone(l[labels.ReaperPID], l[labels.ReaperStart])
}

// judged: the labels name an owner in this pid namespace, whose processes can be looked at.
func judged(l map[string]string) bool {
	pid, err := strconv.Atoi(l[labels.PID])
	return err == nil && pid > 0 && l[labels.PIDNS] != "" && l[labels.PIDNS] == pidNS()
}

// processGone reports whether the process pid, started at start (clock ticks since boot), is
// certainly gone: no such process, a zombie, or another process under the reused pid. A
// process that exists but whose start time cannot be read (another user's, under hidepid) is
// not gone.
func processGone(pidLabel, start string) bool {
	pid, err := strconv.Atoi(pidLabel)
	if err != nil || pid <= 0 {
		return true // no process was recorded
	}
	err = syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return true // no such process
	}
	f := statFields(pid)
	switch {
	case len(f) <= 19:
		return false // it exists, and nothing more can be told
	case f[0] == "Z":
		return true // it has exited; only its parent has not read its status yet
	}
	return f[19] != start // the pid was reused
}

// startTime is field 22 of /proc/PID/stat: when the process started, in clock ticks.
func startTime(pid int) string {
	if f := statFields(pid); len(f) > 19 {
		return f[19]
	}
	return ""
}

// statFields are the fields of /proc/PID/stat after the command name (field 3, the state,
// first), or nil. The name (field 2) may hold spaces; the fields after its closing parenthesis
// do not.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
