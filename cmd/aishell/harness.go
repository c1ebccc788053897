package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

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
type HarnessLsCmd struct {
	JSONOutput
}

// Run prints one line per harness version in the store.
func (c HarnessLsCmd) Run(ctx context.Context, s *session) error {
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	uc, err := s.User()
	if err != nil {
		return err
	}
	list, err := snapshot.HarnessUses(ctx, cc, s.Endpoints().Snapshotter, harness.ConfiguredRefs(uc.Harnesses))
	if err != nil {
		return err
	}
	return c.print(harnessesJSON(list), func(w io.Writer) error { return harnessesText(w, list) })
}

func harnessesText(w io.Writer, list []snapshot.HarnessUse) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no harness snapshots yet: aishell build --with-claude (or another harness)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSNAPSHOT\tSIZE\tIN USE")
	for _, h := range list {
		var uses []string
		if h.Configured {
			uses = append(uses, "config")
		}
		if h.Containers > 0 {
			uses = append(uses, fmt.Sprintf("%d container(s)", h.Containers))
		}
		if len(uses) == 0 {
			uses = append(uses, "-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Version, snapshot.ShortID(h.ChainID), snapshot.HumanSize(h.Size), strings.Join(uses, ", "))
	}
	return tw.Flush()
}

// harnessesDoc is `aishell harness ls --json`.
type harnessesDoc struct {
	Harnesses []harnessLine `json:"harnesses"`
}

type harnessLine struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Ref        string `json:"ref"`
	Snapshot   string `json:"snapshot"` // the chain ID of its snapshot ("" when not unpacked)
	Size       int64  `json:"size"`     // bytes of its snapshot
	Created    string `json:"created"`  // RFC 3339
	Configured bool   `json:"configured"`
	Containers int    `json:"containers"` // containers that use it now
}

func harnessesJSON(list []snapshot.HarnessUse) harnessesDoc {
	d := harnessesDoc{Harnesses: []harnessLine{}}
	for _, h := range list {
		d.Harnesses = append(d.Harnesses, harnessLine{Name: h.Name, Version: h.Version, Ref: h.Ref, Snapshot: h.ChainID, Size: h.Size,
			Created: rfc3339(h.Created), Configured: h.Configured, Containers: h.Containers})
	}
	return d
}

// rfc3339 is t in RFC 3339, UTC, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
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
		fmt.Printf("%s %s (%s)\n", verb, r.Ref, snapshot.HumanSize(r.Size))
	}
	if err != nil {
		return err
	}
	switch {
	case len(removed) == 0 && len(reaped) == 0:
		fmt.Println("nothing to remove")
	case len(removed) > 0:
		fmt.Printf("%s %d image(s), %s\n", verb, len(removed), snapshot.HumanSize(total))
	}
	return nil
}
