// Package oci assembles the runtime spec of aishell's containers as containerd oci.SpecOpts.
package oci

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithReadOnlySnapshot puts the mounts of a snapshot View straight into the spec as a read-only
// bind at target. A view of a committed single-layer snapshot is one bind mount (overlayfs and
// native snapshotters alike), so nothing is mounted on the host and the same spec works under
// rootless containerd.
func WithReadOnlySnapshot(target string, mounts []mount.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if len(mounts) != 1 || mounts[0].Type != "bind" {
			kinds := make([]string, len(mounts))
			for i, m := range mounts {
				kinds[i] = m.Type
			}
			return fmt.Errorf("snapshot for %s is %d mount(s) [%s], want one bind mount: harness images must have a single layer",
				target, len(mounts), strings.Join(kinds, ","))
		}
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: target,
			Type:        "bind",
			Source:      mounts[0].Source,
			Options:     []string{"bind", "ro", "nosuid", "nodev"}, // a snapshot's directory has no submounts
		})
		return nil
	}
}

// defaultPath is containerd's default PATH for Linux containers.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WithPathPrepend puts dirs in front of the process's PATH (or of the default PATH when the
// image sets none).
func WithPathPrepend(dirs ...string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if len(dirs) == 0 {
			return nil
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		prefix := strings.Join(dirs, ":")
		for i, e := range s.Process.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				s.Process.Env[i] = "PATH=" + prefix + ":" + v
				return nil
			}
		}
		s.Process.Env = append(s.Process.Env, "PATH="+prefix+":"+defaultPath)
		return nil
	}
}
