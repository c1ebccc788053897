package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// HarnessChoice records one harness in the configured set.
type HarnessChoice struct {
	// Version is what the user asked for: an exact version, or a dist-tag such as "latest"
	// that `aishell update` resolves again.
	Version string `yaml:"version"`
	// Resolved is the exact version built for it.
	Resolved string `yaml:"resolved,omitempty"`
	// Packages are the npm packages built into its snapshot with it (pi's pi_packages), as
	// they were when it was built, space-separated; they are part of the image's tag.
	Packages string `yaml:"packages,omitempty"`
}

// File is the user's ~/.config/aishell/config.yaml, or a project's .aishell/config.yaml, which
// may set only the run settings (see ProjectKeys).
type File struct {
	// BaseImage replaces the upstream Debian image of the foundation (a mirror, a corporate base).
	BaseImage string `yaml:"base_image,omitempty"`
	// NodeImage replaces the image Node.js is copied from.
	NodeImage string `yaml:"node_image,omitempty"`
	// NPMRegistry is where harness versions are resolved and installed from.
	NPMRegistry string `yaml:"npm_registry,omitempty"`
	// PassEnv names more host variables to pass into containers (beyond TERM, LANG and the
	// harnesses' keys). Only the user's config can say this: a project's files cannot ask for
	// the host's secrets.
	PassEnv []string `yaml:"pass_env,omitempty"`
	// CABundle is a PEM file of CA certificates that builds trust (default: the host's bundle).
	CABundle string `yaml:"ca_bundle,omitempty"`
	// Harnesses is the configured set, by catalog name; `aishell build` and `update` write it.
	Harnesses map[string]HarnessChoice `yaml:"harnesses,omitempty"`
	// Limits bound what one run may take of the host (see limits.go for the defaults).
	Limits Limits `yaml:"limits,omitempty"`
	// ApprovedExtensions are the .aishell/Dockerfiles the user approved, by project path: the
	// digest of the Dockerfile and of what it copies ("sha256:<hex>"). Only these are built and
	// run; `aishell ext trust` (or a yes at the prompt) records one.
	ApprovedExtensions map[string]string `yaml:"approved_extensions,omitempty"`
	Sensitive          SensitiveConfig   `yaml:"sensitive,omitempty"` // the user's only: see SensitiveConfig

	// Keys a project's .aishell/config.yaml may set too (merged over the user's; see values.go).

	// Extends is the project file's relation to the user's: "global" (the default, merged over
	// it) or "none" (the user's run settings are not used). Meaningless in the user's file.
	Extends string `yaml:"extends,omitempty"`
	// Mounts are more host paths in the container: SRC[:DST][:ro|rw], ~ and $VAR expanded in
	// SRC; DST defaults to SRC, the mode to rw.
	Mounts []string `yaml:"mounts,omitempty"`
	// Env sets variables inside: KEY=value (with $VAR expanded from the host), or a bare KEY
	// that passes the host's value.
	Env Env `yaml:"env,omitempty"`
	// PreStart runs inside before the process, in the background, as the user.
	PreStart Command `yaml:"pre_start,omitempty"`
	// HarnessArgs are arguments put before the user's own, per harness.
	HarnessArgs map[string]Args `yaml:"harness_args,omitempty"`
	// HarnessDefaults turn off the defaults that make a sandboxed harness useful.
	HarnessDefaults HarnessDefaults `yaml:"harness_defaults,omitempty"`
	// ClaudeIsolation is "shared" (the default: ~/.claude and ~/.claude.json of the host) or
	// "project" (a Claude config of the project's own, the credentials carried over).
	ClaudeIsolation string `yaml:"claude_isolation,omitempty"`
	// Network is the sandbox's network: a mode, or a mode and an allow list (network.go). A
	// project's may reach no more than the user's unless trusted (see Widenings).
	Network Network `yaml:"network,omitempty"`

	// The user's only.

	// TrustedProjects are projects whose .aishell/config.yaml may widen what the container
	// sees of the host (mounts outside the project, host variables, pre_start): a project path,
	// or "sha256:<hex>" of the file's content.
	TrustedProjects []string `yaml:"trusted_projects,omitempty"`
	// PiPackages are npm packages installed with pi into its snapshot (pi's extensions).
	PiPackages []string `yaml:"pi_packages,omitempty"`

	// Notes are what Parse had to say about the file: keys of the ancestor that mean nothing
	// here, keys the file may not set. One line each, for the person.
	Notes []string `yaml:"-"`
}

// CABundlePath picks the CA certificates builds should trust: the configured file, else
// $SSL_CERT_FILE, else Debian's /etc/ssl/certs/ca-certificates.crt when it exists; "" when none.
func (f File) CABundlePath(getenv func(string) string, exists func(string) bool) string {
	for _, p := range []string{f.CABundle, getenv("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"} {
		if p != "" && exists(p) {
			return p
		}
	}
	return ""
}

// HostCABundle is CABundlePath on this host: its environment and its files.
func (f File) HostCABundle() string { return f.CABundlePath(os.Getenv, FileExists) }

// FileExists reports whether path exists on this host.
func FileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Present reports whether path may still exist: only a path that is certainly gone (no such
// file) is not; one that cannot be looked at (another person's home) is.
func Present(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// View names this host's view of paths in the labels that record config files (labels.KeptBy):
// the first 12 characters of /etc/machine-id, or "" when there is none (some containers). Two
// aishells of one view see the same files: one can tell that the other's config is gone.
func View() string {
	viewOnce.Do(func() {
		b, _ := os.ReadFile("/etc/machine-id")
		id := strings.TrimSpace(string(b))
		if len(id) >= 12 && strings.Trim(id[:12], "0123456789abcdef") == "" {
			view = id[:12]
		}
	})
	return view
}

var (
	viewOnce sync.Once
	view     string
)

// KeeperAlive reports whether the person who keeps an image through a labels.KeptBy label of
// view, for their config file at path, may still want it: only a config of this host's view
// that is certainly gone does not; one of another view (aishell in a container sharing the
// host's containerd, another machine) cannot be judged and does.
func KeeperAlive(view, path string) bool {
	return view == "" || view != View() || Present(path)
}

// HarnessNames lists the configured harnesses, sorted.
func (f File) HarnessNames() []string {
	return slices.Sorted(maps.Keys(f.Harnesses))
}

// UserPath is the person's config file: $XDG_CONFIG_HOME/aishell/config.yaml, or
// ~/.config/aishell/config.yaml in the person's home. Under sudo, XDG_CONFIG_HOME counts only
// when it lies in the person's home (kept by sudo -E); root's own never does.
func UserPath(p Person, getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir != "" && p.Mode == ModeSudo && !within(dir, p.Home) {
		dir = ""
	}
	if dir == "" {
		dir = filepath.Join(p.Home, ".config")
	}
	return filepath.Join(dir, "aishell", "config.yaml")
}

// LoadUser reads the person's config file and returns it with its path.
func LoadUser(p Person) (File, string, error) {
	path := UserPath(p, os.Getenv)
	f, err := Load(path)
	return f, path, err
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// Load reads a config file; a missing file is an empty config. See Parse for what it accepts.
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Save writes the config atomically (a temporary file renamed over the old one). The file and
// the directories it creates belong to owner (the person, also under sudo).
func Save(path string, f File, owner Person) error {
	b, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	b = append([]byte("# aishell configuration; `aishell build` and `aishell update` keep the harnesses section.\n"), b...)
	if err := owner.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := owner.Own(tmp.Name()); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// NoticeOnce reports whether the notice called name has not been shown to the person yet, and
// records that it now has (a mark file under notices/ beside the config file at cfgPath, owned
// by the person). When the mark cannot be written the notice shows again next time.
func NoticeOnce(cfgPath string, p Person, name string) bool {
	mark := filepath.Join(filepath.Dir(cfgPath), "notices", name)
	if _, err := os.Stat(mark); err == nil {
		return false
	}
	if p.MkdirAll(filepath.Dir(mark), 0o755) == nil && os.WriteFile(mark, nil, 0o644) == nil {
		p.Own(mark)
	}
	return true
}
