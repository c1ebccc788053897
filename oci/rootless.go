package oci

import (
	"context"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithRootless adapts the spec to a rootless containerd, where runc runs as uid 0 of a user
// namespace that owns no cgroup and, with host networking, no network namespace:
//   - sysfs cannot be mounted for a network namespace the user namespace does not own, so /sys
//     is the host's, bound read-only (and nothing is mounted under it);
//   - with systemdScope empty there is no cgroup: the path is cleared so runc creates none
//     (cgroup v1, or v2 without delegation). Otherwise the container gets a systemd scope, such
//     as "user.slice:aishell:<id>", under the user's delegated systemd instance.
func WithRootless(systemdScope string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		var mounts []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination == "/sys" || strings.HasPrefix(m.Destination, "/sys/") {
				continue
			}
			mounts = append(mounts, m)
		}
		s.Mounts = append(mounts, specs.Mount{
			Destination: "/sys", Type: "bind", Source: "/sys",
			Options: []string{"rbind", "ro", "nosuid", "noexec", "nodev"},
		})
		if s.Linux != nil {
			s.Linux.CgroupsPath = systemdScope
		}
		return nil
	}
}
