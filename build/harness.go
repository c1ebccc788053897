package build

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
)

//go:embed dockerfiles/harness.Dockerfile
var harnessDockerfile []byte

// Harness makes sure the image aishell/harness-<name>:<version> exists, building it on top of
// the foundation ref when it is missing (or when force is set). It reports whether a build ran.
func (b *Builder) Harness(ctx context.Context, h harness.Harness, version string, packages []string, registry, foundation string, force bool) (bool, error) {
	ref := h.ImageRef(harness.Tag(version, packages))
	exists, err := b.imageExists(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", ref, err)
	}
	if exists && !force {
		return false, nil
	}
	err = b.solve(ctx, solveRequest{
		Name:       ref,
		Title:      fmt.Sprintf("%s %s (%s@%s)", h.Name, ref, h.Package, version),
		Dockerfile: harnessDockerfile,
		Args: map[string]string{
			"FOUNDATION":   foundation,
			"PACKAGE":      h.Package,
			"VERSION":      version,
			"PREFIX":       h.MountPoint(),
			"BIN":          h.Bin,
			"NPM_REGISTRY": harness.Registry(registry),
			"EXTRAS":       strings.Join(packages, " "), // checked names: see harness.PackagesOf
		},
		Bases: []string{foundation},
		Labels: map[string]string{
			labels.Tier:           labels.TierHarness,
			labels.Harness:        h.Name,
			labels.HarnessVersion: version,
			labels.HarnessPackage: h.Package,
			labels.HarnessExtras:  strings.Join(packages, " "),
		},
	})
	if err != nil {
		return false, err
	}
	return true, nil
}
