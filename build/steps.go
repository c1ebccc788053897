package build

import (
	"context"
	"errors"
	"io"

	controlapi "github.com/moby/buildkit/api/services/control"
)

// Idle reports whether buildkitd has no build in progress now, with ok false when it cannot
// tell (buildkitd is not reachable): a RUN step's container that exists while buildkitd builds
// nothing was left by a buildkitd that died (gc removes it: run.ReapBuildSteps).
func (b *Builder) Idle(ctx context.Context) (idle, ok bool) {
	if b.bk == nil {
		c, err := b.Connect(ctx)
		if err != nil {
			return false, false
		}
		b.bk = c
	}
	hist, err := b.bk.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{ActiveOnly: true, EarlyExit: true})
	if err != nil {
		return false, false
	}
	for {
		ev, err := hist.Recv()
		if errors.Is(err, io.EOF) {
			return true, true
		}
		if err != nil {
			return false, false
		}
		if ev.GetRecord() != nil {
			return false, true
		}
	}
}
