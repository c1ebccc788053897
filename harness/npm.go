package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// DefaultRegistry is used when neither NPM_CONFIG_REGISTRY nor the config names one.
const DefaultRegistry = "https://registry.npmjs.org/"

// Registry returns the npm registry to resolve and install from: the given one, else
// $NPM_CONFIG_REGISTRY, else the public registry. It always ends in a slash.
func Registry(configured string) string {
	r := configured
	if r == "" {
		r = os.Getenv("NPM_CONFIG_REGISTRY")
	}
	if r == "" {
		r = DefaultRegistry
	}
	if !strings.HasSuffix(r, "/") {
		r += "/"
	}
	return r
}

// ErrVersionNotFound means the registry has no such version or dist-tag of the package.
var ErrVersionNotFound = errors.New("no such version")

var exactVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
var distTag = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)

// IsExact reports whether spec is an exact semver version (not a dist-tag).
func IsExact(spec string) bool { return exactVersion.MatchString(spec) }

// Resolver asks an npm registry what a version spec means.
type Resolver struct {
	Registry string
	Client   *http.Client
}

// NewResolver resolves against registry (see Registry) with a bounded timeout.
func NewResolver(registry string) *Resolver {
	return &Resolver{Registry: Registry(registry), Client: &http.Client{Timeout: 20 * time.Second}}
}

// Resolve turns an exact version or a dist-tag ("latest", "next") of pkg into the exact version
// the registry serves.
func (r *Resolver) Resolve(ctx context.Context, pkg, spec string) (string, error) {
	if spec == "" {
		spec = "latest"
	}
	if !exactVersion.MatchString(spec) && !distTag.MatchString(spec) {
		return "", fmt.Errorf("version %q of %s: give an exact version (1.2.3) or a dist-tag (latest)", spec, pkg)
	}
	spec = strings.TrimPrefix(spec, "v")
	u := r.Registry + strings.Replace(url.PathEscape(pkg), "%40", "@", 1) + "/" + url.PathEscape(spec)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach the npm registry at %s: %w", r.Registry, unwrapURL(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("%w: npm has no version %q of %s", ErrVersionNotFound, spec, pkg)
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return "", fmt.Errorf("npm registry %s answered %s for %s@%s: %s", r.Registry, resp.Status, pkg, spec, strings.TrimSpace(string(body)))
	}
	var doc struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("npm registry %s: bad answer for %s@%s: %w", r.Registry, pkg, spec, err)
	}
	if doc.Version == "" {
		return "", fmt.Errorf("%w: npm has no version %q of %s", ErrVersionNotFound, spec, pkg)
	}
	return doc.Version, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
