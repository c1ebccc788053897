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
	// Protected are the paths inside ConfigPaths that run on the host later, or decide what
	// does (hooks, MCP server commands, settings, plugins, commands, agents, skills, global
	// instructions): they are mounted read-only over the read-write config directory, so an
	// agent steered by what it read cannot plant something the harness runs outside aishell.
	Protected []Protected
	// Merged are config files that mix state the harness must write (startup counts, per-project
	// state, the signed-in account) with keys that run commands on the host: the container
	// gets a private copy, written back after the run with those keys as the host has them.
	Merged []Merged
	// Env are host variables passed into the container when set (API keys, settings).
	Env []string
}

// Protected is one path under home mounted read-only inside.
type Protected struct {
	Path string // under home; a shell pattern (*) protects every existing match
	Dir  bool   // made as a directory (with Create)
	// Create: when the path is missing on the host, it is made there before the run (an empty
	// directory, or a file holding Empty, which the harness reads as "nothing configured") and
	// then mounted read-only, so the container cannot create it either. Paths that only matter
	// once the person made them (an install or scripts directory, an override file whose mere
	// presence changes what is read) are protected when present and not made.
	Create bool
	Empty  string
}

// dir is a directory made empty when missing; file a file made with empty; present a path
// protected only when it exists.
func dir(path string) Protected         { return Protected{Path: path, Dir: true, Create: true} }
func file(path, empty string) Protected { return Protected{Path: path, Create: true, Empty: empty} }
func present(path string) Protected     { return Protected{Path: path} }

// Merged is a JSON file under home whose Keys are restored from the host's copy after a run:
// at the top level and in each object of the object under Nested (Claude Code's "projects",
// keyed by project path).
type Merged struct {
	Path   string
	Keys   []string
	Nested string
}

// claudeJSONKeys are the keys of ~/.claude.json, at the top level and per project, that start
// MCP servers or let them, a project's hooks and its .mcp.json start without asking: the
// servers themselves, their approvals, workspace trust, tools allowed without asking, and the
// settings-like keys older versions kept there.
var claudeJSONKeys = []string{
	"mcpServers", "enabledMcpjsonServers", "disabledMcpjsonServers", "enableAllProjectMcpServers",
	"mcpContextUris", "hasTrustDialogAccepted", "hasClaudeMdExternalIncludesApproved", "allowedTools",
	"hooks", "env", "apiKeyHelper", "permissions", "statusLine",
}

// Catalog lists every known harness.
var Catalog = []Harness{
	{
		Name: "claude", Package: "@anthropic-ai/claude-code", Bin: "claude",
		ConfigPaths: []string{".claude", ".claude.json"},
		Protected: []Protected{
			// hooks, statusLine, apiKeyHelper, env, permissions, enabledPlugins, MCP approvals
			file(".claude/settings.json", "{}"), file(".claude/settings.local.json", "{}"),
			dir(".claude/plugins"), dir(".claude/commands"), dir(".claude/agents"), dir(".claude/skills"),
			dir(".claude/workflows"), dir(".claude/routines"), dir(".claude/output-styles"), dir(".claude/rules"),
			file(".claude/CLAUDE.md", ""), file(".claude/loop.md", ""), file(".claude/scheduled_tasks.json", ""),
			file(".claude/launch.json", "{}"), file(".claude/daemon.json", "{}"),
			present(".claude/hooks"),          // scripts settings.json hooks point at
			present(".claude/local"),          // a local install: ~/.claude/local/claude
			present(".claude/chrome"),         // the Chrome native-messaging host script
			present(".claude/cowork_plugins"), // the desktop app's plugins
			present(".claude/dev-mods"),
			present(".claude/backups"), // copies of ~/.claude.json, offered for restoring
		},
		Merged: []Merged{
			{Path: ".claude.json", Keys: claudeJSONKeys, Nested: "projects"},
			{Path: ".claude/.config.json", Keys: claudeJSONKeys, Nested: "projects"}, // its older place
		},
		Env: []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
			"CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_OAUTH_TOKEN"},
	},
	{
		Name: "codex", Package: "@openai/codex", Bin: "codex",
		ConfigPaths: []string{".codex"},
		Protected: []Protected{
			// mcp_servers, notify, model providers, profiles, hooks, project trust
			file(".codex/config.toml", ""), present(".codex/*.config.toml"), // --profile files
			file(".codex/hooks.json", `{"hooks":{}}`), present(".codex/hooks"),
			dir(".codex/rules"), // execpolicy: commands run without asking
			dir(".codex/skills"), dir(".codex/plugins"), dir(".codex/agents"), dir(".codex/prompts"),
			dir(".codex/.tmp"), // the curated plugins' checkout
			file(".codex/AGENTS.md", ""), present(".codex/AGENTS.override.md"),
			file(".codex/.env", ""), // loaded into codex's environment
		},
		Env: []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "CODEX_HOME"},
	},
	{
		Name: "gemini", Package: "@google/gemini-cli", Bin: "gemini",
		ConfigPaths: []string{".gemini"},
		Protected: []Protected{
			// mcpServers, hooks, tools.discoveryCommand and callCommand, the sandbox
			file(".gemini/settings.json", "{}"), file(".gemini/.env", ""), file(".gemini/trustedFolders.json", "{}"),
			dir(".gemini/commands"), dir(".gemini/skills"), dir(".gemini/agents"), dir(".gemini/policies"),
			dir(".gemini/extensions"), file(".gemini/GEMINI.md", ""),
			dir(".gemini/tmp/bin"), // tools gemini downloads and runs (ripgrep)
			present(".gemini/hooks"), present(".gemini/system.md"),
			present(".gemini/sandbox.bashrc"), present(".gemini/sandbox.venv"),
		},
		Env: []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
			"GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS"},
	},
	{
		Name: "opencode", Package: "opencode-ai", Bin: "opencode",
		ConfigPaths: []string{".config/opencode", ".local/share/opencode"},
		Protected: []Protected{
			// mcp, plugin, agent and command definitions, permissions
			file(".config/opencode/opencode.json", "{}"), file(".config/opencode/opencode.jsonc", "{}"),
			file(".config/opencode/config.json", "{}"),
			file(".config/opencode/tui.json", "{}"), file(".config/opencode/tui.jsonc", "{}"), // TUI plugins
			dir(".config/opencode/plugin"), dir(".config/opencode/plugins"),
			dir(".config/opencode/tool"), dir(".config/opencode/tools"),
			dir(".config/opencode/command"), dir(".config/opencode/commands"),
			dir(".config/opencode/agent"), dir(".config/opencode/agents"),
			dir(".config/opencode/mode"), dir(".config/opencode/modes"),
			dir(".config/opencode/skill"), dir(".config/opencode/skills"),
			// what plugins and tools import, installed there by opencode
			file(".config/opencode/package.json", "{}"), dir(".config/opencode/node_modules"),
			file(".config/opencode/AGENTS.md", ""),
		},
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
