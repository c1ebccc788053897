package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
)

// ExtCmd groups the project extension commands.
type ExtCmd struct {
	Ls      ExtLsCmd      `cmd:"" help:"List extension images: project, freshness, size."`
	Status  ExtStatusCmd  `cmd:"" help:"Say whether this project's extension is fresh, and why not."`
	Rebuild ExtRebuildCmd `cmd:"" help:"Rebuild this project's extension (.aishell/Dockerfile) now."`
}

// ExtRebuildCmd forces the extension build.
type ExtRebuildCmd struct {
	BuildOutput
}

// Run rebuilds the current project's extension.
func (c ExtRebuildCmd) Run(ctx context.Context, g *Globals) error {
	return withProjectExtension(ctx, g, func(ctx context.Context, b *build.Builder, ep config.Endpoints, cfg config.File, cfgPath string, ext *build.Extension) error {
		ref, _, err := b.EnsureExtension(ctx, ext, ep.Snapshotter, true)
		if err != nil {
			return err
		}
		fmt.Printf("extension %s rebuilt for %s\n", ref, ext.Project)
		return nil
	}, c.BuildOutput)
}

// ExtStatusCmd reports freshness.
type ExtStatusCmd struct{}

// Run prints the current project's extension status and how long the check took.
func (ExtStatusCmd) Run(ctx context.Context, g *Globals) error {
	return withProjectExtension(ctx, g, func(ctx context.Context, b *build.Builder, ep config.Endpoints, cfg config.File, cfgPath string, ext *build.Extension) error {
		start := time.Now()
		st, err := b.CheckExtension(ctx, ext, ep.Snapshotter)
		if err != nil {
			return err
		}
		took := time.Since(start)
		state := "fresh"
		if !st.Fresh {
			state = "stale: " + st.Reason
		}
		fmt.Printf("%s %s (%s; checked in %.1f ms, no buildkitd call)\n", st.Ref, state, ext.Path, float64(took.Microseconds())/1000)
		return nil
	}, BuildOutput{Progress: "auto"})
}

// withProjectExtension runs fn with the current project's extension, or says there is none.
func withProjectExtension(ctx context.Context, g *Globals, fn func(context.Context, *build.Builder, config.Endpoints, config.File, string, *build.Extension) error, out BuildOutput) error {
	ep := g.Endpoints()
	cfg, path, _, err := g.UserConfig()
	if err != nil {
		return err
	}
	project, ext, err := build.ProjectExtension()
	if err != nil {
		return err
	}
	if ext == nil {
		return errs.WithHint(fmt.Errorf("%s has no %s", project, build.ExtensionDockerfile), "write one FROM aishell:foundation to add tools to this project's sandbox")
	}
	cc, err := daemon.Containerd(ctx, ep)
	if err != nil {
		return err
	}
	defer cc.Close()
	b := newBuilder(ep, cc, cfg, out, false)
	defer b.Close()
	return fn(ctx, b, ep, cfg, path, ext)
}

// ExtLsCmd lists extension images.
type ExtLsCmd struct{}

// Run prints one line per extension image.
func (ExtLsCmd) Run(ctx context.Context, g *Globals) error {
	ep := g.Endpoints()
	cc, err := daemon.Containerd(ctx, ep)
	if err != nil {
		return err
	}
	defer cc.Close()
	imgs, err := cc.ImageService().List(ctx, labels.Equals(labels.Tier, labels.TierExtension))
	if err != nil {
		return fmt.Errorf("list extensions: %w", err)
	}
	if len(imgs) == 0 {
		fmt.Println("no extension images: a project gets one from its .aishell/Dockerfile on its first run")
		return nil
	}
	b := &build.Builder{Images: cc, Snapshotter: ep.Snapshotter}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tSTATE\tSIZE\tIMAGE")
	for _, img := range imgs {
		project := img.Labels[labels.Project]
		state := "fresh"
		ext, err := build.LoadExtension(project)
		switch {
		case err != nil:
			state = "stale: " + strings.SplitN(err.Error(), ";", 2)[0]
		case ext == nil:
			state = "orphaned: no " + filepath.Join(project, build.ExtensionDockerfile) + " (aishell gc removes it)"
		default:
			st, err := b.CheckExtension(ctx, ext, ep.Snapshotter)
			if err != nil {
				state = "unknown: " + err.Error()
			} else if !st.Fresh {
				state = "stale: " + st.Reason
			}
		}
		var size int64
		if i, err := cc.GetImage(ctx, img.Name); err == nil {
			size, _ = i.Usage(ctx, containerd.WithSnapshotUsage())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", project, state, humanSize(size), img.Name)
	}
	return tw.Flush()
}

// buildExtension brings the current project's extension up to date during `aishell build`.
func buildExtension(ctx context.Context, b *build.Builder, ep config.Endpoints, person config.Person, cfgPath string, force bool) error {
	project, ext, err := build.ProjectExtension()
	if project == "" {
		return nil // not in a project: nothing to do
	}
	if err != nil || ext == nil {
		return err
	}
	baseNotice(cfgPath, person, ext)
	ref, built, err := b.EnsureExtension(ctx, ext, ep.Snapshotter, force)
	if err != nil {
		return err
	}
	state := "up to date"
	if built {
		state = "built"
	}
	fmt.Printf("extension %s for %s (%s)\n", ref, project, state)
	return nil
}

// baseNotice says once per project that FROM aishell:base is the old name.
func baseNotice(cfgPath string, person config.Person, ext *build.Extension) {
	if !ext.BaseAlias {
		return
	}
	mark := filepath.Join(filepath.Dir(cfgPath), "notices", "base-"+strings.TrimPrefix(build.ExtensionRef(ext.Project), build.FoundationRepo+":ext-"))
	if _, err := os.Stat(mark); err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "aishell: notice: %s says FROM aishell:base, the old name of the foundation; FROM aishell:foundation names the same image (shown once)\n", ext.Path)
	if person.MkdirAll(filepath.Dir(mark), 0o755) == nil && os.WriteFile(mark, nil, 0o644) == nil {
		person.Own(mark)
	}
}
