package build

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
)

// npmCacheDir is where the harness install's npm keeps its download cache: the person's npm
// cache snapshot (Builder.NPMCacheID), so a version bump downloads only the packages that changed.
const npmCacheDir = "/var/cache/aishell-npm"

// harnessScript installs $2 (package@version) and the extra packages after $4 into the prefix $1
// from the registry $3, and checks that the binary $4 is there. The host's CA bundle arrives as
// the optional read-only file /run/secrets/ca-bundle (a mount, never part of the layer), so npm
// works behind a TLS-inspecting proxy the host trusts.
const harnessScript = `set -e
if [ -s /run/secrets/ca-bundle ]; then
  export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle
fi
prefix=$1 spec=$2 registry=$3 bin=$4
shift 4
npm install --global --prefix "$prefix" --cache ` + npmCacheDir + ` --registry "$registry" \
  --no-fund --no-audit --no-update-notifier --loglevel=warn "$spec" "$@"
test -e "$prefix/bin/$bin"
`

// Harness makes sure the image aishell/harness-<name>:<version> exists, installing it on top of
// the foundation ref when it is missing (or when force is set). It reports whether a build ran.
//
// The install runs in containerd itself, not in BuildKit (installHarness): npm runs on the
// foundation with the harness's prefix as a new, empty snapshot, and that snapshot, committed,
// is the image's only layer. npm's download cache is a snapshot of the person's, kept across
// harness builds and versions (Builder.NPMCacheID), so a bump downloads only what changed.
func (b *Builder) Harness(ctx context.Context, h harness.Harness, version string, packages []string, registry, foundation string, force bool) (bool, error) {
	ref := h.ImageRef(harness.Tag(version, packages))
	exists, err := b.imageExists(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", ref, err)
	}
	if exists && !force {
		return false, nil
	}
	imgLabels := b.kept(map[string]string{
		labels.Tier:           labels.TierHarness,
		labels.Harness:        h.Name,
		labels.HarnessVersion: version,
		labels.HarnessPackage: h.Package,
		labels.HarnessExtras:  strings.Join(packages, " "),
	})
	in := install{h: h, version: version, packages: packages, registry: harness.Registry(registry), ref: ref, labels: imgLabels}
	if err := b.installHarness(ctx, in, foundation); err != nil {
		return false, err
	}
	return true, nil
}

// npmCacheID is the name of the person's npm cache snapshot, or "" for none.
func (b *Builder) npmCacheID() string {
	if b.NPMCacheID == nil {
		return ""
	}
	return b.NPMCacheID()
}

// RestoreHarnesses rebuilds, on the current foundation, each harness of cfg whose image is
// missing or whose snapshot is gone (deleted, or garbage collected), at the version cfg
// records, so the run that needs it goes on instead of failing (with no foundation built,
// nothing is: the run says what to do). Each one that is there, and the person's foundation, is
// marked as kept by the person.
// A harness that cannot be rebuilt is an error when it is the one the run starts (running), and
// a warning otherwise. The rebuild holds the person's build lock, so two runs of theirs that
// find the same harness missing build it once. It returns the harnesses it rebuilt.
func (b *Builder) RestoreHarnesses(ctx context.Context, cfg config.File, running string) ([]string, error) {
	// The person's foundation is marked too, when it is there (one look-up; whether it is
	// unpacked is RunFoundation's to ask).
	if img, err := b.Images.ImageService().Get(ctx, b.FoundationSpec.Ref()); err == nil {
		b.Keeper.Keep(ctx, b.Images, img)
	}
	missing, err := b.missingHarnesses(ctx, cfg)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	var built []string
	err = b.Exclusive(ctx, func() error {
		// Another command of the person may have rebuilt them while this one waited.
		if missing, err = b.missingHarnesses(ctx, cfg); err != nil || len(missing) == 0 {
			return err
		}
		foundation := b.RunFoundation(ctx)
		if ok, err := b.imageExists(ctx, foundation); err != nil {
			return fmt.Errorf("look up the foundation: %w", err)
		} else if !ok {
			return nil // nothing is built here: the run says so, with what to do
		}
		for _, h := range missing {
			choice := cfg.Harnesses[h.Name]
			fmt.Fprintf(b.Log, "aishell: %s %s is configured but its snapshot is missing; rebuilding it\n", h.Name, choice.Resolved)
			// With the packages it was built with, so the snapshot is the one the config names.
			if _, err := b.Harness(ctx, h, choice.Resolved, strings.Fields(choice.Packages), cfg.NPMRegistry, foundation, false); err != nil {
				if h.Name == running {
					return err
				}
				fmt.Fprintf(b.Log, "aishell: could not rebuild %s: %v\n", h.Name, err)
				continue
			}
			built = append(built, h.Name)
		}
		return nil
	})
	return built, err
}

// missingHarnesses are the harnesses of cfg whose image is not there to run (looked up all at
// once), in the config's order.
func (b *Builder) missingHarnesses(ctx context.Context, cfg config.File) ([]harness.Harness, error) {
	names := cfg.HarnessNames()
	type found struct {
		h       harness.Harness
		missing bool
		err     error
	}
	res := make([]found, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		h, err := harness.Lookup(name)
		choice := cfg.Harnesses[name]
		if err != nil || choice.Resolved == "" {
			continue // run.Prepare says what is wrong with it
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := b.keptPresent(ctx, h.ChoiceRef(choice))
			if err != nil {
				err = fmt.Errorf("look up %s: %w", h.ChoiceRef(choice), err)
			}
			res[i] = found{h: h, missing: err == nil && !ok, err: err}
		}()
	}
	wg.Wait()
	var missing []harness.Harness
	for _, r := range res {
		if r.err != nil {
			return nil, r.err
		}
		if r.missing {
			missing = append(missing, r.h)
		}
	}
	return missing, nil
}

// MayUse are the images a run of the person may use, named before the run looks at any of
// them (run.Begin): every harness their config names, and what its rootfs may be: the
// project's extension (ext, nil for none), their user base, their foundation and the shared
// foundation tag.
func (b *Builder) MayUse(cfg config.File, ext *Extension) []string {
	refs := KeptRefs(cfg)
	refs[FoundationImage] = true
	if b.UserBase != nil {
		refs[b.UserBase.Ref()] = true
	}
	if ext != nil {
		refs[ext.Ref()] = true
	}
	return slices.Sorted(maps.Keys(refs))
}

// KeptRefs are the images the person's config keeps: the harness versions it names and the
// foundation its base images make (labels.KeptBy).
func KeptRefs(cfg config.File) map[string]bool {
	refs := harness.ConfiguredRefs(cfg.Harnesses)
	refs[FoundationSpec{BaseImage: cfg.BaseImage, NodeImage: cfg.NodeImage}.Ref()] = true
	return refs
}
