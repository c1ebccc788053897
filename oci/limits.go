package oci

import (
	"context"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits bound what one container may take of the host. A zero field sets no limit.
type Limits struct {
	Pids   int64  // processes and threads (the pids cgroup)
	Memory int64  // bytes of memory (the memory cgroup); swap is not added on top
	NoFile uint64 // open files, soft and hard (RLIMIT_NOFILE; containerd's default is 1024)
}

// WithLimits sets the NOFILE rlimit and, when the container gets a cgroup of its own
// (cgroups), its pids and memory limits. Without a cgroup (rootless containerd on cgroup v1,
// or v2 without delegation) the kernel has nowhere to enforce them and runc would refuse.
func WithLimits(l Limits, cgroups bool) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *specs.Spec) error {
		var opts []oci.SpecOpts
		if l.NoFile > 0 {
			opts = append(opts, oci.WithRlimit(&specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: l.NoFile, Hard: l.NoFile}))
		}
		if cgroups && l.Pids > 0 {
			opts = append(opts, oci.WithPidsLimit(l.Pids))
		}
		if cgroups && l.Memory > 0 {
			opts = append(opts, oci.WithMemoryLimit(uint64(l.Memory)), oci.WithMemorySwap(l.Memory))
		}
		return oci.Compose(opts...)(ctx, c, ctr, s)
	}
}
