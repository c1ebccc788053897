package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ContentTrust is how trusted_projects names a project file by its content: "sha256:<hex>".
func ContentTrust(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Trusts says how the user's config trusts the project at root whose config file holds
// content: "path" (trusted_projects has the project's path), "content" (it has the file's
// hash), or "" (not trusted).
func (f File) Trusts(root, home string, content []byte) string {
	for _, t := range f.TrustedProjects {
		if how := TrustEntry(t, root, home, content); how != "" {
			return how
		}
	}
	return ""
}

// TrustEntry says how one entry of trusted_projects trusts the project at root whose config
// file holds content: "content", "path", or "".
func TrustEntry(entry, root, home string, content []byte) string {
	switch {
	case strings.HasPrefix(entry, "sha256:"):
		if strings.EqualFold(entry, ContentTrust(content)) {
			return "content"
		}
	case filepath.Clean(ExpandHome(entry, home)) == filepath.Clean(root):
		return "path"
	}
	return ""
}

// Widening is what a project's file asks for that reaches the host beyond the project.
type Widening struct {
	Key  string // mounts, env, pre_start
	What string // the entry, as written
	Why  string
}

func (w Widening) String() string {
	if w.What == "" {
		return fmt.Sprintf("%s (%s)", w.Key, w.Why)
	}
	return fmt.Sprintf("%s %s (%s)", w.Key, w.What, w.Why)
}

// Widened are a file's widenings.
type Widened []Widening

// String lists them on one line.
func (ws Widened) String() string {
	what := make([]string, len(ws))
	for i, w := range ws {
		what[i] = w.String()
	}
	return strings.Join(what, "; ")
}

// guardedEnv are variables a project may not set without trust, beside the harnesses' own
// (keys, base URLs): they decide where the harness sends the keys it holds (proxies, CAs),
// what every process loads, or what git runs.
var guardedEnv = []string{"PATH", "HOME", "USER", "SHELL", "ENV", "BASH_ENV", "PROMPT_COMMAND", "IS_SANDBOX",
	"NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED", "NODE_PATH", "NPM_CONFIG_REGISTRY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy"}

// guardedEnvPrefix are prefixes of such variables: the dynamic loader's, git's, proxies' by
// any spelling (HTTPS_PROXY, https_proxy, ALL_PROXY), aishell's own.
var guardedEnvPrefix = []string{"LD_", "GIT_", "AISHELL_"}

func guarded(key string, harnessEnv []string) bool {
	for _, k := range append(guardedEnv, harnessEnv...) {
		if key == k {
			return true
		}
	}
	for _, p := range guardedEnvPrefix {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return strings.HasSuffix(strings.ToUpper(key), "_PROXY")
}

// Widenings are the entries of a project's run settings that would widen what its container
// sees of the host: a mount whose source lies outside the project root, or that is writable
// and holds a git directory (whose hooks and config run on the host), or whose destination
// lies in the home directory outside the project (where the harness config of the host is
// mounted); an env entry that passes a host variable or expands one, or sets a variable in
// harnessEnv or another that decides where keys go or what runs; harness_args, whose options
// can do the same (claude --settings, codex -c); pre_start; and a network that reaches more
// than the user's own (a wider mode, allow entries the user's list lacks: networkWidenings).
func Widenings(user Network, proj File, root, home string, harnessEnv []string) Widened {
	ws := networkWidenings(user, proj.Network)
	for _, spec := range proj.Mounts {
		m, err := ParseMount(spec, home, root, func(string) (string, bool) { return "", false })
		switch {
		case err != nil:
			ws = append(ws, Widening{"mounts", spec, err.Error()})
		case m.HostVars:
			ws = append(ws, Widening{"mounts", spec, "it expands host variables"})
		case !within(resolved(m.Source), resolved(root)):
			ws = append(ws, Widening{"mounts", spec, "its source is outside the project"})
		case m.ReadWrite && holdsGit(m.Source):
			ws = append(ws, Widening{"mounts", spec, "it is writable and holds a .git, whose hooks and config run on the host: add :ro"})
		case within(m.Destination, home) && !within(m.Destination, root):
			ws = append(ws, Widening{"mounts", spec, "its destination is in your home, where the host's harness config is mounted"})
		}
	}
	for _, v := range proj.Env {
		switch {
		case v.Pass:
			ws = append(ws, Widening{"env", v.Key, "it passes the host's value"})
		case hasVars(v.Value):
			ws = append(ws, Widening{"env", v.Key, "its value expands host variables"})
		case guarded(v.Key, harnessEnv):
			ws = append(ws, Widening{"env", v.Key, "it decides where the harness sends your keys or what runs"})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(proj.HarnessArgs)) {
		if len(proj.HarnessArgs[name]) > 0 {
			ws = append(ws, Widening{"harness_args", name, "arguments can point the harness at another API endpoint with your keys (--settings, -c)"})
		}
	}
	if len(proj.PreStart) > 0 {
		ws = append(ws, Widening{"pre_start", "", "it runs a command before you are asked anything"})
	}
	return ws
}

// resolved is path with its symbolic links followed as far as it exists.
func resolved(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	dir, base := filepath.Split(filepath.Clean(path))
	if dir == "" || filepath.Clean(dir) == filepath.Clean(path) {
		return path
	}
	return filepath.Join(resolved(filepath.Clean(dir)), base)
}

// holdsGit reports whether path is in a .git directory or holds one (at any depth, giving up
// after maxGitWalk entries, which counts as holding one).
func holdsGit(path string) bool {
	p := resolved(path)
	for _, part := range strings.Split(p, string(filepath.Separator)) {
		if part == ".git" {
			return true
		}
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return false
	}
	found, n := false, 0
	filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if n++; n > maxGitWalk || (err == nil && d.Name() == ".git") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

const maxGitWalk = 20000
