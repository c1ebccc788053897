package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/harness"
)

// BuildCmd builds the foundation and the chosen harness snapshots.
type BuildCmd struct {
	HarnessFlags
	BuildOutput
	JSONOutput
	BaseImage string `placeholder:"IMAGE" help:"Upstream Debian image of the foundation, kept in the config as base_image (default docker.io/library/debian:bookworm-slim)."`
	NodeImage string `placeholder:"IMAGE" help:"Image Node.js is copied from, kept in the config as node_image (default docker.io/library/node:24-bookworm-slim)."`
	Force     bool   `help:"Rebuild the foundation and the harness snapshots even if they exist."`
	Pull      bool   `help:"Resolve base images from their registries even when present locally."`
	Extension bool   `help:"Rebuild this project's extension (.aishell/Dockerfile) even if it is fresh."`
}

// UpdateCmd rebuilds only the harness snapshots whose version changed.
type UpdateCmd struct {
	HarnessFlags
	BuildOutput
	JSONOutput
}

// Run builds what is missing, records the harness set, and brings the current project's
// extension up to date.
func (c *BuildCmd) Run(ctx context.Context, s *session) error {
	req := c.request()
	req.BaseImage, req.NodeImage, req.Force = c.BaseImage, c.NodeImage, c.Force
	opts := c.buildOptions(c.JSONOutput)
	opts.Pull = c.Pull
	out, err := runBuild(ctx, s, buildJob{Request: req, Options: opts, RebuildExtension: c.Extension})
	return printBuild(c.JSONOutput, out, err)
}

// Run resolves the configured versions again and builds only what changed.
func (c *UpdateCmd) Run(ctx context.Context, s *session) error {
	req := c.request()
	req.Update = true
	out, err := runBuild(ctx, s, buildJob{Request: req, Options: c.buildOptions(c.JSONOutput)})
	return printBuild(c.JSONOutput, out, err)
}

// buildOptions are the options of a build that may print JSON: with --json, progress "auto"
// is plain lines (on stderr, as always), never the live display.
func (o BuildOutput) buildOptions(j JSONOutput) build.Options {
	opts := o.options()
	if j.JSON && opts.Progress == "auto" {
		opts.Progress = "plain"
	}
	return opts
}

// buildJob is one build or update.
type buildJob struct {
	Request build.Request
	Options build.Options
	// RebuildExtension rebuilds the current project's extension even when it is fresh (build only).
	RebuildExtension bool
}

// buildOutcome is what one build or update did.
type buildOutcome struct {
	build.Result
	Update bool
	// UserBase and Extension are the person's base and the current project's extension, when
	// a build (not an update) brought them up to date; nil when there is none.
	UserBase, Extension *tierOutcome
	Solves              int // buildkitd builds
	Took                time.Duration
	ConfigPath          string // where the harness set was saved
}

// tierOutcome is the user base or an extension after a build.
type tierOutcome struct {
	Ref   string
	Where string // the user base's Dockerfile, or the extension's project
	Built bool
}

// runBuild does job. The outcome is nil when nothing was done; with an error after the
// harnesses were built and saved, it holds what was done.
func runBuild(ctx context.Context, s *session, job buildJob) (*buildOutcome, error) {
	start := time.Now()
	uc, err := s.User()
	if err != nil {
		return nil, err
	}
	job.Request.ConfigPath = uc.Path
	if err := job.Request.Check(uc.File); err != nil {
		return nil, err
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return nil, err
	}
	b, err := newBuilder(s, cc, uc, job.Options)
	if err != nil {
		return nil, err
	}
	defer b.Close()

	// The project's extension is approved (a question at the terminal) before the build lock
	// is taken, so a question left open holds up no other build of the person's.
	// An extension that is not approved is said after the harnesses are built, as before.
	var proj *projectExt
	var projErr error
	if !job.Request.Update {
		proj, projErr = buildableExtension(s, uc)
	}
	var out *buildOutcome
	// Under the person's build lock: another build or update of theirs finishes first, and this
	// one starts from the harness set that one saved.
	err = b.Exclusive(ctx, func() error {
		if uc, err = s.ReloadUser(); err != nil {
			return err
		}
		cfg := uc.File
		res, err := build.Apply(ctx, b, &cfg, job.Request, harness.NewResolver(uc.NPMRegistry))
		if err != nil {
			return err
		}
		if uc.File, err = b.Record(ctx, uc.Path, uc.Person, cfg); err != nil {
			return err
		}
		out = &buildOutcome{Result: res, Update: job.Request.Update, ConfigPath: uc.Path}
		if !job.Request.Update {
			// The person's base, and in a project with an extension that too, are brought up to date.
			if out.UserBase, err = buildUserBase(ctx, b, job.Request.Force); err != nil {
				return err
			}
			if projErr != nil {
				return projErr
			}
			if out.Extension, err = buildExtension(ctx, b, proj, job.RebuildExtension); err != nil {
				return err
			}
		}
		return nil
	})
	if out != nil {
		out.Solves, out.Took = int(b.Solves()), time.Since(start)
	}
	return out, err
}

// printBuild prints what a build or update did, as text or as JSON; after an error, the text
// says what was done before it, and JSON only the error (on stderr, by main).
func printBuild(j JSONOutput, out *buildOutcome, err error) error {
	if err != nil {
		if !j.JSON && out != nil {
			done := *out
			done.Solves = 0 // no "done in" line for a build that did not finish
			buildText(os.Stdout, done)
		}
		return err
	}
	return j.print(buildJSON(*out), func(w io.Writer) error { return buildText(w, *out) })
}

// Harness states, in the text and the JSON of build and update.
const (
	harnessChanged   = "changed"   // its version changed
	harnessBuilt     = "built"     // built at the same version (new in the set, missing, or forced)
	harnessUnchanged = "unchanged" // same version, image there already
)

func harnessState(h build.Change) string {
	switch {
	case h.From != "" && h.From != h.To:
		return harnessChanged
	case h.Built:
		return harnessBuilt
	}
	return harnessUnchanged
}

func buildText(w io.Writer, o buildOutcome) error {
	var sb strings.Builder
	if o.FoundationRef != "" && !o.Update {
		fmt.Fprintf(&sb, "foundation %s (%s)\n", o.FoundationRef, builtOr(o.FoundationBuilt))
	}
	changed := 0
	var unchanged []string
	for _, h := range o.Harnesses {
		switch harnessState(h) {
		case harnessChanged:
			changed++
			fmt.Fprintf(&sb, "%s %s -> %s\n", h.Name, h.From, h.To)
		case harnessBuilt:
			changed++
			fmt.Fprintf(&sb, "%s %s (built)\n", h.Name, h.To)
		default:
			if o.Update {
				unchanged = append(unchanged, h.Name+" "+h.To)
			} else {
				fmt.Fprintf(&sb, "%s %s (up to date)\n", h.Name, h.To)
			}
		}
	}
	if o.Update && changed == 0 {
		fmt.Fprintf(&sb, "nothing changed (%s)\n", strings.Join(unchanged, ", "))
	}
	if u := o.UserBase; u != nil {
		fmt.Fprintf(&sb, "user base %s from %s (%s)\n", u.Ref, u.Where, builtOr(u.Built))
	}
	if x := o.Extension; x != nil {
		fmt.Fprintf(&sb, "extension %s for %s (%s)\n", x.Ref, x.Where, builtOr(x.Built))
	}
	if o.Solves > 0 {
		fmt.Fprintf(&sb, "done in %s (%d build(s)); harness set saved in %s\n", o.Took.Round(100*time.Millisecond), o.Solves, o.ConfigPath)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func builtOr(built bool) string {
	if built {
		return "built"
	}
	return "up to date"
}

// buildDoc is `aishell build --json` and `aishell update --json`.
type buildDoc struct {
	Command    string          `json:"command"`    // build or update
	Changed    bool            `json:"changed"`    // something was built or a harness version changed
	Foundation *buildImage     `json:"foundation"` // null when no foundation was needed (an update with nothing to build)
	Harnesses  []buildHarness  `json:"harnesses"`
	UserBase   *userBaseImage  `json:"user_base"` // null without one (and for update)
	Extension  *extensionImage `json:"extension"` // null outside a project with one (and for update)
	Builds     int             `json:"builds"`    // buildkitd builds
	Seconds    float64         `json:"duration_seconds"`
	Config     string          `json:"config"` // where the harness set was saved
}

type buildHarness struct {
	Name       string `json:"name"`
	OldVersion string `json:"old_version"` // "" when it was not in the set before
	Version    string `json:"version"`
	Ref        string `json:"ref"`
	State      string `json:"state"` // changed, built or unchanged
	Built      bool   `json:"built"` // its image was built now
}

type buildImage struct {
	Ref   string `json:"ref"`
	Built bool   `json:"built"` // built now (else it was up to date)
}

type userBaseImage struct {
	buildImage
	Dockerfile string `json:"dockerfile"`
}

type extensionImage struct {
	buildImage
	Project string `json:"project"`
}

func buildJSON(o buildOutcome) buildDoc {
	d := buildDoc{Command: "build", Harnesses: []buildHarness{}, Builds: o.Solves, Seconds: o.Took.Seconds(), Config: o.ConfigPath}
	if o.Update {
		d.Command = "update"
	}
	if o.FoundationRef != "" {
		d.Foundation = &buildImage{Ref: o.FoundationRef, Built: o.FoundationBuilt}
		d.Changed = o.FoundationBuilt
	}
	for _, h := range o.Harnesses {
		st := harnessState(h)
		d.Harnesses = append(d.Harnesses, buildHarness{Name: h.Name, OldVersion: h.From, Version: h.To, Ref: h.Ref, State: st, Built: h.Built})
		d.Changed = d.Changed || st != harnessUnchanged || h.Built
	}
	if u := o.UserBase; u != nil {
		d.UserBase = &userBaseImage{buildImage{Ref: u.Ref, Built: u.Built}, u.Where}
		d.Changed = d.Changed || u.Built
	}
	if x := o.Extension; x != nil {
		d.Extension = &extensionImage{buildImage{Ref: x.Ref, Built: x.Built}, x.Where}
		d.Changed = d.Changed || x.Built
	}
	return d
}

// buildUserBase brings the person's user base up to date during `aishell build`; nil when
// the person has none.
func buildUserBase(ctx context.Context, b *build.Builder, force bool) (*tierOutcome, error) {
	if b.UserBase == nil {
		return nil, nil
	}
	ref, built, err := b.EnsureExtension(ctx, b.UserBase, force)
	if err != nil {
		return nil, err
	}
	return &tierOutcome{Ref: ref, Where: b.UserBase.Path, Built: built}, nil
}
