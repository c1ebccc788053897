package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/snapshot"
)

// ExtCmd groups the project extension commands.
type ExtCmd struct {
	Ls      ExtLsCmd      `cmd:"" help:"List extension images: project, freshness, size."`
	Status  ExtStatusCmd  `cmd:"" help:"Say whether this project's extension is fresh, and why not."`
	Rebuild ExtRebuildCmd `cmd:"" help:"Rebuild this project's extension (.aishell/Dockerfile) now."`
	Trust   ExtTrustCmd   `cmd:"" help:"Show this project's .aishell/Dockerfile and what it copies, and approve that exact content for builds and runs."`
}

// ExtRebuildCmd forces the extension build.
type ExtRebuildCmd struct {
	BuildOutput
}

// Run rebuilds the current project's extension.
func (c ExtRebuildCmd) Run(ctx context.Context, s *session) error {
	b, ext, err := projectBuilder(ctx, s, c.options(), true)
	if err != nil {
		return err
	}
	defer b.Close()
	ref, _, err := b.EnsureExtension(ctx, ext, true)
	if err != nil {
		return err
	}
	fmt.Printf("extension %s rebuilt for %s\n", ref, ext.Project)
	return nil
}

// ExtStatusCmd reports freshness.
type ExtStatusCmd struct {
	JSONOutput
}

// Run prints the current project's extension status and how long the check took.
func (c ExtStatusCmd) Run(ctx context.Context, s *session) error {
	st, err := extensionStatus(ctx, s)
	if err != nil {
		return err
	}
	return c.print(extStatusJSON(st), func(w io.Writer) error { return extStatusText(w, st) })
}

// extStatus is what `aishell ext status` found.
type extStatus struct {
	build.ExtensionStatus
	Dockerfile string        // the project's .aishell/Dockerfile
	Approved   bool          // the user approved its current content
	Took       time.Duration // the freshness check
}

func extensionStatus(ctx context.Context, s *session) (extStatus, error) {
	uc, err := s.User()
	if err != nil {
		return extStatus{}, err
	}
	b, ext, err := projectBuilder(ctx, s, build.Options{Progress: "auto"}, false)
	if err != nil {
		return extStatus{}, err
	}
	defer b.Close()
	start := time.Now()
	st, err := b.CheckExtension(ctx, ext)
	if err != nil {
		return extStatus{}, err
	}
	return extStatus{ExtensionStatus: st, Dockerfile: ext.Path, Approved: uc.ApprovedExtensions[ext.Project] == st.Digest, Took: time.Since(start)}, nil
}

func extStatusText(w io.Writer, st extStatus) error {
	state := "fresh"
	if !st.Fresh {
		state = "stale: " + st.Reason
	}
	if !st.Approved {
		state += "; not approved (" + build.TrustCommand + ")"
	}
	_, err := fmt.Fprintf(w, "%s %s (%s; checked in %.1f ms, no buildkitd call)\n", st.Ref, state, st.Dockerfile, float64(st.Took.Microseconds())/1000)
	return err
}

// extStatusDoc is `aishell ext status --json`.
type extStatusDoc struct {
	Extension extStatusLine `json:"extension"`
}

type extStatusLine struct {
	Project     string  `json:"project"`
	Dockerfile  string  `json:"dockerfile"`
	Ref         string  `json:"ref"`
	Exists      bool    `json:"exists"`
	Fresh       bool    `json:"fresh"`
	Reason      string  `json:"reason"`   // why it is stale
	Digest      string  `json:"digest"`   // of the Dockerfile and what it copies
	Approved    bool    `json:"approved"` // that content is approved (aishell ext trust)
	CheckedInMS float64 `json:"checked_in_ms"`
}

func extStatusJSON(st extStatus) extStatusDoc {
	return extStatusDoc{Extension: extStatusLine{Project: st.Project, Dockerfile: st.Dockerfile, Ref: st.Ref, Exists: st.Exists, Fresh: st.Fresh,
		Reason: st.Reason, Digest: st.Digest, Approved: st.Approved, CheckedInMS: float64(st.Took.Microseconds()) / 1000}}
}

// projectBuilder is a builder for the current project's extension (approved first when it is
// to be built), or an error saying there is none.
func projectBuilder(ctx context.Context, s *session, o build.Options, toBuild bool) (*build.Builder, *build.Extension, error) {
	uc, err := s.User()
	if err != nil {
		return nil, nil, err
	}
	load := projectExtension
	if !toBuild {
		load = func(s *session) (string, *build.Extension, error) { return build.ProjectExtension(s.where(uc)) }
	}
	project, ext, err := load(s)
	if project == "" {
		return nil, nil, errs.WithHint(err, "cd into your project first")
	}
	if err != nil {
		return nil, nil, err
	}
	if ext == nil {
		return nil, nil, errs.WithHint(fmt.Errorf("%s has no %s", project, build.ExtensionDockerfile), "write one FROM aishell:foundation to add tools to this project's sandbox")
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return nil, nil, err
	}
	b, err := newBuilder(s, cc, uc, o)
	return b, ext, err
}

// ExtLsCmd lists extension images.
type ExtLsCmd struct {
	JSONOutput
}

// Run prints one line per extension image.
func (c ExtLsCmd) Run(ctx context.Context, s *session) error {
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	uc, err := s.User()
	if err != nil {
		return err
	}
	b, err := newBuilder(s, cc, uc, build.Options{})
	if err != nil {
		return err
	}
	list, err := b.Extensions(ctx)
	if err != nil {
		return err
	}
	return c.print(extensionsJSON(list), func(w io.Writer) error { return extensionsText(w, list) })
}

func extensionsText(w io.Writer, list []build.ExtensionImage) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no extension images: a project gets one from its .aishell/Dockerfile on its first run")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tSTATE\tSIZE\tIMAGE")
	for _, x := range list {
		project := x.Project
		if x.UserBase {
			project += " (your base)"
		}
		state := x.State
		if x.Reason != "" {
			state += ": " + x.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", project, state, snapshot.HumanSize(x.Size), x.Ref)
	}
	return tw.Flush()
}

// extensionsDoc is `aishell ext ls --json`.
type extensionsDoc struct {
	Extensions []extensionLine `json:"extensions"`
}

type extensionLine struct {
	Project  string `json:"project"`   // the project's directory; for the user base, its Dockerfile
	UserBase bool   `json:"user_base"` // the person's own base, not a project's extension
	State    string `json:"state"`     // fresh, stale, orphaned or unknown
	Reason   string `json:"reason"`
	Size     int64  `json:"size"` // bytes of its snapshots
	Ref      string `json:"ref"`
}

func extensionsJSON(list []build.ExtensionImage) extensionsDoc {
	d := extensionsDoc{Extensions: []extensionLine{}}
	for _, x := range list {
		d.Extensions = append(d.Extensions, extensionLine{Project: x.Project, UserBase: x.UserBase, State: x.State, Reason: x.Reason, Size: x.Size, Ref: x.Ref})
	}
	return d
}

// buildExtension brings the current project's extension up to date during `aishell build`;
// nil outside a project or in one without an extension.
func buildExtension(ctx context.Context, b *build.Builder, p *projectExt, force bool) (*tierOutcome, error) {
	if p == nil {
		return nil, nil
	}
	ref, built, err := b.EnsureExtension(ctx, p.ext, force)
	if err != nil {
		return nil, err
	}
	return &tierOutcome{Ref: ref, Where: p.root, Built: built}, nil
}

// projectExt is the current project and its approved extension.
type projectExt struct {
	root string
	ext  *build.Extension
}

// buildableExtension is the current project's extension, approved (asked at the terminal when
// it must be), for `aishell build` to bring up to date; nil outside a project or without one.
func buildableExtension(s *session, uc *userConfig) (*projectExt, error) {
	root, _, err := project.Current(s.where(uc))
	if err != nil {
		return nil, nil // not in a project: nothing to do
	}
	ext, err := approvedExtension(s, uc, root)
	if err != nil || ext == nil {
		return nil, err
	}
	baseNotice(uc, ext)
	return &projectExt{root: root, ext: ext}, nil
}

// baseNotice says once per project that FROM aishell:base is the old name.
func baseNotice(uc *userConfig, ext *build.Extension) {
	if ext != nil && ext.BaseAlias && config.NoticeOnce(uc.Path, uc.Person, "base-"+ext.Key()) {
		fmt.Fprintf(os.Stderr, "aishell: notice: %s says FROM aishell:base, the old name of the foundation; FROM aishell:foundation names the same image (shown once)\n", ext.Path)
	}
}
