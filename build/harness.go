package build

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/moby/buildkit/client/llb"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
)

// npmCacheDir is where the harness build's npm keeps its download cache: a BuildKit cache mount
// (Builder.NPMCacheID), so a version bump downloads only the packages that changed.
const npmCacheDir = "/var/cache/aishell-npm"

// harnessScript installs $2 (package@version) and the extra packages after $4 into the prefix $1
// from the registry $3, and checks that the binary $4 is there. The host's CA bundle arrives as
// the optional build secret ca-bundle (never stored in the image), so npm works behind a
// TLS-inspecting proxy the host trusts.
const harnessScript = `set -e
if [ -s /run/secrets/ca-bundle ]; then
  export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle
fi
prefix=$1 spec=$2 registry=$3 bin=$4
shift 4
npm install --global --prefix "$prefix" --cache ` + npmCacheDir + ` --registry "$registry" \
  --no-fund --no-audit --no-update-notifier --loglevel=error "$spec" "$@"
test -e "$prefix/bin/$bin"
`

// Harness makes sure the image aishell/harness-<name>:<version> exists, building it on top of
// the foundation ref when it is missing (or when force is set). It reports whether a build ran.
//
// The build is LLB, not a Dockerfile: npm runs on the foundation with the harness's prefix as a
// mount of an empty directory, and that mount's result is the image's only layer, so nothing is
// copied into a second stage. The npm download cache is a BuildKit cache mount kept across
// harness builds and versions (Builder.NPMCacheID); --no-cache runs npm again but leaves that
// cache as it is, so it still downloads only what changed.
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
	def, cfg, err := b.harnessDefinition(ctx, h, version, packages, harness.Registry(registry), foundation)
	if err != nil {
		return false, err
	}
	err = b.solve(ctx, solveRequest{
		Name:        ref,
		Title:       fmt.Sprintf("%s %s (%s@%s)", h.Name, ref, h.Package, version),
		Definition:  def,
		ImageConfig: cfg,
		Labels:      imgLabels,
		// What never leaves the machine is not compressed: the layer is unpacked right after.
		Compression: "uncompressed",
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// harnessDefinition is the LLB of one harness build on the local image foundation, and the
// image config of its result (the foundation's platform; the harness labels, as the Dockerfile
// build set them; no environment, since the image is only ever mounted, never run).
func (b *Builder) harnessDefinition(ctx context.Context, h harness.Harness, version string, packages []string, registry, foundation string) (*llb.Definition, []byte, error) {
	img, err := b.Images.ImageService().Get(ctx, foundation)
	if err != nil {
		return nil, nil, fmt.Errorf("look up the foundation %s: %w", foundation, err)
	}
	cs := b.Images.ContentStore()
	desc, err := images.Config(ctx, cs, img.Target, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read the foundation's config: %w", err)
	}
	fcfg, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return nil, nil, fmt.Errorf("read the foundation's config: %w", err)
	}
	return harnessLLB(ctx, h, version, packages, registry, foundation+"@"+img.Target.Digest.String(), fcfg, b.npmCacheID(), b.NoCache)
}

// npmCacheID is the npm cache mount's name, or "" for none.
func (b *Builder) npmCacheID() string {
	if b.NPMCacheID == nil {
		return ""
	}
	return b.NPMCacheID()
}

// harnessLLB is the build of harness h at version on the image foundation (pinned by digest)
// whose config is fcfg, with npm's downloads in the cache mount cacheID (none when empty) and,
// with noCache, npm run again whatever buildkitd has cached.
func harnessLLB(ctx context.Context, h harness.Harness, version string, packages []string, registry, foundation string, fcfg []byte, cacheID string, noCache bool) (*llb.Definition, []byte, error) {
	var fimg ocispec.Image
	if err := json.Unmarshal(fcfg, &fimg); err != nil {
		return nil, nil, fmt.Errorf("read the foundation's config: %w", err)
	}
	// Resolved from the local store, with its env and workdir.
	base, err := llb.Image(foundation, llb.ResolveModePreferLocal,
		llb.WithCustomName("foundation "+strings.SplitN(foundation, "@", 2)[0])).WithImageConfig(fcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("read the foundation's config: %w", err)
	}
	prefix := h.MountPoint()
	args := append([]string{"/bin/sh", "-c", harnessScript, "aishell-harness", prefix, h.Package + "@" + version, registry, h.Bin}, packages...)
	opts := []llb.RunOption{
		llb.Args(args),
		llb.AddSecret("/run/secrets/ca-bundle", llb.SecretID("ca-bundle"), llb.SecretOptional),
		llb.WithCustomName(fmt.Sprintf("[harness %s] RUN npm install --global --prefix %s %s", h.Name, prefix, strings.Join(append([]string{h.Package + "@" + version}, packages...), " "))),
	}
	if cacheID != "" {
		opts = append(opts, llb.AddMount(npmCacheDir, llb.Scratch(), llb.AsPersistentCacheDir(cacheID, llb.CacheMountShared)))
	}
	if noCache {
		opts = append(opts, llb.IgnoreCache)
	}
	run := base.Run(opts...)
	out := run.AddMount(prefix, llb.Scratch())
	def, err := out.Marshal(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("harness build definition: %w", err)
	}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: fimg.Architecture, OS: fimg.OS, Variant: fimg.Variant},
		Config: ocispec.ImageConfig{Labels: map[string]string{
			labels.Tier:           labels.TierHarness,
			labels.HarnessPackage: h.Package,
			labels.HarnessVersion: version,
		}},
		RootFS: ocispec.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, nil, err
	}
	return def, cfg, nil
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

// missingHarnesses are the harnesses of cfg whose image is not there to run.
func (b *Builder) missingHarnesses(ctx context.Context, cfg config.File) ([]harness.Harness, error) {
	var missing []harness.Harness
	for _, name := range cfg.HarnessNames() {
		h, err := harness.Lookup(name)
		choice := cfg.Harnesses[name]
		if err != nil || choice.Resolved == "" {
			continue // run.Prepare says what is wrong with it
		}
		if ok, err := b.keptPresent(ctx, h.ChoiceRef(choice)); err != nil {
			return nil, fmt.Errorf("look up %s: %w", h.ChoiceRef(choice), err)
		} else if !ok {
			missing = append(missing, h)
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
