package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeExt(t *testing.T, dockerfile string, files map[string]string) string {
	t.Helper()
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	os.WriteFile(filepath.Join(proj, ExtensionDockerfile), []byte(dockerfile), 0o644)
	for name, content := range files {
		p := filepath.Join(proj, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	return proj
}

func TestLoadExtensionNone(t *testing.T) {
	e, err := LoadExtension(t.TempDir())
	if e != nil || err != nil {
		t.Fatalf("got %v, %v", e, err)
	}
}

func TestLoadExtensionAccepts(t *testing.T) {
	for _, df := range []string{
		"FROM aishell:base\nRUN apt-get update && apt-get install -y jq\n",
		"FROM aishell:foundation\nRUN echo gemini-style-name-in-a-string > /x\n",
		"FROM docker.io/library/aishell:foundation\nRUN npm install -g some-tool # not a harness\n",
		"FROM aishell:foundation AS base\nFROM base AS tools\nFROM aishell:foundation\nCOPY --from=tools /x /x\n",
		"FROM aishell:foundation\nRUN mkdir -p /etc/claude && echo codex > /x && ls gemini || true\n",
		"FROM aishell:foundation\nRUN cat > /usr/local/bin/ai <<'EOF'\n#!/bin/sh\nexec claude \"$@\"\nEOF\n",
	} {
		e, err := LoadExtension(writeExt(t, df, nil))
		if err != nil || e == nil {
			t.Errorf("%q refused: %v", df, err)
		}
	}
	e, _ := LoadExtension(writeExt(t, "FROM aishell:base\n", nil))
	if !e.BaseAlias {
		t.Error("FROM aishell:base not noticed")
	}
}

func TestLoadExtensionRefuses(t *testing.T) {
	for df, want := range map[string]string{
		"FROM debian\nRUN true\n":                                            `final stage is FROM "debian"`,
		"FROM aishell:base AS x\nFROM node:24\n":                             `final stage is FROM "node:24"`,
		"FROM aishell:base\nRUN claude --version\n":                          "RUN calls claude",
		"FROM aishell:base\nRUN apt-get install -y x && codex login\n":       "RUN calls codex",
		"FROM aishell:base\nRUN /opt/harness/gemini/bin/gemini -v\n":         "RUN calls gemini",
		"FROM aishell:base\nRUN <<EOF\nopencode run x\nEOF\n":                "RUN calls opencode",
		"FROM aishell:base\nRUN cd /x && HOME=/y sudo -E npx claude -p hi\n": "RUN calls claude",
	} {
		_, err := LoadExtension(writeExt(t, df, nil))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not building") {
			t.Errorf("%q: got %v, want %q", df, err, want)
		}
	}
}

func TestExtensionHashFollowsContext(t *testing.T) {
	proj := writeExt(t, "FROM aishell:base\nCOPY tools/ /tools/\nCOPY setup.sh /setup.sh\n",
		map[string]string{".aishell/tools/a.txt": "a", ".aishell/setup.sh": "echo hi", ".aishell/unused.txt": "u"})
	e, err := LoadExtension(proj)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := e.Hash()
	os.WriteFile(filepath.Join(proj, ".aishell/unused.txt"), []byte("changed"), 0o644)
	if h, _ := e.Hash(); h != h1 {
		t.Error("a file the Dockerfile does not copy changed the hash")
	}
	os.WriteFile(filepath.Join(proj, ".aishell/tools/a.txt"), []byte("b"), 0o644)
	if h, _ := e.Hash(); h == h1 {
		t.Error("a copied file's change did not change the hash")
	}
}

func TestContextDirective(t *testing.T) {
	proj := writeExt(t, "# aishell: context=project\nFROM aishell:foundation\nCOPY go.mod /src/\n", map[string]string{"go.mod": "module x"})
	e, err := LoadExtension(proj)
	if err != nil || e.ContextDir != proj {
		t.Fatalf("context %v, %v", e, err)
	}
	if _, err := LoadExtension(writeExt(t, "# aishell: context=elsewhere\nFROM aishell:foundation\n", nil)); err == nil {
		t.Error("unknown context accepted")
	}
}

func TestExtensionRef(t *testing.T) {
	a, b := ExtensionRef("/home/a/p"), ExtensionRef("/home/a/q")
	if a == b || !strings.HasPrefix(a, "docker.io/library/aishell:ext-") || len(a) != len("docker.io/library/aishell:ext-")+12 {
		t.Errorf("%s %s", a, b)
	}
}
