package build

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/aishell/aishell/labels"
	"github.com/containerd/errdefs"
)

//go:embed dockerfiles/foundation.Dockerfile
var foundationDockerfile []byte

// FoundationDockerfile is the embedded Dockerfile of the foundation image.
func FoundationDockerfile() []byte { return foundationDockerfile }

// FoundationRepo is the repository of the foundation's content-addressed tags.
const FoundationRepo = "docker.io/library/aishell"

// FoundationSpec is what the foundation is built from.
type FoundationSpec struct {
	BaseImage string // upstream Debian image (default DefaultBaseImage)
	NodeImage string // image Node.js is copied from (default DefaultNodeImage)
}

func (s FoundationSpec) withDefaults() FoundationSpec {
	if s.BaseImage == "" {
		s.BaseImage = DefaultBaseImage
	}
	if s.NodeImage == "" {
		s.NodeImage = DefaultNodeImage
	}
	return s
}

func (s FoundationSpec) args() map[string]string {
	s = s.withDefaults()
	return map[string]string{"BASE_IMAGE": s.BaseImage, "NODE_IMAGE": s.NodeImage}
}

// Hash is the first 12 hex digits of the SHA-256 of the Dockerfile and the build args.
func (s FoundationSpec) Hash() string {
	return contentHash(foundationDockerfile, s.args())
}

// Ref is the foundation's content-addressed tag, aishell:foundation-<hash12>.
func (s FoundationSpec) Ref() string { return FoundationRepo + ":foundation-" + s.Hash() }

// contentHash hashes a Dockerfile and its build args (sorted) to 12 hex digits.
func contentHash(dockerfile []byte, args map[string]string) string {
	h := sha256.New()
	h.Write(dockerfile)
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s=%s", k, args[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Foundation makes sure the foundation for spec exists, building it when it is missing (or
// when force is set), and points aishell:foundation and aishell:base at it. It returns the
// content-addressed ref and whether a build ran.
func (b *Builder) Foundation(ctx context.Context, spec FoundationSpec, force bool) (string, bool, error) {
	spec = spec.withDefaults()
	ref := spec.Ref()
	exists, err := b.imageExists(ctx, ref)
	if err != nil {
		return "", false, fmt.Errorf("look up %s: %w", ref, err)
	}
	built := false
	if !exists || force {
		err := b.solve(ctx, solveRequest{
			Name:       ref,
			Title:      fmt.Sprintf("foundation %s (base %s, node %s)", ref, spec.BaseImage, spec.NodeImage),
			Dockerfile: foundationDockerfile,
			Args:       spec.args(),
			Bases:      []string{spec.BaseImage, spec.NodeImage},
			Pull:       b.Pull,
			Labels: b.kept(map[string]string{
				labels.Tier:                 labels.TierFoundation,
				labels.DockerfileHash:       spec.Hash(),
				labels.FoundationDockerfile: contentHash(foundationDockerfile, nil),
			}),
		})
		if err != nil {
			return "", false, err
		}
		built = true
	}
	if err := b.alias(context.WithoutCancel(ctx), ref, FoundationImage, BaseAliasImage); err != nil {
		return "", built, err
	}
	return ref, built, nil
}

// alias points each of names at target's content, creating or moving the tags.
func (b *Builder) alias(ctx context.Context, target string, names ...string) error {
	img, err := b.Images.ImageService().Get(ctx, target)
	if err != nil {
		return fmt.Errorf("look up %s: %w", target, err)
	}
	for _, n := range names {
		l := map[string]string{labels.Tier: labels.TierFoundation, labels.AliasOf: target}
		if err := b.tag(ctx, n, img.Target, l); err != nil {
			return fmt.Errorf("tag %s: %w", n, err)
		}
	}
	return nil
}

// CurrentFoundation returns what aishell:foundation points at, or "" when no foundation is built.
func (b *Builder) CurrentFoundation(ctx context.Context) (string, error) {
	img, err := b.Images.ImageService().Get(ctx, FoundationImage)
	if errdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if ref := img.Labels[labels.AliasOf]; ref != "" {
		return ref, nil
	}
	return FoundationImage, nil
}

// RunFoundation is the foundation runs and extensions use: this aishell's own for the config's
// base images (its content-addressed tag) when it is built, so that another aishell's build
// moving the shared aishell:foundation tag changes nothing here; else aishell:foundation, what
// the last build made (an older aishell's after an upgrade: OlderFoundation says so).
func (b *Builder) RunFoundation(ctx context.Context) string {
	if ok, err := b.imageExists(ctx, b.FoundationSpec.Ref()); err == nil && ok {
		return b.FoundationSpec.Ref()
	}
	return FoundationImage
}

// RefreshFoundation is the command that rebuilds the foundation from this aishell's Dockerfile.
const RefreshFoundation = "aishell build"

// OlderFoundation says, in one line, when the foundation aishell:foundation points at was built
// from another embedded Dockerfile than this binary's (aishell was upgraded since), with the
// command that refreshes it; "" when it is this binary's, or there is none. spec is the
// foundation the user's config names: a foundation built before the Dockerfile's own hash was
// recorded is compared by its hash with the build args.
func (b *Builder) OlderFoundation(ctx context.Context, spec FoundationSpec) (string, error) {
	if ok, err := b.imageExists(ctx, spec.withDefaults().Ref()); err == nil && ok {
		return "", nil // this aishell's own, which runs use (RunFoundation)
	}
	img, err := b.Images.ImageService().Get(ctx, FoundationImage)
	if errdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", FoundationImage, err)
	}
	target := img.Labels[labels.AliasOf]
	if target == "" {
		target = FoundationImage
	}
	if target != FoundationImage {
		if img, err = b.Images.ImageService().Get(ctx, target); err != nil {
			return "", fmt.Errorf("look up %s: %w", target, err)
		}
	}
	ours := contentHash(foundationDockerfile, nil)
	if got, ok := img.Labels[labels.FoundationDockerfile]; ok {
		if got == ours {
			return "", nil
		}
	} else if img.Labels[labels.DockerfileHash] == spec.withDefaults().Hash() {
		return "", nil
	}
	return fmt.Sprintf("the foundation %s was built from an older aishell's Dockerfile; refresh it with `%s`", target, RefreshFoundation), nil
}
