// Package harness is the catalog of AI agent harnesses aishell can install and run: each one's
// npm package, binary, host config paths and API-key variables. Adding a harness is one entry in
// Catalog. The package knows nothing of containerd.
package harness

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aishell/aishell/config"
)

// Harness describes one installable agent.
type Harness struct {
	Name    string // short name used on the command line: aishell claude
	Package string // npm package
	Bin     string // binary under the install prefix's bin/
	// ConfigPaths are files and directories under the user's home that the harness reads and
	// writes; they are mounted read-write at the same paths when they exist on the host.
	ConfigPaths []string
	// Env are host variables passed into the container when set (API keys, settings).
	Env []string
}

// Catalog lists every known harness.
var Catalog = []Harness{
	{
		Name: "claude", Package: "@anthropic-ai/claude-code", Bin: "claude",
		ConfigPaths: []string{".claude", ".claude.json"},
		Env: []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
			"CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_OAUTH_TOKEN"},
	},
	{
		Name: "codex", Package: "@openai/codex", Bin: "codex",
		ConfigPaths: []string{".codex"},
		Env:         []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "CODEX_HOME"},
	},
	{
		Name: "gemini", Package: "@google/gemini-cli", Bin: "gemini",
		ConfigPaths: []string{".gemini"},
		Env: []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
			"GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS"},
	},
	{
		Name: "opencode", Package: "opencode-ai", Bin: "opencode",
		ConfigPaths: []string{".config/opencode", ".local/share/opencode"},
		Env: []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
			"OPENROUTER_API_KEY", "GROQ_API_KEY"},
	},
}

// Lookup finds a harness by name.
func Lookup(name string) (Harness, error) {
	for _, h := range Catalog {
		if h.Name == name {
			return h, nil
		}
	}
	return Harness{}, fmt.Errorf("unknown harness %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the catalog's names in order.
func Names() []string {
	names := make([]string, len(Catalog))
	for i, h := range Catalog {
		names[i] = h.Name
	}
	return names
}

// MountPoint is where a harness's snapshot appears inside a container.
func (h Harness) MountPoint() string { return "/opt/harness/" + h.Name }

// ImageRepo is the containerd image repository of the harness's snapshots.
func (h Harness) ImageRepo() string { return "docker.io/aishell/harness-" + h.Name }

// ImageRef is the image holding the harness at one version.
func (h Harness) ImageRef(version string) string { return h.ImageRepo() + ":" + version }

// EnvKeys is the union of the variables every harness passes through, sorted.
func EnvKeys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, h := range Catalog {
		for _, k := range h.Env {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// ConfiguredRefs are the harness images a configured set names (one per harness at its
// resolved version); gc keeps them and `harness ls` marks them.
func ConfiguredRefs(set map[string]config.HarnessChoice) map[string]bool {
	refs := map[string]bool{}
	for name, choice := range set {
		h, err := Lookup(name)
		if err != nil || choice.Resolved == "" {
			continue
		}
		refs[h.ImageRef(choice.Resolved)] = true
	}
	return refs
}
