package test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/labels"
)

// Versions of pi and openspec the tests install from the npm registry.
const (
	piV       = "0.73.1"
	openspecV = "1.13.2"
)

// standIn is a harness's binary for these tests: it prints its arguments one per line in
// brackets, the variables the defaults set, the files they name, and tries to write them.
const standIn = `#!/bin/sh
for a in "$@"; do printf 'ARG[%s]\n' "$a"; done
env | sort | grep -E '^(DISABLE_|GEMINI_|OPENCODE_|PI_|OPENSPEC_|CLAUDE_CONFIG_DIR|GOOGLE_APPLICATION_CREDENTIALS|npm_config_prefix)' | sed 's/^/ENV /'
if [ -n "$GEMINI_CLI_SYSTEM_DEFAULTS_PATH" ]; then printf 'DEFAULTS %s\n' "$(tr -d ' \n' < "$GEMINI_CLI_SYSTEM_DEFAULTS_PATH")"; fi
if [ -n "$GOOGLE_APPLICATION_CREDENTIALS" ]; then
  printf 'CRED %s\n' "$(cat "$GOOGLE_APPLICATION_CREDENTIALS" 2>&1)"
  if echo planted >> "$GOOGLE_APPLICATION_CREDENTIALS" 2>/dev/null; then echo 'CRED WROTE'; else echo 'CRED BLOCKED'; fi
fi
`

// fakeRegistry is an npm registry serving a stand-in for each package named, at version.
type fakeRegistry struct {
	*httptest.Server
	packuments map[string][]byte // package name -> packument
	tarballs   map[string][]byte // path -> tarball
}

func newFakeRegistry(t *testing.T, version string, packages map[string]string) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{packuments: map[string][]byte{}, tarballs: map[string][]byte{}}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	l, err := net.Listen("tcp", "127.0.0.1:0") // builds share the host's network
	if err != nil {
		t.Fatal(err)
	}
	r.Listener = l
	r.Start()
	t.Cleanup(r.Close)
	for pkg, bin := range packages {
		tgz := standInTarball(t, pkg, version, bin)
		path := "/tarballs/" + strings.NewReplacer("@", "", "/", "-").Replace(pkg) + "-" + version + ".tgz"
		r.tarballs[path] = tgz
		s1 := sha1.Sum(tgz)
		s512 := sha512.Sum512(tgz)
		manifest := map[string]any{"name": pkg, "version": version, "bin": map[string]string{bin: "cli.sh"},
			"dist": map[string]any{"tarball": r.URL + path, "shasum": hex.EncodeToString(s1[:]),
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:])}}
		doc := map[string]any{"name": pkg, "dist-tags": map[string]string{"latest": version},
			"versions": map[string]any{version: manifest}}
		r.packuments[pkg], _ = json.Marshal(doc)
		r.packuments[pkg+"/"+version], _ = json.Marshal(manifest)
	}
	return r
}

func (r *fakeRegistry) serve(w http.ResponseWriter, req *http.Request) {
	if b, ok := r.tarballs[req.URL.Path]; ok {
		w.Write(b)
		return
	}
	name, _ := url.PathUnescape(strings.TrimPrefix(req.URL.EscapedPath(), "/"))
	if b, ok := r.packuments[name]; ok {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
}

func standInTarball(t *testing.T, pkg, version, bin string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	pj, _ := json.Marshal(map[string]any{"name": pkg, "version": version, "bin": map[string]string{bin: "cli.sh"}})
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"package/package.json", 0o644, pj}, {"package/cli.sh", 0o755, []byte(standIn)}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: time.Unix(1e9, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// standInEnv builds stand-ins of claude, codex and gemini from a fake registry and writes the
// user config (with extra YAML) around the set the build records; it returns the env and the
// config's path.
func standInEnv(t *testing.T, c *containerd.Client, extra string) ([]string, string) {
	t.Helper()
	version := fmt.Sprintf("0.0.0-aishell-standin.%d", time.Now().UnixNano())
	reg := newFakeRegistry(t, version, map[string]string{
		"@anthropic-ai/claude-code": "claude", "@openai/codex": "codex", "@google/gemini-cli": "gemini"})
	env := userEnv(t)
	cfgPath := userConfigPath(env)
	writeFile(t, cfgPath, "npm_registry: "+reg.URL+"/\n")
	t.Cleanup(func() {
		for _, n := range []string{"claude", "codex", "gemini"} {
			c.ImageService().Delete(context.Background(), harnessRef(n, version))
		}
	})
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+version, "--with-codex", "--codex-version="+version,
		"--with-gemini", "--gemini-version="+version, "--progress=plain"))
	cfg := readFile(t, cfgPath)
	writeFile(t, cfgPath, cfg+extra)
	return env, cfgPath
}

// args are the ARG[...] lines of a stand-in's output.
func args(out string) []string {
	var a []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "ARG["); ok {
			a = append(a, strings.TrimSuffix(v, "]"))
		}
	}
	return a
}

func sameArgs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("%s got arguments %q, want %q", what, got, want)
	}
}

// The harness gets the defaults' arguments and harness_args before the user's, quoted as
// given, whether started by aishell or by name from a shell inside; the update and telemetry
// switches of every configured harness are set in every run; each default turns off.
func TestDefaultsArgsAndEnv(t *testing.T) {
	c := needEnv(t)
	nasty := `it's "$HOME"; touch /tmp/pwned $(touch /tmp/pwned2) ` + "`touch /tmp/pwned3`"
	extra := "harness_args:\n  claude: [\"--model\", " + strconvQuote(nasty) + "]\n  codex: \"two words\"\n"
	env, cfgPath := standInEnv(t, c, extra)
	proj := project(t, "defaults-args")

	r := aishell(t, proj, env, "claude", "user 1", "$USER;")
	mustSucceed(t, r)
	sameArgs(t, "aishell claude", args(r.Stdout), "--dangerously-skip-permissions", "--model", nasty, "user 1", "$USER;")
	for _, want := range []string{"ENV DISABLE_AUTOUPDATER=1", "ENV DISABLE_TELEMETRY=1", "ENV DISABLE_ERROR_REPORTING=1",
		"ENV GEMINI_TELEMETRY_ENABLED=false", "ENV GEMINI_CLI_SYSTEM_DEFAULTS_PATH=/opt/aishell/etc/gemini-system-defaults.json"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("claude's environment lacks %s", want)
		}
	}

	// From a shell inside: the same arguments, through the wrapper first on PATH; nothing of
	// the arguments ran as shell code, and the wrappers cannot be changed.
	script := `claude 'a b'; codex exec "x"; gemini; command -v claude
for f in /tmp/pwned /tmp/pwned2 /tmp/pwned3; do test -e $f && echo "RAN $f"; done
echo x > /opt/aishell/bin/claude 2>/dev/null && echo WROTE-WRAPPER; true`
	r = aishell(t, proj, env, "exec", "--", "sh", "-c", script)
	mustSucceed(t, r)
	parts := strings.SplitN(r.Stdout, "ARG[--dangerously-skip-permissions]", 3)
	if len(parts) != 2 {
		t.Fatalf("want one claude run in the shell's output:\n%s", r.Stdout)
	}
	codexAt := strings.Index(parts[1], "ARG[-c]")
	if codexAt < 0 {
		t.Fatalf("codex did not run with its -c defaults:\n%s", r.Stdout)
	}
	sameArgs(t, "claude from the shell", args("ARG[--dangerously-skip-permissions]"+parts[1][:codexAt]),
		"--dangerously-skip-permissions", "--model", nasty, "a b")
	rest := parts[1][codexAt:]
	geminiAt := strings.Index(rest, "DEFAULTS ")
	sameArgs(t, "codex from the shell", args(rest[:geminiAt]), "-c", "check_for_update_on_startup=false", "-c", "analytics.enabled=false", "two words", "exec", "x")
	if !strings.Contains(rest, `DEFAULTS {"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false}}`) {
		t.Errorf("gemini's system defaults file is not what the switches say:\n%s", rest)
	}
	if !strings.Contains(r.Stdout, "/opt/aishell/bin/claude\n") {
		t.Error("claude on PATH is not the wrapper")
	}
	for _, bad := range []string{"RAN ", "WROTE-WRAPPER"} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("inside: %s", bad)
		}
	}

	// Each default off: no arguments of aishell's own, no switches, no defaults file.
	writeFile(t, cfgPath, readFile(t, cfgPath)+"harness_defaults:\n  skip_permissions: false\n  no_updates: false\n  no_telemetry: false\n")
	r = aishell(t, proj, env, "claude", "u")
	mustSucceed(t, r)
	sameArgs(t, "claude with the defaults off", args(r.Stdout), "--model", nasty, "u")
	if strings.Contains(r.Stdout, "ENV ") {
		t.Errorf("defaults off, yet the run set switches:\n%s", r.Stdout)
	}
	r = aishell(t, proj, env, "exec", "--", "codex", "v")
	mustSucceed(t, r)
	sameArgs(t, "codex with the defaults off", args(r.Stdout), "two words", "v")
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// GOOGLE_APPLICATION_CREDENTIALS is mounted read-only when gemini runs and names a regular
// file; not for a shell, not a directory.
func TestDefaultsCredentialsFile(t *testing.T) {
	c := needEnv(t)
	env, _ := standInEnv(t, c, "")
	proj := project(t, "defaults-cred")
	cred := filepath.Join(t.TempDir(), "sa key.json")
	writeFile(t, cred, `{"type":"service_account"}`)
	r := aishell(t, proj, append(env, "GOOGLE_APPLICATION_CREDENTIALS="+cred), "gemini")
	mustSucceed(t, r)
	for _, want := range []string{`CRED {"type":"service_account"}`, "CRED BLOCKED"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("gemini run: want %q", want)
		}
	}
	if got := readFile(t, cred); got != `{"type":"service_account"}` {
		t.Errorf("the credentials file changed: %q", got)
	}
	r = aishell(t, proj, append(env, "GOOGLE_APPLICATION_CREDENTIALS="+cred), "exec", "--keys", "gemini", "--", "sh", "-c", `cat "$GOOGLE_APPLICATION_CREDENTIALS" || echo NOT-THERE`)
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "NOT-THERE") {
		t.Error("a shell saw the credentials file")
	}
	dir := t.TempDir()
	r = aishell(t, proj, append(env, "GOOGLE_APPLICATION_CREDENTIALS="+dir), "gemini")
	mustSucceed(t, r)
	if !strings.Contains(r.Stderr, "is not a regular file; not mounted") || strings.Contains(r.Stdout, "CRED BLOCKED") {
		t.Errorf("a directory in GOOGLE_APPLICATION_CREDENTIALS: stderr %q", r.Stderr)
	}
}

// A missing harness config is made on the host before the run, so what a login writes there
// persists; the real claude starts with the ~/.claude.json made for it. With create_config off
// nothing is made.
func TestDefaultsCreateConfig(t *testing.T) {
	needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV2, "--progress=plain"))
	proj := project(t, "defaults-create")
	home := fakeHome(t, nil)
	api := newFakeAPI(t)
	r := aishell(t, proj, append(env, "HOME="+home, "ANTHROPIC_BASE_URL="+api.URL, "ANTHROPIC_API_KEY=sk-test"),
		"claude", "--network", "host", "-p", "say hi") // the fake API is on the host's loopback
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "FAKE-REPLY") {
		t.Errorf("claude -p with the defaults: %q", r.Stdout)
	}
	fi, err := os.Stat(filepath.Join(home, ".claude"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("~/.claude not made: %v", err)
	}
	if uid, _ := owner(t, filepath.Join(home, ".claude")); uid != os.Getuid() {
		t.Errorf("~/.claude owned by %d", uid)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(home, ".claude.json"))), &m); err != nil {
		t.Errorf("~/.claude.json is not JSON after the run: %v", err)
	}
	r = aishell(t, proj, append(env, "HOME="+home), "exec", "--", "sh", "-c", "echo '{}' > ~/.claude/.credentials.json")
	mustSucceed(t, r)
	if got := readFile(t, filepath.Join(home, ".claude/.credentials.json")); got != "{}\n" {
		t.Errorf("a login inside did not persist: %q", got)
	}

	cfgPath := userConfigPath(env)
	writeFile(t, cfgPath, readFile(t, cfgPath)+"harness_defaults:\n  create_config: false\n")
	bare := fakeHome(t, nil)
	mustSucceed(t, aishell(t, proj, append(env, "HOME="+bare), "exec", "--", "true"))
	for _, p := range []string{".claude", ".claude.json"} {
		if _, err := os.Lstat(filepath.Join(bare, p)); err == nil {
			t.Errorf("create_config off, yet %s was made", p)
		}
	}
}

// The prompt and the terminal title name aishell and the project, in login and other bash
// shells; a project's name with shell syntax in it is shown, never run.
func TestDefaultsPrompt(t *testing.T) {
	needEnv(t)
	env := userEnv(t)
	base := t.TempDir()
	proj := filepath.Join(base, "p$(touch pwned)`touch pwned2`;x")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `printf 'LOGIN %s\n' "${PS1@P}"; bash -ic 'eval "$PROMPT_COMMAND"; printf "CHILD %s\n" "${PS1@P}"' 2>/dev/null
echo x > /etc/profile.d/aishell.sh 2>/dev/null && echo WROTE-PROFILE; true`
	r := aishell(t, proj, env, "exec", "--", "bash", "-lc", script)
	mustSucceed(t, r)
	want := "[aishell:p__touch_pwned__touch_pwned2__x]"
	for _, p := range []string{"LOGIN ", "CHILD "} {
		line := lineWith(r.Stdout, p)
		if !strings.Contains(line, want) || !strings.Contains(line, "\x1b]0;aishell: p__touch_pwned__touch_pwned2__x\a") {
			t.Errorf("%sprompt %q, want %s and the title", p, line, want)
		}
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(proj, f)); err == nil {
			t.Errorf("the project's name ran: %s", f)
		}
	}
	if strings.Contains(r.Stdout, "WROTE-PROFILE") {
		t.Error("the profile is writable inside")
	}
	cfgPath := userConfigPath(env)
	writeFile(t, cfgPath, "harness_defaults:\n  prompt: false\n")
	r = aishell(t, proj, env, "exec", "--", "bash", "-lc", `test -e /etc/profile.d/aishell.sh && echo PROFILE; printf 'P %s\n' "$AISHELL_PROJECT"`)
	mustSucceed(t, r)
	if strings.Contains(r.Stdout, "PROFILE") || lineWith(r.Stdout, "P ") != "P " {
		t.Errorf("prompt off, yet: %q", r.Stdout)
	}
}

// claude_isolation: project gives the project a Claude config of its own, the host's
// credentials carried over, its protected paths still protected, the shared ~/.claude unseen.
func TestDefaultsClaudeIsolation(t *testing.T) {
	c := needEnv(t)
	env, _ := standInEnv(t, c, "claude_isolation: project\n")
	proj := project(t, "defaults-iso")
	home := fakeHome(t, map[string]string{".claude/.credentials.json": `{"token":"host"}`, ".claude/history.jsonl": "shared\n"})
	dir := filepath.Join(home, ".local/state/aishell/claude-projects", labels.ProjectKey(proj))
	r := aishell(t, proj, append(env, "HOME="+home), "claude")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "ENV CLAUDE_CONFIG_DIR="+dir+"\n") {
		t.Errorf("claude's config dir is not the project's %s", dir)
	}
	script := `cat "$CLAUDE_CONFIG_DIR/.credentials.json"; echo
test -e ~/.claude/history.jsonl && echo SHARED-SEEN
echo '{"hooks":{}}' > "$CLAUDE_CONFIG_DIR/settings.json" 2>/dev/null && echo WROTE-SETTINGS
echo mine >> "$CLAUDE_CONFIG_DIR/history.jsonl"
jq '.mcpServers.evil = {"command": "sh"} | .numStartups = 5' "$CLAUDE_CONFIG_DIR/.claude.json" > /tmp/n && cat /tmp/n > "$CLAUDE_CONFIG_DIR/.claude.json"; true`
	r = aishell(t, proj, append(env, "HOME="+home), "exec", "--", "sh", "-c", script)
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, `{"token":"host"}`) {
		t.Error("the host's credentials were not carried over")
	}
	for _, bad := range []string{"SHARED-SEEN", "WROTE-SETTINGS"} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("isolated claude config: %s", bad)
		}
	}
	if got := readFile(t, filepath.Join(dir, "history.jsonl")); got != "mine\n" {
		t.Errorf("the project's history: %q", got)
	}
	if got := readFile(t, filepath.Join(dir, ".claude.json")); strings.Contains(got, "evil") || !strings.Contains(got, `"numStartups": 5`) {
		t.Errorf("the project's .claude.json is not merged back as ~/.claude.json is: %s", got)
	}
	if got := readFile(t, filepath.Join(home, ".claude/history.jsonl")); got != "shared\n" {
		t.Errorf("the shared history changed: %q", got)
	}
}

// Under sudo, what the defaults make on the host belongs to the person who typed sudo: the
// project's Claude config and its ~/.claude.json, down from the first directory made.
func TestDefaultsSudoOwnership(t *testing.T) {
	needEnv(t)
	u, _ := needRootless(t)
	rootHome := t.TempDir()
	cfg := u.dir(t, "sudodefaults")
	writeFile(t, filepath.Join(cfg, "aishell", "config.yaml"), "claude_isolation: project\n")
	os.Chown(filepath.Join(cfg, "aishell"), u.UID, u.GID)
	os.Chown(filepath.Join(cfg, "aishell", "config.yaml"), u.UID, u.GID)
	env := sudoEnv(u, rootHome, "XDG_CONFIG_HOME="+cfg)
	proj := u.project(t, "sudodefaults")
	mustSucceed(t, runCmd(t, sudoCmd(proj, env, "build", "--with-claude", "--claude-version="+claudeV2, "--progress=plain"), "sudo aishell build"))
	state := filepath.Join(u.Home, ".local/state/aishell/claude-projects")
	dir := filepath.Join(state, labels.ProjectKey(proj))
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := runCmd(t, sudoCmd(proj, env, "exec", "--", "sh", "-c", `echo "$CLAUDE_CONFIG_DIR"; echo x >> "$CLAUDE_CONFIG_DIR/history.jsonl"`), "sudo aishell exec")
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != dir {
		t.Errorf("CLAUDE_CONFIG_DIR %q, want %s", r.Stdout, dir)
	}
	for _, p := range []string{state, dir, filepath.Join(dir, ".claude.json"), filepath.Join(dir, "history.jsonl")} {
		if uid, gid := owner(t, p); uid != u.UID || gid != u.GID {
			t.Errorf("%s owned by %d:%d, want the user's %d:%d", p, uid, gid, u.UID, u.GID)
		}
	}
	if _, err := os.Stat(filepath.Join(rootHome, ".claude")); err == nil {
		t.Error("root's home got a Claude config")
	}
}

// The real harnesses start with the defaults' arguments and files: Claude Code with
// --dangerously-skip-permissions as uid 0, codex with its -c overrides before --version,
// gemini reading the system defaults file.
func TestDefaultsRealHarnessesStart(t *testing.T) {
	needEnv(t)
	env := protectEnv(t, false)
	proj := project(t, "defaults-real")
	home := fakeHome(t, nil)
	for name, v := range map[string]string{"claude": claudeV2, "codex": codexV, "gemini": geminiV} {
		r := aishell(t, proj, append(env, "HOME="+home), name, "--version")
		mustSucceed(t, r)
		if !strings.Contains(r.Stdout, v) {
			t.Errorf("%s --version with the defaults: %q", name, r.Stdout)
		}
	}
}

// pi and openspec build from their npm packages and run.
func TestPiAndOpenspec(t *testing.T) {
	needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-pi", "--pi-version="+piV, "--with-openspec", "--openspec-version="+openspecV, "--progress=plain"))
	proj := project(t, "pi-openspec")
	home := fakeHome(t, nil)
	for name, v := range map[string]string{"pi": piV, "openspec": openspecV} {
		r := aishell(t, proj, append(env, "HOME="+home), name, "--version")
		mustSucceed(t, r)
		if !strings.Contains(r.Stdout+r.Stderr, v) {
			t.Errorf("%s --version: %q", name, r.Stdout)
		}
	}
	r := aishell(t, proj, append(env, "HOME="+home), "exec", "--", "sh", "-c", `env | grep -E '^(PI_|OPENSPEC_)' | sort
echo '{"packages":["npm:evil"]}' > ~/.pi/agent/settings.json 2>/dev/null && echo WROTE-PI-SETTINGS
echo '{}' > ~/.config/openspec/config.json 2>/dev/null && echo WROTE-OPENSPEC-CONFIG
echo s > ~/.pi/agent/sessions.txt && echo WROTE-STATE`)
	mustSucceed(t, r)
	for _, want := range []string{"OPENSPEC_NO_UPDATE_CHECK=1", "OPENSPEC_TELEMETRY=0", "PI_SKIP_VERSION_CHECK=1", "PI_TELEMETRY=0", "WROTE-STATE"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("inside: want %s", want)
		}
	}
	for _, bad := range []string{"WROTE-PI-SETTINGS", "WROTE-OPENSPEC-CONFIG"} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("inside: %s", bad)
		}
	}
}

// pi_packages are installed with pi into its snapshot: another list is another image, the
// run says when the list changed since the build, gc keeps the configured one.
func TestDefaultsPiPackages(t *testing.T) {
	c := needEnv(t)
	version := fmt.Sprintf("0.0.0-aishell-standin.%d", time.Now().UnixNano())
	reg := newFakeRegistry(t, version, map[string]string{
		"@mariozechner/pi-coding-agent": "pi", "aishell-test-ext-a": "ext-a", "@aishell-test/ext-b": "ext-b"})
	env := userEnv(t)
	cfgPath := userConfigPath(env)
	writeFile(t, cfgPath, "npm_registry: "+reg.URL+"/\npi_packages: [aishell-test-ext-a]\n")
	var refs []string
	t.Cleanup(func() {
		for _, r := range refs {
			c.ImageService().Delete(context.Background(), r)
		}
	})
	build := func() string {
		t.Helper()
		mustSucceed(t, aishell(t, "", env, "build", "--with-pi", "--pi-version="+version, "--progress=plain"))
		ref := harnessRef("pi", loadUserConfig(t, env).Harnesses["pi"].Resolved+"-pkgs.")
		for _, img := range storeImages(t, c) {
			if strings.HasPrefix(img.Name, ref) && !slices.Contains(refs, img.Name) {
				refs = append(refs, img.Name)
				return img.Name
			}
		}
		t.Fatalf("no image %s* after the build", ref)
		return ""
	}
	first := build()
	proj := project(t, "defaults-pipkgs")
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "ls /opt/harness/pi/lib/node_modules; pi")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "aishell-test-ext-a\n") || !strings.Contains(r.Stdout, "ENV npm_config_prefix=/opt/harness/pi\n") {
		t.Errorf("pi's snapshot lacks its package, or pi cannot find it:\n%s", r.Stdout)
	}
	setPackages := func(pkgs ...string) {
		t.Helper()
		f := loadUserConfig(t, env)
		f.PiPackages = pkgs
		if err := config.Save(cfgPath, f, config.Person{Mode: config.ModeRoot}); err != nil {
			t.Fatal(err)
		}
	}
	setPackages("aishell-test-ext-a", "@aishell-test/ext-b")
	r = aishell(t, proj, env, "exec", "--", "true")
	mustSucceed(t, r)
	if !strings.Contains(r.Stderr, "are not those its snapshot has (aishell-test-ext-a); run `aishell build`") {
		t.Errorf("a changed pi_packages was not said: %q", r.Stderr)
	}
	second := build()
	if second == first {
		t.Fatal("another package list, the same image")
	}
	r = aishell(t, proj, env, "exec", "--", "ls", "/opt/harness/pi/lib/node_modules/@aishell-test")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "ext-b") {
		t.Errorf("the second package is not in the new snapshot: %q", r.Stdout)
	}
	r = aishell(t, "", env, "gc", "--dry-run")
	mustSucceed(t, r)
	if strings.Contains(r.Stdout, second) {
		t.Errorf("gc would remove the configured pi snapshot %s:\n%s", second, r.Stdout)
	}
	r = aishell(t, "", env, "harness", "ls")
	mustSucceed(t, r)
	if !strings.Contains(lineWith(r.Stdout, "config"), "pi") {
		t.Errorf("harness ls does not mark the configured pi snapshot:\n%s", r.Stdout)
	}
	// A name that is not a package is refused before anything builds.
	setPackages("x; rm -rf /", "aishell-test-ext-a")
	r = aishell(t, "", env, "build", "--with-pi", "--progress=plain")
	if r.Code != 2 || !strings.Contains(r.Stderr, "is not an npm package name") {
		t.Errorf("a bad package name: exit %d, %q", r.Code, r.Stderr)
	}
}
