// Package owner says who owns what aishell leaves in containerd: the labels by which a record
// (a run's container and lease, a gc in progress) names the aishell process that made it (its
// pid, pid namespace and start time, and a run's reaper), and whether that process is certainly
// gone, so that whoever finds the record may remove it.
//
// It imports nothing of containerd: it reads labels and /proc only.
package owner

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/aishell/aishell/labels"
)

// Self labels a record as this process's: its pid, pid namespace and start time, so that a
// reused pid is not mistaken for it.
func Self() map[string]string {
	pid := os.Getpid()
	return map[string]string{
		labels.PID:      strconv.Itoa(pid),
		labels.PIDNS:    PIDNS(),
		labels.PIDStart: StartTime(pid),
	}
}

// PIDNS is this process's pid namespace, as /proc shows it (pid:[4026531836]).
func PIDNS() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

// Gone reports whether the aishell process that made a record is certainly gone, and its
// reaper too. A record from another pid namespace (aishell in a container, another machine's
// view of a shared containerd) is never judged.
func Gone(l map[string]string) bool {
	if !Judged(l) {
		return false
	}
	return ProcessGone(l[labels.PID], l[labels.PIDStart]) &&
		(l[labels.ReaperPID] == "" || ProcessGone(l[labels.ReaperPID], l[labels.ReaperStart]))
}

// Reaping reports whether a run's aishell is gone and its reaper is removing it: the run is
// ending, and nobody else is to remove it meanwhile.
func Reaping(l map[string]string) bool {
	return Judged(l) && l[labels.ReaperPID] != "" && ProcessGone(l[labels.PID], l[labels.PIDStart]) &&
		!ProcessGone(l[labels.ReaperPID], l[labels.ReaperStart])
}

// Judged: the labels name an owner in this pid namespace, whose processes can be looked at.
func Judged(l map[string]string) bool {
	pid, err := strconv.Atoi(l[labels.PID])
	return err == nil && pid > 0 && l[labels.PIDNS] != "" && l[labels.PIDNS] == PIDNS()
}

// ProcessGone reports whether the process pid, started at start (clock ticks since boot), is
// certainly gone: no such process, a zombie, or another process under the reused pid. A
// process that exists but whose start time cannot be read (another user's, under hidepid) is
// not gone.
func ProcessGone(pidLabel, start string) bool {
	pid, err := strconv.Atoi(pidLabel)
	if err != nil || pid <= 0 {
		return true // no process was recorded
	}
	return processGone(pid, start, statFields(pid))
}

// processGone is ProcessGone given what /proc/PID/stat said (nil when it could not be read).
func processGone(pid int, start string, stat []string) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return true // no such process
	}
	switch {
	case len(stat) <= 19:
		return false // it exists, and nothing more can be told
	case stat[0] == "Z":
		return true // it has exited; only its parent has not read its status yet
	}
	return stat[19] != start // the pid was reused
}

// StartTime is field 22 of /proc/PID/stat: when the process started, in clock ticks.
func StartTime(pid int) string {
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

// Same reports whether two label sets name the same owner process: a record read again is
// still the one found before (a named run's ID, a lock's, is used again by the next owner).
func Same(a, b map[string]string) bool {
	for _, k := range []string{labels.PID, labels.PIDNS, labels.PIDStart} {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
