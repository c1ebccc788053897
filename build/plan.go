package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
)

// Request says what `aishell build` or `aishell update` was asked to do.
type Request struct {
	// Add puts harnesses into the configured set (--with-X).
	Add []string
	// Remove takes harnesses out of the configured set (--without-X).
	Remove []string
	// Versions pins versions (--claude-version=X) by harness name; naming one implies --with.
	Versions map[string]string
	// Force rebuilds what exists already (build only).
	Force bool
	// Update never builds the foundation: it builds only harness snapshots whose version changed.
	Update     bool
	Foundation FoundationSpec
	// Registry is the npm registry (empty: NPM_CONFIG_REGISTRY or the public one).
	Registry string
}

// Change is what happened to one harness.
type Change struct {
	Name, From, To string
	Built          bool
}

// Result is what Apply did.
type Result struct {
	FoundationRef   string // empty when the foundation was not needed (update with nothing to build)
	FoundationBuilt bool
	Harnesses       []Change
}

type planned struct {
	h             harness.Harness
	spec, version string
	exists        bool
}

// Apply resolves every requested harness version first (so a bad version fails before any
// build starts), builds the foundation unless this is an update, builds the harness snapshots
// that are missing, and records the set in cfg. The caller saves cfg.
func Apply(ctx context.Context, b *Builder, cfg *config.File, req Request, resolver *harness.Resolver) (Result, error) {
	var res Result
	names, err := harnessSet(cfg, req)
	if err != nil {
		return res, err
	}
	var plan []planned
	for _, n := range names {
		h, err := harness.Lookup(n)
		if err != nil {
			return res, &errs.UsageError{Err: err, Hint: "aishell build --help lists the harness flags"}
		}
		spec := req.Versions[n]
		if spec == "" {
			spec = cfg.Harnesses[n].Version
		}
		if spec == "" {
			spec = "latest"
		}
		p := planned{h: h, spec: spec}
		// A pinned version that is built already needs no registry look-up.
		if harness.IsExact(spec) {
			v := strings.TrimPrefix(spec, "v")
			if ok, err := b.imageExists(ctx, h.ImageRef(v)); err == nil && ok {
				p.version, p.exists = v, true
			}
		}
		if p.version == "" {
			v, err := resolver.Resolve(ctx, h.Package, spec)
			if err != nil {
				if errors.Is(err, harness.ErrVersionNotFound) {
					return res, errs.WithHint(fmt.Errorf("%s: %w", n, err), fmt.Sprintf("list the versions with: npm view %s versions", h.Package))
				}
				return res, fmt.Errorf("resolve %s version %q: %w", n, spec, err)
			}
			p.version = v
			p.exists, err = b.imageExists(ctx, h.ImageRef(v))
			if err != nil {
				return res, err
			}
		}
		plan = append(plan, p)
	}

	needBuild := req.Force && !req.Update
	for _, p := range plan {
		needBuild = needBuild || !p.exists
	}
	switch {
	case !req.Update:
		res.FoundationRef, res.FoundationBuilt, err = b.Foundation(ctx, req.Foundation, req.Force)
		if err != nil {
			return res, err
		}
	case needBuild:
		res.FoundationRef, err = b.CurrentFoundation(ctx)
		if err != nil {
			return res, fmt.Errorf("look up the foundation: %w", err)
		}
		if res.FoundationRef == "" {
			return res, errs.WithHint(errors.New("no foundation image yet"), "run `aishell build` first; update only refreshes harness snapshots")
		}
	}

	for _, p := range plan {
		built := false
		if !p.exists || (req.Force && !req.Update) {
			built, err = b.Harness(ctx, p.h, p.version, req.Registry, res.FoundationRef, req.Force && !req.Update)
			if err != nil {
				return res, err
			}
		}
		res.Harnesses = append(res.Harnesses, Change{Name: p.h.Name, From: cfg.Harnesses[p.h.Name].Resolved, To: p.version, Built: built})
	}

	cfg.Harnesses = map[string]config.HarnessChoice{}
	for _, p := range plan {
		cfg.Harnesses[p.h.Name] = config.HarnessChoice{Version: p.spec, Resolved: p.version}
	}
	return res, nil
}

// harnessSet works out which harnesses the request is about, sorted by name.
func harnessSet(cfg *config.File, req Request) ([]string, error) {
	set := map[string]bool{}
	for n := range cfg.Harnesses {
		set[n] = true
	}
	for _, n := range req.Add {
		set[n] = true
	}
	for n := range req.Versions {
		set[n] = true
	}
	for _, n := range req.Remove {
		if req.Versions[n] != "" || slices.Contains(req.Add, n) {
			return nil, &errs.UsageError{Err: fmt.Errorf("%s is both added and removed", n)}
		}
		if !set[n] {
			return nil, &errs.UsageError{Err: fmt.Errorf("%s is not in the harness set", n), Hint: "aishell harness ls shows what is built"}
		}
		delete(set, n)
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
