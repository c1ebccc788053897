package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aishell/aishell/config"
)

// packageSpec is an npm package name, scoped or not, with an optional version or range: what
// may go on npm's command line in a harness build (no spaces, no shell syntax).
var packageSpec = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*(@[A-Za-z0-9.^~<>=*|+_-]+)?$`)

// PackagesOf are the extra npm packages cfg installs with h (sorted, checked), nil when none.
func (h Harness) PackagesOf(cfg config.File) ([]string, error) {
	if h.Packages == nil {
		return nil, nil
	}
	pkgs := slices.Clone(h.Packages(cfg))
	for _, p := range pkgs {
		if !packageSpec.MatchString(p) {
			return nil, fmt.Errorf("%s packages: %q is not an npm package name (name or name@version)", h.Name, p)
		}
	}
	slices.Sort(pkgs)
	return slices.Compact(pkgs), nil
}

// Tag is the image tag of h at version with packages: the version alone without packages, else
// the version and a hash of the list, so a changed list is another snapshot.
func Tag(version string, packages []string) string {
	if len(packages) == 0 {
		return version
	}
	sum := sha256.Sum256([]byte(strings.Join(packages, "\n")))
	return version + "-pkgs." + hex.EncodeToString(sum[:])[:12]
}

// ChoiceRef is the image a configured harness runs from: its resolved version with the
// packages it was built with.
func (h Harness) ChoiceRef(c config.HarnessChoice) string {
	return h.ImageRef(Tag(c.Resolved, strings.Fields(c.Packages)))
}
