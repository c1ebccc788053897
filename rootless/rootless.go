// Package rootless finds a user's rootless containerd the way nerdctl finds it (rootlesskit's
// state directory and the pid of its child) and re-executes aishell inside rootlesskit's user,
// mount and network namespaces, where containerd's socket paths, snapshot directories, FIFOs
// and runc state are what containerd sees.
//
// aishell enters them by re-executing itself through nsenter(1), as nerdctl's rootless client
// does, rather than with setns(2) from Go: a multi-threaded process cannot join a user
// namespace, so entering from Go would need a cgo constructor that runs before the Go runtime
// starts, which would make the binary depend on cgo and stop it cross-compiling for the Mac.
// nsenter is in util-linux, present on every distribution Lima and colima boot.
package rootless

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// Variables rootlesskit defines for its children; nerdctl sets the same ones when it enters.
const (
	EnvStateDir   = "ROOTLESSKIT_STATE_DIR"
	EnvParentEUID = "ROOTLESSKIT_PARENT_EUID"
	EnvParentEGID = "ROOTLESSKIT_PARENT_EGID"
)

// Kit is a running rootlesskit that holds the user's containerd.
type Kit struct {
	StateDir string
	ChildPID int
	// SharedNetNS is set when rootlesskit's child is in aishell's own network namespace: with
	// --net=host, or --detach-netns (where containers get the detached one). There is nothing
	// to enter then, and a user could not enter the host's anyway.
	SharedNetNS bool
}

// SetupHint names both ways to get a containerd a non-root user can use.
const SetupHint = "set up rootless containerd (containerd-rootless-setuptool.sh install, then " +
	"CONTAINERD_NAMESPACE=aishell containerd-rootless-setuptool.sh install-buildkit-containerd), " +
	"or use the system's containerd through sudo: sudo aishell …"

// StateDir is where rootlesskit keeps its state for this user: $ROOTLESSKIT_STATE_DIR, else
// $XDG_RUNTIME_DIR/containerd-rootless (the path containerd-rootless.sh gives it).
func StateDir(getenv func(string) string, runtimeDir string) string {
	if d := getenv(EnvStateDir); d != "" {
		return d
	}
	return filepath.Join(runtimeDir, "containerd-rootless")
}

// Find looks for the user's running rootlesskit. The error says what is missing and how to
// set it up.
func Find(getenv func(string) string, runtimeDir string) (Kit, error) {
	dir := StateDir(getenv, runtimeDir)
	k := Kit{StateDir: dir}
	if _, err := os.Stat(dir); err != nil {
		return k, errs.WithHint(fmt.Errorf("no rootless containerd for %s: rootlesskit's state directory %s %s, and aishell is not running as root",
			userName(), dir, statWhy(err)), SetupHint)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child_pid"))
	if err != nil {
		return k, errs.WithHint(fmt.Errorf("rootless containerd is not running: %s/child_pid %s", dir, statWhy(err)), "start it: systemctl --user start containerd (or containerd-rootless-setuptool.sh install)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return k, errs.WithHint(fmt.Errorf("rootlesskit's %s/child_pid holds %q, not a pid", dir, strings.TrimSpace(string(b))), "restart rootless containerd: systemctl --user restart containerd")
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return k, errs.WithHint(fmt.Errorf("rootless containerd is not running: rootlesskit's child %d (from %s/child_pid) is gone", pid, dir), "start it: systemctl --user start containerd (or containerd-rootless-setuptool.sh install)")
	}
	k.ChildPID = pid
	k.SharedNetNS = sameNetNS(pid)
	return k, nil
}

// sameNetNS reports whether process pid is in this process's network namespace.
func sameNetNS(pid int) bool {
	theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	ours, err2 := os.Readlink("/proc/self/ns/net")
	return err1 == nil && err2 == nil && theirs == ours
}

func statWhy(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "cannot be read (permission denied)"
	}
	return "cannot be read: " + err.Error()
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// Args is the nsenter command line that re-executes exe with args inside k's namespaces, in
// the working directory wd: its user and mount namespaces, and its network namespace unless
// that is aishell's own already. Credentials are kept (the user's uid is 0 in the namespace), and
// nsenter does not fork, so the process keeps its pid, terminal and signals.
func (k Kit) Args(nsenter, exe, wd string, args []string) []string {
	out := []string{nsenter}
	if wd != "" {
		out = append(out, "-w"+wd)
	}
	out = append(out, "--preserve-credentials", "-U", "-m", "-t", strconv.Itoa(k.ChildPID), "-F")
	if !k.SharedNetNS {
		out = append(out, "-n")
	}
	out = append(out, "--", exe)
	return append(out, args...)
}

// Enter re-executes aishell, with the same arguments, inside k's namespaces. It returns only
// when that cannot be done.
func Enter(k Kit, args []string) error {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return errs.WithHint(errors.New("rootless mode needs nsenter to enter rootlesskit's namespaces, and it is not on PATH"), "install util-linux (Debian/Ubuntu: sudo apt-get install util-linux)")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rootless: find aishell's own executable: %w", err)
	}
	wd, err := os.Getwd()
	if err == nil {
		os.Setenv("PWD", wd)
	}
	os.Setenv(EnvStateDir, k.StateDir)
	os.Setenv(EnvParentEUID, strconv.Itoa(os.Geteuid()))
	os.Setenv(EnvParentEGID, strconv.Itoa(os.Getegid()))
	os.Setenv(config.EnvHostAddrs, hostAddrs())
	argv := k.Args(nsenter, exe, wd, args)
	if err := syscall.Exec(nsenter, argv, os.Environ()); err != nil {
		return fmt.Errorf("rootless: run %s: %w", nsenter, err)
	}
	return nil
}

// InChild reports whether this process runs inside rootlesskit's namespaces on a user's
// behalf (after Enter): uid 0 in a user namespace, with the parent's uid recorded.
func InChild() bool {
	return os.Geteuid() == 0 && os.Getenv(EnvParentEUID) != "" && inUserNS()
}

// HostIDs are the invoking user's euid and egid on the host, and whether aishell runs
// inside rootlesskit's namespaces (where its own ids are 0).
func HostIDs() (euid, egid int, child bool) {
	if !InChild() {
		return os.Geteuid(), os.Getegid(), false
	}
	euid, err1 := strconv.Atoi(os.Getenv(EnvParentEUID))
	egid, err2 := strconv.Atoi(os.Getenv(EnvParentEGID))
	if err1 != nil {
		euid = -1
	}
	if err2 != nil {
		egid = euid
	}
	return euid, egid, true
}

// inUserNS reports whether this process is in a user namespace other than the initial one,
// whose uid_map maps the whole range onto itself.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return !isInitialUIDMap(string(b))
}

func isInitialUIDMap(m string) bool {
	f := strings.Fields(m)
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// hostAddrs are the addresses of this (the host's) network namespace, comma-separated: inside
// rootlesskit's namespaces, whose network may be its own, they are not to be seen any more.
func hostAddrs() string {
	var out []string
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP.String())
		}
	}
	return strings.Join(out, ",")
}
