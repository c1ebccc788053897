package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/run"
	"github.com/aishell/aishell/snapshot"
)

// HarnessCmd groups the harness snapshot commands.
type HarnessCmd struct {
	Ls HarnessLsCmd `cmd:"" help:"List harness snapshots: name, version, snapshot, size, and what uses them."`
}

// HarnessLsCmd lists harness images.
type HarnessLsCmd struct{}

// Run prints one line per harness version in the store.
func (HarnessLsCmd) Run(ctx context.Context, s *session) error {
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	list, err := snapshot.HarnessImages(ctx, cc, s.Endpoints().Snapshotter)
	if err != nil {
		return err
	}
	used, err := snapshot.InUse(ctx, cc)
	if err != nil {
		return err
	}
	uc, err := s.User()
	if err != nil {
		return err
	}
	configured := harness.ConfiguredRefs(uc.Harnesses)
	if len(list) == 0 {
		fmt.Println("no harness snapshots yet: aishell build --with-claude (or another harness)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSNAPSHOT\tSIZE\tIN USE")
	for _, h := range list {
		var uses []string
		if configured[h.Ref] {
			uses = append(uses, "config")
		}
		if n := used[h.Ref]; n > 0 {
			uses = append(uses, fmt.Sprintf("%d container(s)", n))
		}
		if len(uses) == 0 {
			uses = append(uses, "-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Version, shortID(h.ChainID), humanSize(h.Size), strings.Join(uses, ", "))
	}
	return tw.Flush()
}

// GcCmd removes unused harness, foundation and extension images.
type GcCmd struct {
	DryRun bool `help:"Only print what would be removed."`
}

// Run removes what no config and no container uses.
func (c GcCmd) Run(ctx context.Context, s *session) error {
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	uc, err := s.User()
	if err != nil {
		return err
	}
	snapshotter := s.Endpoints().Snapshotter
	verb := "removed"
	if c.DryRun {
		verb = "would remove"
	}
	// Containers whose aishell process died without cleaning up (kill -9, a crash) go first,
	// so the images they pinned can go too.
	reaped, err := run.Reap(ctx, cc, snapshotter, c.DryRun)
	for _, id := range reaped {
		fmt.Printf("%s leftover container %s (its aishell process is gone)\n", verb, id)
	}
	if err != nil {
		return err
	}
	removed, err := snapshot.GC(ctx, cc, snapshot.GCOptions{
		Snapshotter: snapshotter, Keep: harness.ConfiguredRefs(uc.Harnesses), DryRun: c.DryRun, ProjectAlive: build.ProjectAlive, UserBaseAlive: build.UserBaseAlive,
	})
	var total int64
	for _, r := range removed {
		total += r.Size
		fmt.Printf("%s %s (%s)\n", verb, r.Ref, humanSize(r.Size))
	}
	if err != nil {
		return err
	}
	switch {
	case len(removed) == 0 && len(reaped) == 0:
		fmt.Println("nothing to remove")
	case len(removed) > 0:
		fmt.Printf("%s %d image(s), %s\n", verb, len(removed), humanSize(total))
	}
	return nil
}

func shortID(chain string) string {
	chain = strings.TrimPrefix(chain, "sha256:")
	if len(chain) > 12 {
		chain = chain[:12]
	}
	if chain == "" {
		return "-"
	}
	return chain
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
