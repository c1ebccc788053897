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
	"github.com/aishell/aishell/testpoint"
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
	Update bool
	// BaseImage and NodeImage replace the foundation's upstream images (build only); given once,
	// they are kept in the config for later builds.
	BaseImage, NodeImage string
	// ConfigPath is where cfg is kept, for messages.
	ConfigPath string
}

// Change is what happened to one harness.
type Change struct {
	Name, From, To string // From is the version the config had ("" when it was not in the set)
	Ref            string // the image of version To
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
	packages      []string // installed with it (pi_packages)
	exists        bool
}

// Check refuses, before anything is built or dialled, a request that cannot be done with cfg:
// an update when no harness is configured or named.
func (req Request) Check(cfg config.File) error {
	if req.Update && len(cfg.Harnesses) == 0 && len(req.Add) == 0 && len(req.Versions) == 0 {
		return errs.Usage(fmt.Errorf("no harnesses configured in %s", req.ConfigPath),
			"choose some first: aishell build --with-claude (or --with-codex, --with-gemini, --with-opencode)")
	}
	return nil
}

// Apply resolves every requested harness version first (so a bad version fails before any
// build starts), builds the foundation unless this is an update, builds the harness snapshots
// that are missing, and records the set in cfg. The caller saves cfg.
func Apply(ctx context.Context, b *Builder, cfg *config.File, req Request, resolver *harness.Resolver) (Result, error) {
	var res Result
	if err := req.Check(*cfg); err != nil {
		return res, err
	}
	if !req.Update {
		// A base or node image given once is kept for later builds.
		if req.BaseImage != "" {
			cfg.BaseImage = req.BaseImage
		}
		if req.NodeImage != "" {
			cfg.NodeImage = req.NodeImage
		}
	}
	plan, err := planHarnesses(ctx, b, cfg, req, resolver)
	if err != nil {
		return res, err
	}
	force := req.Force && !req.Update // update never forces
	if res.FoundationRef, res.FoundationBuilt, err = foundationFor(ctx, b, cfg, req, plan); err != nil {
		return res, err
	}
	for _, p := range plan {
		built := false
		if !p.exists || force {
			built, err = b.Harness(ctx, p.h, p.version, p.packages, cfg.NPMRegistry, res.FoundationRef, force)
			if err != nil {
				return res, err
			}
		}
		res.Harnesses = append(res.Harnesses, Change{Name: p.h.Name, From: cfg.Harnesses[p.h.Name].Resolved, To: p.version,
			Ref: p.h.ImageRef(harness.Tag(p.version, p.packages)), Built: built})
	}
	cfg.Harnesses = map[string]config.HarnessChoice{}
	for _, p := range plan {
		cfg.Harnesses[p.h.Name] = config.HarnessChoice{Version: p.spec, Resolved: p.version, Packages: strings.Join(p.packages, " ")}
	}
	return res, nil
}

// Record saves what Apply changed in cfg (the harness set and the foundation's base images)
// into the person's config file at path, keeping whatever else another aishell of theirs wrote
// there meanwhile, and moves the person's labels.KeptBy mark to exactly what the file now keeps:
// what it no longer names may be removed by gc. It returns the file as saved.
func (b *Builder) Record(ctx context.Context, path string, p config.Person, cfg config.File) (config.File, error) {
	testpoint.Reached("built")
	saved, err := config.Update(ctx, path, p, func(f *config.File) error {
		f.Harnesses, f.BaseImage, f.NodeImage = cfg.Harnesses, cfg.BaseImage, cfg.NodeImage
		return nil
	})
	if err != nil {
		return saved, err
	}
	if err := b.Keeper.Sync(ctx, b.Images, KeptRefs(saved), true); err != nil {
		fmt.Fprintf(b.Log, "aishell: warning: %v (aishell gc does it later)\n", err)
	}
	return saved, nil
}

// planHarnesses resolves the version of every harness in the requested set, and whether its
// image is built already.
func planHarnesses(ctx context.Context, b *Builder, cfg *config.File, req Request, resolver *harness.Resolver) ([]planned, error) {
	names, err := harnessSet(cfg, req)
	if err != nil {
		return nil, err
	}
	var plan []planned
	for _, n := range names {
		h, err := harness.Lookup(n)
		if err != nil {
			return nil, errs.Usage(err, "aishell build --help lists the harness flags")
		}
		spec := req.Versions[n]
		if spec == "" {
			spec = cfg.Harnesses[n].Version
		}
		if spec == "" {
			spec = "latest"
		}
		pkgs, err := h.PackagesOf(*cfg)
		if err != nil {
			return nil, errs.Usage(err, "fix pi_packages in "+req.ConfigPath)
		}
		p, err := planOne(ctx, b, h, spec, pkgs, resolver)
		if err != nil {
			return nil, err
		}
		plan = append(plan, p)
	}
	return plan, nil
}

// planOne resolves spec for h. A pinned version that is built already needs no registry
// look-up.
func planOne(ctx context.Context, b *Builder, h harness.Harness, spec string, pkgs []string, resolver *harness.Resolver) (planned, error) {
	p := planned{h: h, spec: spec, packages: pkgs}
	if harness.IsExact(spec) {
		v := strings.TrimPrefix(spec, "v")
		if ok, err := b.imageExists(ctx, h.ImageRef(harness.Tag(v, pkgs))); err == nil && ok {
			p.version, p.exists = v, true
			return p, nil
		}
	}
	v, err := resolver.Resolve(ctx, h.Package, spec)
	if err != nil {
		if errors.Is(err, harness.ErrVersionNotFound) {
			return p, errs.WithHint(fmt.Errorf("%s: %w", h.Name, err), fmt.Sprintf("list the versions with: npm view %s versions", h.Package))
		}
		return p, fmt.Errorf("resolve %s version %q: %w", h.Name, spec, err)
	}
	p.version = v
	p.exists, err = b.imageExists(ctx, h.ImageRef(harness.Tag(v, pkgs)))
	return p, err
}

// foundationFor is the foundation the harnesses build on: for build, the one cfg names, built
// when missing (or forced); for update, the current one, and only when a harness must be built.
func foundationFor(ctx context.Context, b *Builder, cfg *config.File, req Request, plan []planned) (ref string, built bool, err error) {
	if !req.Update {
		spec := FoundationSpec{BaseImage: cfg.BaseImage, NodeImage: cfg.NodeImage}.withDefaults()
		b.FoundationSpec = spec // the user base and the extension built next go on this one
		return b.Foundation(ctx, spec, req.Force)
	}
	if !slices.ContainsFunc(plan, func(p planned) bool { return !p.exists }) {
		return "", false, nil
	}
	ref, err = b.CurrentFoundation(ctx)
	if err != nil {
		return "", false, fmt.Errorf("look up the foundation: %w", err)
	}
	if ref == "" {
		return "", false, errs.WithHint(errors.New("no foundation image yet"), "run `aishell build` first; update only refreshes harness snapshots")
	}
	return ref, false, nil
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
