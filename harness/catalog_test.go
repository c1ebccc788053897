package harness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCatalogIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, h := range Catalog {
		if h.Name == "" || h.Package == "" || h.Bin == "" {
			t.Errorf("incomplete entry %+v", h)
		}
		if seen[h.Name] {
			t.Errorf("duplicate harness %s", h.Name)
		}
		seen[h.Name] = true
		if strings.ContainsAny(h.Name, " /:") {
			t.Errorf("name %q cannot be part of an image name", h.Name)
		}
	}
	for _, n := range []string{"claude", "codex", "gemini", "opencode"} {
		if _, err := Lookup(n); err != nil {
			t.Error(err)
		}
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "claude") {
		t.Errorf("unknown harness error should list the known ones: %v", err)
	}
}

func TestImageRef(t *testing.T) {
	h, _ := Lookup("claude")
	if got := h.ImageRef("2.1.0"); got != "docker.io/aishell/harness-claude:2.1.0" {
		t.Errorf("got %q", got)
	}
	if h.MountPoint() != "/opt/harness/claude" {
		t.Errorf("mount point %q", h.MountPoint())
	}
}

func TestEnvKeysUnique(t *testing.T) {
	keys := EnvKeys()
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			t.Errorf("duplicate %s", keys[i])
		}
	}
	for _, want := range []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("EnvKeys lacks %s", want)
		}
	}
}

func TestResolve(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.ToLower(r.URL.EscapedPath()) {
		case "/@scope%2fpkg/latest":
			w.Write([]byte(`{"name":"@scope/pkg","version":"2.0.1"}`))
		case "/@scope%2fpkg/1.0.0":
			w.Write([]byte(`{"name":"@scope/pkg","version":"1.0.0"}`))
		default:
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	r := NewResolver(srv.URL)
	ctx := context.Background()
	if v, err := r.Resolve(ctx, "@scope/pkg", "latest"); err != nil || v != "2.0.1" {
		t.Errorf("latest -> %q, %v", v, err)
	}
	if v, err := r.Resolve(ctx, "@scope/pkg", ""); err != nil || v != "2.0.1" {
		t.Errorf("empty -> %q, %v", v, err)
	}
	if v, err := r.Resolve(ctx, "@scope/pkg", "v1.0.0"); err != nil || v != "1.0.0" {
		t.Errorf("1.0.0 -> %q, %v", v, err)
	}
	_, err := r.Resolve(ctx, "@scope/pkg", "0.0.0-nope")
	if !errors.Is(err, ErrVersionNotFound) || !strings.Contains(err.Error(), `"0.0.0-nope" of @scope/pkg`) {
		t.Errorf("missing version: %v", err)
	}
	if _, err := r.Resolve(ctx, "@scope/pkg", "^1.0"); err == nil || !strings.Contains(err.Error(), "exact version") {
		t.Errorf("range: %v", err)
	}
	bad := NewResolver("http://127.0.0.1:1/")
	if _, err := bad.Resolve(ctx, "x", "latest"); err == nil || !strings.Contains(err.Error(), "cannot reach the npm registry") {
		t.Errorf("unreachable: %v", err)
	}
}

// Each harness protects what runs on the host later, inside its own config directories, and
// a placeholder it makes is read by the harness as "nothing configured".
func TestProtectedPaths(t *testing.T) {
	must := map[string][]string{
		"claude": {".claude/settings.json", ".claude/hooks", ".claude/plugins", ".claude/commands", ".claude/agents",
			".claude/skills", ".claude/CLAUDE.md"},
		"codex":    {".codex/config.toml", ".codex/hooks.json", ".codex/rules", ".codex/skills", ".codex/plugins", ".codex/.env"},
		"gemini":   {".gemini/settings.json", ".gemini/extensions", ".gemini/commands", ".gemini/.env", ".gemini/policies"},
		"opencode": {".config/opencode/opencode.json", ".config/opencode/plugin", ".config/opencode/plugins", ".config/opencode/tool", ".config/opencode/node_modules"},
	}
	for _, h := range Catalog {
		seen := map[string]bool{}
		for _, p := range h.Protected {
			if seen[p.Path] {
				t.Errorf("%s protects %s twice", h.Name, p.Path)
			}
			seen[p.Path] = true
			inside := false
			for _, cp := range h.ConfigPaths {
				inside = inside || strings.HasPrefix(p.Path, cp+"/")
			}
			if !inside {
				t.Errorf("%s: %s is outside its config paths %q: nothing mounts it", h.Name, p.Path, h.ConfigPaths)
			}
			if p.Create && strings.ContainsAny(p.Path, "*?[") {
				t.Errorf("%s: a pattern cannot be made: %s", h.Name, p.Path)
			}
			if p.Create && !p.Dir && strings.HasSuffix(p.Path, ".json") && p.Empty != "" && !json.Valid([]byte(p.Empty)) {
				t.Errorf("%s: placeholder %s holds invalid JSON %q", h.Name, p.Path, p.Empty)
			}
		}
		for _, want := range must[h.Name] {
			if !seen[want] {
				t.Errorf("%s does not protect %s", h.Name, want)
			}
		}
	}
	claude, _ := Lookup("claude")
	var servers bool
	for _, m := range claude.Merged {
		if m.Path == ".claude.json" && m.Nested == "projects" {
			for _, k := range m.Keys {
				servers = servers || k == "mcpServers"
			}
		}
	}
	if !servers {
		t.Error("~/.claude.json is not merged with its mcpServers (top level and per project) kept from the host")
	}
}
