package build

import (
	"context"
	"io"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
)

// Options are how a command's builds run.
type Options struct {
	// Progress is BuildKit's display mode: auto (default), plain, tty or quiet.
	Progress string
	// NoCache runs every build step again instead of reusing buildkitd's cache.
	NoCache bool
	// Pull resolves the foundation's base images from their registries even when local.
	Pull bool
	// Out receives build progress and Log aishell's own lines (both default to stderr).
	Out, Log io.Writer
}

// New is the Builder every command that may build uses: results land in cc's image store and
// ep's snapshotter, builds trust the CA bundle cfg picks, and buildkitd (ep's, checked to build
// into the same containerd and namespace) is reached only when something must be built.
func New(cc *containerd.Client, ep config.Endpoints, cfg config.File, o Options) *Builder {
	out, log := o.Out, o.Log
	if out == nil {
		out = os.Stderr
	}
	if log == nil {
		log = os.Stderr
	}
	return &Builder{
		Images: cc, Snapshotter: ep.Snapshotter, Progress: o.Progress, Out: out, Log: log, Pull: o.Pull, NoCache: o.NoCache,
		CABundle:       cfg.HostCABundle(),
		FoundationSpec: FoundationSpec{BaseImage: cfg.BaseImage, NodeImage: cfg.NodeImage}.withDefaults(),
		Connect:        func(ctx context.Context) (*bkclient.Client, error) { return daemon.BuildkitFor(ctx, ep, cc) },
		Host:           ep.BuildkitHost,
	}
}
