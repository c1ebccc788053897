package oci

import (
	"path/filepath"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
)

// Runtime says how containers run on this containerd: as root on the system containerd, or
// rootless (run.DetectRuntime).
type Runtime struct {
	// Rootless: containerd runs in rootlesskit's user namespace, and aishell inside it too.
	Rootless bool
	// RuntimeDir is the user's runtime directory ($XDG_RUNTIME_DIR): in rootless mode the
	// task's FIFOs and runc's state live under it, where the user may write.
	RuntimeDir string
	// SystemdCgroup: rootless on cgroup v2 with controllers delegated to the user's systemd,
	// so containers get a systemd scope; otherwise rootless containers get no cgroup.
	SystemdCgroup bool
}

// Cgroups reports whether containers get a cgroup of their own, where limits are enforced.
func (r Runtime) Cgroups() bool { return !r.Rootless || r.SystemdCgroup }

// FIFODir is where the task's FIFOs are made: containerd's default (""), or the user's runtime
// directory in rootless mode.
func (r Runtime) FIFODir() string {
	if !r.Rootless {
		return ""
	}
	return filepath.Join(r.RuntimeDir, "aishell", "fifo")
}

// FIFORoot is where the task's FIFO directories are: FIFODir, or containerd's default.
func (r Runtime) FIFORoot() string {
	if d := r.FIFODir(); d != "" {
		return d
	}
	return "/run/containerd/fifo"
}

// RuncOptions are runc's options for a container: nil as root; in rootless mode runc's state
// directory where containerd-rootless.sh's layout puts it ($XDG_RUNTIME_DIR/containerd/runc,
// the shim adds the namespace), made explicit so any rootless layout works, and the cgroup
// driver.
func (r Runtime) RuncOptions() *runcoptions.Options {
	if !r.Rootless {
		return nil
	}
	return &runcoptions.Options{Root: filepath.Join(r.RuntimeDir, "containerd", "runc"), SystemdCgroup: r.SystemdCgroup}
}

// SystemdScope is the systemd scope a container named id gets (WithRootless): one under the
// user's systemd when it delegates controllers, otherwise none.
func (r Runtime) SystemdScope(id string) string {
	if !r.SystemdCgroup {
		return ""
	}
	return "user.slice:aishell:" + id
}
