package main

import (
	"context"
	"fmt"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/testpoint"
	containerd "github.com/containerd/containerd/v2/client"
	"io"
	"os"
	"slices"
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
	for i := range list { // only the marks of people who may still want it keep anything
		list[i].KeptBy = slices.DeleteFunc(list[i].KeptBy, func(m snapshot.Mark) bool { return !config.KeeperAlive(m.View, m.ConfigPath) })
	}
	return c.print(harnessesJSON(list), func(w io.Writer) error { return harnessesText(w, list, uc.Path) })
}

// harnessesText lists the harness images; own is the person's config file, whose mark is
// "config" and every other person's is counted apart.
func harnessesText(w io.Writer, list []snapshot.HarnessUse, own string) error {
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
		if n := len(slices.DeleteFunc(slices.Clone(h.KeptBy), func(m snapshot.Mark) bool { return m.ConfigPath == own && m.View == config.View() })); n > 0 {
			uses = append(uses, fmt.Sprintf("kept by %d other person(s)", n))
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
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Ref        string   `json:"ref"`
	Snapshot   string   `json:"snapshot"` // the chain ID of its snapshot ("" when not unpacked)
	Size       int64    `json:"size"`     // bytes of its snapshot
	Created    string   `json:"created"`  // RFC 3339
	Configured bool     `json:"configured"`
	KeptBy     []string `json:"kept_by"`    // the config files of everyone who keeps it (gc leaves it alone)
	Containers int      `json:"containers"` // containers that use it now
}

func harnessesJSON(list []snapshot.HarnessUse) harnessesDoc {
	d := harnessesDoc{Harnesses: []harnessLine{}}
	for _, h := range list {
		d.Harnesses = append(d.Harnesses, harnessLine{Name: h.Name, Version: h.Version, Ref: h.Ref, Snapshot: h.ChainID, Size: h.Size,
			Created: rfc3339(h.Created), Configured: h.Configured, KeptBy: markPaths(h.KeptBy), Containers: h.Containers})
	}
	return d
}

// markPaths are the config files of marks.
func markPaths(marks []snapshot.Mark) []string {
	out := []string{}
	for _, m := range marks {
		out = append(out, m.ConfigPath)
	}
	return out
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
	// One gc at a time, and runs that start meanwhile wait before they look at their images.
	release, err := snapshot.LockGC(ctx, cc, func(pid string) {
		fmt.Fprintf(os.Stderr, "aishell: waiting for another aishell gc (pid %s) to finish\n", pid)
	})
	if err != nil {
		return err
	}
	defer release()
	// Containers whose aishell process died without cleaning up (kill -9, a crash) go first,
	// so the images they pinned can go too.
	reaped, err := run.Reap(ctx, cc, snapshotter, "", c.DryRun)
	for _, id := range reaped {
		fmt.Printf("%s leftover run %s (its aishell process is gone)\n", verb, id)
	}
	if err != nil {
		return err
	}
	steps, err := run.ReapBuildSteps(ctx, cc, buildkitdIdleSince(ctx, s, cc, uc), c.DryRun)
	for _, id := range steps {
		fmt.Printf("%s build step container %s (a buildkitd that died left it)\n", verb, id)
	}
	if err != nil {
		return err
	}
	if !c.DryRun {
		uc = keepOwn(ctx, s, cc)
	}
	testpoint.Reached("gc-locked")
	res, err := snapshot.GC(ctx, cc, snapshot.GCOptions{
		Snapshotter: snapshotter, Keep: build.KeptRefs(uc.File), DryRun: c.DryRun,
		ProjectAlive: build.ProjectAlive, UserBaseAlive: build.UserBaseAlive, KeeperAlive: config.KeeperAlive,
	})
	var total int64
	for _, r := range res.Removed {
		total += r.Size
		fmt.Printf("%s %s (%s)\n", verb, r.Ref, snapshot.HumanSize(r.Size))
	}
	if err != nil {
		return err
	}
	for _, path := range res.Caches {
		fmt.Printf("%s the npm cache of %s (its config is gone)\n", verb, path)
	}
	if len(res.Builds) > 0 {
		fmt.Printf("a build is under way (pid %s): harness and foundation images are left for the next gc\n", strings.Join(res.Builds, ", "))
	}
	switch {
	case len(res.Removed) == 0 && len(reaped) == 0 && len(steps) == 0 && len(res.Caches) == 0:
		fmt.Println("nothing to remove")
	case len(res.Removed) > 0:
		fmt.Printf("%s %d image(s), %s\n", verb, len(res.Removed), snapshot.HumanSize(total))
	}
	return nil
}

// buildkitdIdleSince is a moment at which buildkitd had no build in progress (now, once it says
// so), or zero when it cannot tell.
func buildkitdIdleSince(ctx context.Context, s *session, cc *containerd.Client, uc *userConfig) time.Time {
	b, err := newBuilder(s, cc, uc, build.Options{})
	if err != nil {
		return time.Time{}
	}
	defer b.Close()
	asked := time.Now()
	if idle, ok := b.Idle(ctx); ok && idle {
		return asked
	}
	return time.Time{}
}

// keepOwn marks what the person's config keeps, and unmarks what it no longer names (edited
// by hand). While a build of theirs is under way it does neither: that build marks what it
// builds before the config names it, and moves the marks itself when it saves. It returns the
// person's config as it is now.
func keepOwn(ctx context.Context, s *session, cc *containerd.Client) *userConfig {
	uc, _ := s.User()
	unlock, idle, err := config.TryLockBuilds(uc.Path, uc.Person)
	if !idle {
		if err != nil {
			fmt.Fprintf(os.Stderr, "aishell: warning: %v\n", err)
		}
		return uc
	}
	defer unlock()
	if fresh, err := s.ReloadUser(); err == nil {
		uc = fresh
	}
	if err := snapshot.KeeperOf(config.View(), uc.Path).Sync(ctx, cc, build.KeptRefs(uc.File), true); err != nil {
		fmt.Fprintf(os.Stderr, "aishell: warning: %v\n", err)
	}
	return uc
}
