package daemon

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/config"
)

// BuildkitFor opens buildkitd and checks that its containerd worker builds into cc's containerd
// (by UUID) and aishell's namespace, so what it builds lands where aishell runs containers.
// The caller closes the client.
func BuildkitFor(ctx context.Context, ep config.Endpoints, cc *containerd.Client) (*bkclient.Client, error) {
	bk, err := Buildkit(ctx, ep)
	if err != nil {
		return nil, err
	}
	info, err := cc.Server(ctx)
	if err != nil {
		bk.Close()
		return nil, fmt.Errorf("containerd server info: %w", err)
	}
	if _, err := Worker(ctx, bk, ep, info.UUID); err != nil {
		bk.Close()
		return nil, err
	}
	return bk, nil
}
