package build

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/aishell/aishell/config"
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

// RestoreHarnesses rebuilds, on the current foundation, each harness of cfg whose image is
// missing or whose snapshot is gone (deleted, or garbage collected), at the version cfg
// records, so the run that needs it goes on instead of failing (with no foundation built,
// nothing is: the run says what to do). A harness that cannot be
// rebuilt is an error when it is the one the run starts (running), and a warning otherwise.
// It returns the harnesses it rebuilt.
func (b *Builder) RestoreHarnesses(ctx context.Context, cfg config.File, running string) ([]string, error) {
	var missing []harness.Harness
	for _, name := range cfg.HarnessNames() {
		h, err := harness.Lookup(name)
		choice := cfg.Harnesses[name]
		if err != nil || choice.Resolved == "" {
			continue // run.Prepare says what is wrong with it
		}
		if ok, err := b.imageExists(ctx, h.ChoiceRef(choice)); err != nil {
			return nil, fmt.Errorf("look up %s: %w", h.ChoiceRef(choice), err)
		} else if !ok {
			missing = append(missing, h)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	foundation := b.RunFoundation(ctx)
	if ok, err := b.imageExists(ctx, foundation); err != nil {
		return nil, fmt.Errorf("look up the foundation: %w", err)
	} else if !ok {
		return nil, nil // nothing is built here: the run says so, with what to do
	}
	var built []string
	for _, h := range missing {
		choice := cfg.Harnesses[h.Name]
		fmt.Fprintf(b.Log, "aishell: %s %s is configured but its snapshot is missing; rebuilding it\n", h.Name, choice.Resolved)
		// With the packages it was built with, so the snapshot is the one the config names.
		if _, err := b.Harness(ctx, h, choice.Resolved, strings.Fields(choice.Packages), cfg.NPMRegistry, foundation, false); err != nil {
			if h.Name == running {
				return built, err
			}
			fmt.Fprintf(b.Log, "aishell: could not rebuild %s: %v\n", h.Name, err)
			continue
		}
		built = append(built, h.Name)
	}
	return built, nil
}
