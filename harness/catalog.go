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
	// APIHosts are the hosts the harness talks to (its API, its sign-in): what `harness` stands
	// for in a network allow list.
	APIHosts []string
	// Env are host variables passed into the container when set (API keys, settings).
	Env []string
	// FileEnv are those of Env that name a file (a service-account key): when the harness runs
	// and the variable names a regular file, the file is mounted read-only at the same path.
	FileEnv []string

	// The defaults that make a sandboxed harness useful (see defaults.go), each turned off by
	// its switch in harness_defaults.

	// Create are the config paths made on the host when missing (create_config), so a login
	// done inside persists: directories, and files with their empty content.
	Create []Protected
	// SkipPermissions are arguments that let the harness act without asking (skip_permissions):
	// the sandbox is the permission boundary.
	SkipPermissions []string
	// NoUpdates turn off the harness's auto-updater and update checks (no_updates): variables
	// set in every run, and arguments put before the user's.
	NoUpdates Switch
	// NoTelemetry turns off what the harness reports home (no_telemetry).
	NoTelemetry Switch
	// SystemDefaults is a settings file of the harness's lowest layer (below the user's own
	// settings) that aishell writes per run and names with a variable; the switches' Settings
	// go into it.
	SystemDefaults *SystemDefaults
	// Packages are the npm packages the user's config installs with the harness into its
	// snapshot (pi_packages), nil for a harness without such a key.
	Packages func(config.File) []string
	// PackagesEnv are set for the harness (in its wrapper) when its snapshot has packages, so
	// it finds them there.
	PackagesEnv []string
}

// Switch is how one default is set for a harness.
type Switch struct {
	Env      []string       // KEY=value, set in every run
	Args     []string       // put before the user's arguments
	Settings map[string]any // merged into the harness's SystemDefaults file
}

// SystemDefaults is a settings file the harness reads from the path in Env.
type SystemDefaults struct {
	Env  string // the variable naming the file
	Name string // the file's name in the run's directory
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
		APIHosts:    []string{"api.anthropic.com", "statsig.anthropic.com", "console.anthropic.com", "claude.ai", "platform.claude.com"},
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
			"ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
			"ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CODE_OAUTH_TOKEN",
			// Amazon Bedrock
			"CLAUDE_CODE_USE_BEDROCK", "AWS_BEARER_TOKEN_BEDROCK", "ANTHROPIC_BEDROCK_BASE_URL", "AWS_REGION",
			"AWS_DEFAULT_REGION",
			"CLAUDE_CODE_SKIP_BEDROCK_AUTH",
			// Google Vertex AI
			"CLAUDE_CODE_USE_VERTEX", "ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION", "ANTHROPIC_VERTEX_BASE_URL",
			"CLAUDE_CODE_SKIP_VERTEX_AUTH", "GOOGLE_APPLICATION_CREDENTIALS",
			// Microsoft Foundry
			"CLAUDE_CODE_USE_FOUNDRY", "ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_FOUNDRY_RESOURCE", "ANTHROPIC_FOUNDRY_BASE_URL"},
		FileEnv:         []string{"GOOGLE_APPLICATION_CREDENTIALS"},
		Create:          []Protected{dir(".claude"), file(".claude.json", "{}")},
		SkipPermissions: []string{"--dangerously-skip-permissions"},
		NoUpdates:       Switch{Env: []string{"DISABLE_AUTOUPDATER=1"}},
		NoTelemetry:     Switch{Env: []string{"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1"}},
	},
	{
		Name: "codex", Package: "@openai/codex", Bin: "codex",
		APIHosts:    []string{"api.openai.com", "chatgpt.com", "auth.openai.com"},
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
		Env: []string{"OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
			"CODEX_HOME", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION",
			"OPENROUTER_API_KEY", "OLLAMA_HOST"},
		Create: []Protected{dir(".codex")},
		// codex has no variable for these: -c overrides of config.toml keys, which codex takes
		// before any subcommand.
		NoUpdates:   Switch{Args: []string{"-c", "check_for_update_on_startup=false"}},
		NoTelemetry: Switch{Args: []string{"-c", "analytics.enabled=false"}},
	},
	{
		Name: "gemini", Package: "@google/gemini-cli", Bin: "gemini",
		APIHosts:    []string{"generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com"},
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
			"GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA", "GOOGLE_APPLICATION_CREDENTIALS", "GEMINI_MODEL"},
		FileEnv: []string{"GOOGLE_APPLICATION_CREDENTIALS"},
		Create:  []Protected{dir(".gemini")},
		// gemini's system defaults file sits below the user's settings.json, which still wins.
		SystemDefaults: &SystemDefaults{Env: "GEMINI_CLI_SYSTEM_DEFAULTS_PATH", Name: "gemini-system-defaults.json"},
		NoUpdates: Switch{Settings: map[string]any{"general": map[string]any{
			"enableAutoUpdate": false, "enableAutoUpdateNotification": false}}},
		NoTelemetry: Switch{Env: []string{"GEMINI_TELEMETRY_ENABLED=false"},
			Settings: map[string]any{"privacy": map[string]any{"usageStatisticsEnabled": false},
				"telemetry": map[string]any{"enabled": false}}},
	},
	{
		Name: "opencode", Package: "opencode-ai", Bin: "opencode",
		APIHosts:    []string{"opencode.ai", "*.opencode.ai", "models.dev", "api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com"},
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
		Env: []string{"OPENCODE_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
			"GOOGLE_GENERATIVE_AI_API_KEY", "OPENROUTER_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY", "MISTRAL_API_KEY",
			"XAI_API_KEY", "GITHUB_TOKEN", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_RESOURCE_NAME",
			"AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION",
			"GOOGLE_CLOUD_PROJECT", "VERTEX_LOCATION", "OPENCODE_MODEL"},
		Create:    []Protected{dir(".config/opencode"), dir(".local/share/opencode")},
		NoUpdates: Switch{Env: []string{"OPENCODE_DISABLE_AUTOUPDATE=1"}},
		// opencode documents no telemetry switch.
	},
	{
		// pi (pi.dev): its config lives under ~/.pi/agent.
		Name: "pi", Package: "@mariozechner/pi-coding-agent", Bin: "pi",
		APIHosts:    []string{"api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com"},
		ConfigPaths: []string{".pi"},
		Protected: []Protected{
			// packages (npm and git sources it installs and loads), npmCommand, shellPath,
			// shellCommandPrefix
			file(".pi/agent/settings.json", "{}"),
			// custom providers: an apiKey or header of "!command" runs the command
			file(".pi/agent/models.json", "{}"),
			// the same "!command" form for stored keys: pi's /login inside cannot persist
			file(".pi/agent/auth.json", "{}"), present(".pi/agent/oauth.json"),
			dir(".pi/agent/extensions"), dir(".pi/agent/skills"), dir(".pi/agent/prompts"), dir(".pi/agent/themes"),
			dir(".pi/agent/git"),                         // git packages, loaded as extensions
			dir(".pi/agent/bin"), dir(".pi/agent/tools"), // tools pi downloads and runs (fd, rg)
			file(".pi/agent/AGENTS.md", ""), present(".pi/agent/SYSTEM.md"), present(".pi/agent/APPEND_SYSTEM.md"),
		},
		Env: []string{"ANTHROPIC_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY",
			"AZURE_OPENAI_BASE_URL", "AZURE_OPENAI_RESOURCE_NAME", "AZURE_OPENAI_API_VERSION", "GEMINI_API_KEY",
			"DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY", "CEREBRAS_API_KEY", "XAI_API_KEY",
			"OPENROUTER_API_KEY", "AI_GATEWAY_API_KEY", "ZAI_API_KEY", "OPENCODE_API_KEY", "HF_TOKEN",
			"FIREWORKS_API_KEY", "KIMI_API_KEY", "MINIMAX_API_KEY", "MINIMAX_CN_API_KEY",
			"CLOUDFLARE_API_KEY", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_GATEWAY_ID",
			"AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION",
			"COPILOT_GITHUB_TOKEN", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"},
		Create:      []Protected{dir(".pi/agent")},
		NoUpdates:   Switch{Env: []string{"PI_SKIP_VERSION_CHECK=1"}},
		NoTelemetry: Switch{Env: []string{"PI_TELEMETRY=0"}},
		// pi_packages go into pi's prefix; pi looks for npm: packages under `npm root -g`.
		Packages:    func(f config.File) []string { return f.PiPackages },
		PackagesEnv: []string{"npm_config_prefix=/opt/harness/pi"},
	},
	{
		// OpenSpec: spec-driven workflows for the other agents (it writes their skills and
		// commands in the project). Its global config is under XDG's config and data homes.
		Name: "openspec", Package: "@fission-ai/openspec", Bin: "openspec",
		ConfigPaths: []string{".config/openspec", ".local/share/openspec"},
		Protected: []Protected{
			// openers: commands it starts to open a workset (an editor, an agent)
			file(".config/openspec/config.json", "{}"),
			dir(".local/share/openspec/schemas"), // user schemas: the instructions it hands the agents
			present(".local/share/openspec/worksets"),
		},
		Create:      []Protected{dir(".config/openspec"), dir(".local/share/openspec")},
		NoUpdates:   Switch{Env: []string{"OPENSPEC_NO_UPDATE_CHECK=1", "OPENSPEC_NO_AUTO_CONFIG=1"}},
		NoTelemetry: Switch{Env: []string{"OPENSPEC_TELEMETRY=0"}},
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
		refs[h.ChoiceRef(choice)] = true
	}
	return refs
}
