package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/snapshot"
)

// The JSON documents as README's "JSON output" section lists them. They are decoded with
// unknown fields refused, so a field added without these (and README) is a failure.
type (
	versionJSON struct {
		Version    string `json:"version"`
		GoVersion  string `json:"go_version"`
		OS         string `json:"os"`
		Arch       string `json:"arch"`
		Commit     string `json:"commit"`
		CommitTime string `json:"commit_time"`
		Modified   bool   `json:"modified"`
	}
	doctorJSON struct {
		OK     bool     `json:"ok"`
		Failed []string `json:"failed"`
		Checks []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
			Hint   string `json:"hint"`
		} `json:"checks"`
	}
	imageJSON struct {
		Ref        string `json:"ref"`
		Built      bool   `json:"built"`
		Dockerfile string `json:"dockerfile"`
		Project    string `json:"project"`
	}
	harnessChangeJSON struct {
		Name       string `json:"name"`
		OldVersion string `json:"old_version"`
		Version    string `json:"version"`
		Ref        string `json:"ref"`
		State      string `json:"state"`
		Built      bool   `json:"built"`
	}
	buildJSON struct {
		Command    string              `json:"command"`
		Changed    bool                `json:"changed"`
		Foundation *imageJSON          `json:"foundation"`
		Harnesses  []harnessChangeJSON `json:"harnesses"`
		UserBase   *imageJSON          `json:"user_base"`
		Extension  *imageJSON          `json:"extension"`
		Builds     int                 `json:"builds"`
		Seconds    float64             `json:"duration_seconds"`
		Config     string              `json:"config"`
	}
	harnessLsJSON struct {
		Harnesses []struct {
			Name       string   `json:"name"`
			Version    string   `json:"version"`
			Ref        string   `json:"ref"`
			Snapshot   string   `json:"snapshot"`
			Size       int64    `json:"size"`
			Created    string   `json:"created"`
			Configured bool     `json:"configured"`
			KeptBy     []string `json:"kept_by"`
			Containers int      `json:"containers"`
		} `json:"harnesses"`
	}
	extLsJSON struct {
		Extensions []struct {
			Project  string `json:"project"`
			UserBase bool   `json:"user_base"`
			State    string `json:"state"`
			Reason   string `json:"reason"`
			Size     int64  `json:"size"`
			Ref      string `json:"ref"`
		} `json:"extensions"`
	}
	extStatusJSON struct {
		Extension struct {
			Project     string  `json:"project"`
			Dockerfile  string  `json:"dockerfile"`
			Ref         string  `json:"ref"`
			Exists      bool    `json:"exists"`
			Fresh       bool    `json:"fresh"`
			Reason      string  `json:"reason"`
			Digest      string  `json:"digest"`
			Approved    bool    `json:"approved"`
			CheckedInMS float64 `json:"checked_in_ms"`
		} `json:"extension"`
	}
	errorJSON struct {
		Error struct {
			Message string `json:"message"`
			Hint    string `json:"hint"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
)

// decodeOne decodes s as exactly one JSON document into v, refusing unknown fields and
// anything after the document.
func decodeOne(t *testing.T, what, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: not the JSON document: %v\n%s", what, err, s)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("%s: more than one document (%v): %s", what, err, s)
	}
	// Every field is there, even when empty (README: null or "").
	var top map[string]json.RawMessage
	json.Unmarshal([]byte(s), &top)
	rt := reflect.TypeOf(v).Elem()
	for i := range rt.NumField() {
		if key, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); top[key] == nil {
			t.Errorf("%s: no %q in %s", what, key, s)
		}
	}
}

// jsonOK runs aishell with args and --json, wants exit 0, and decodes stdout into v.
func jsonOK(t *testing.T, dir string, env []string, v any, args ...string) result {
	t.Helper()
	r := aishell(t, dir, env, append(args, "--json")...)
	mustSucceed(t, r)
	decodeOne(t, strings.Join(args, " ")+" --json", r.Stdout, v)
	return r
}

// sameError runs args as text and with --json: the same exit code, want, and with --json
// nothing on stdout and the error document alone on stderr, saying what the text said.
func sameError(t *testing.T, dir string, env []string, want int, args ...string) errorJSON {
	t.Helper()
	text := aishell(t, dir, env, args...)
	js := aishell(t, dir, env, append(args, "--json")...)
	if text.Code != want || js.Code != want {
		t.Fatalf("%v: exit %d, with --json %d; want %d", args, text.Code, js.Code, want)
	}
	if js.Stdout != "" {
		t.Errorf("%v --json: stdout %q, want nothing", args, js.Stdout)
	}
	var e errorJSON
	decodeOne(t, fmt.Sprint(args, " --json stderr"), js.Stderr, &e)
	if e.Error.Code != want || e.Error.Message == "" {
		t.Errorf("%v --json: error document %+v, want code %d and a message", args, e, want)
	}
	wantText := "aishell: " + e.Error.Message + "\n"
	if e.Error.Hint != "" {
		wantText += "hint: " + e.Error.Hint + "\n"
	}
	if text.Stderr != wantText {
		t.Errorf("%v: text error %q, JSON error says %q", args, text.Stderr, wantText)
	}
	return e
}

func TestJSONVersion(t *testing.T) {
	r := aishell(t, "", nil, "version")
	mustSucceed(t, r)
	var v versionJSON
	jsonOK(t, "", nil, &v, "version")
	if r.Stdout != "aishell "+v.Version+"\n" || v.GoVersion == "" || v.OS == "" || v.Arch == "" {
		t.Errorf("version %q, JSON %+v", r.Stdout, v)
	}
	if v.CommitTime != "" {
		if _, err := time.Parse(time.RFC3339, v.CommitTime); err != nil {
			t.Errorf("commit_time %q: %v", v.CommitTime, err)
		}
	}
}

func TestJSONDoctor(t *testing.T) {
	needEnv(t)
	text := aishell(t, "", nil, "doctor")
	mustSucceed(t, text)
	var d doctorJSON
	r := jsonOK(t, "", nil, &d, "doctor")
	if !d.OK || len(d.Failed) != 0 || len(d.Checks) != len(strings.Split(strings.TrimSpace(text.Stdout), "\n")) {
		t.Errorf("doctor JSON %+v, text:\n%s", d, text.Stdout)
	}
	if r.Stderr != "" {
		t.Errorf("doctor --json stderr %q", r.Stderr)
	}
	for _, c := range d.Checks {
		line := lineOf(text.Stdout, c.Name)
		if !strings.HasPrefix(strings.ToLower(line), c.Status) || !strings.Contains(line, c.Detail) || !strings.Contains(line, c.Hint) {
			t.Errorf("check %+v, text line %q", c, line)
		}
	}

	// A failed check: exit 1 either way; with --json the document says it, and stderr is empty.
	env := []string{"CONTAINERD_ADDRESS=" + filepath.Join(t.TempDir(), "no-containerd.sock")}
	text = aishell(t, "", env, "doctor")
	r = aishell(t, "", env, "doctor", "--json")
	if text.Code != errs.CodeError || r.Code != errs.CodeError {
		t.Fatalf("doctor without containerd: exit %d, with --json %d; want 1", text.Code, r.Code)
	}
	d = doctorJSON{}
	decodeOne(t, "doctor --json", r.Stdout, &d)
	if r.Stderr != "" || d.OK || len(d.Failed) == 0 || d.Failed[0] != "containerd" {
		t.Errorf("doctor --json without containerd: %+v, stderr %q", d, r.Stderr)
	}
	for _, c := range d.Checks {
		if c.Name == "containerd" && (c.Status != "fail" || c.OK || c.Hint == "" || !strings.HasPrefix(lineOf(text.Stdout, "containerd"), "FAIL")) {
			t.Errorf("containerd check %+v", c)
		}
	}
}

func TestJSONErrors(t *testing.T) {
	needEnv(t)
	env := userEnv(t)
	// containerd unreachable.
	e := sameError(t, "", env, errs.CodeError, "--address", "/nonexistent.sock", "harness", "ls")
	if !strings.Contains(e.Error.Message, "/nonexistent.sock") || e.Error.Hint == "" {
		t.Errorf("unreachable containerd: %+v", e)
	}
	// Usage errors: kong's, before any command runs, and a command's own.
	e = sameError(t, "", env, errs.CodeUsage, "harness", "ls", "--bogus")
	if !strings.Contains(e.Error.Message, "--bogus") {
		t.Errorf("unknown flag: %+v", e)
	}
	sameError(t, "", env, errs.CodeUsage, "update")
	// Not in a project.
	sameError(t, t.TempDir(), env, errs.CodeError, "ext", "status")
}

// build, update, harness ls, ext ls and ext status with --json say what their text says.
func TestJSONBuildUpdateLists(t *testing.T) {
	c := needEnv(t)
	stamp := time.Now().UnixNano()
	v1 := fmt.Sprintf("0.0.1-aishell-json.%d", stamp)
	v2 := fmt.Sprintf("0.0.2-aishell-json.%d", stamp)
	reg1 := newFakeRegistry(t, v1, map[string]string{"@anthropic-ai/claude-code": "claude"})
	reg2 := newFakeRegistry(t, v2, map[string]string{"@anthropic-ai/claude-code": "claude"})
	env := userEnv(t)
	cfgPath := userConfigPath(env)
	writeFile(t, cfgPath, "npm_registry: "+reg1.URL+"/\n")
	proj := extProject(t, "jsonext", fmt.Sprintf("FROM aishell:foundation\nRUN echo %d > /etc/aishell-json\n", stamp))
	extRef := build.ExtensionRef(proj)
	t.Cleanup(func() {
		for _, ref := range []string{harnessRef("claude", v1), harnessRef("claude", v2), extRef} {
			c.ImageService().Delete(context.Background(), ref)
		}
	})
	trust(t, proj, env)

	// A first build: claude and the extension built; stdout holds the document only.
	var b buildJSON
	r := jsonOK(t, proj, env, &b, "build", "--with-claude", "--claude-version="+v1)
	if !strings.Contains(r.Stderr, "building claude") {
		t.Errorf("build progress is not on stderr: %q", r.Stderr)
	}
	want1 := harnessChangeJSON{Name: "claude", Version: v1, Ref: harnessRef("claude", v1), State: "built", Built: true}
	if b.Command != "build" || !b.Changed || len(b.Harnesses) != 1 || b.Harnesses[0] != want1 || b.Builds < 2 || b.Config != cfgPath ||
		b.Foundation == nil || !strings.HasPrefix(b.Foundation.Ref, foundationImage+"-") ||
		b.Extension == nil || *b.Extension != (imageJSON{Ref: extRef, Built: true, Project: proj}) || b.UserBase != nil {
		t.Errorf("first build: %+v", b)
	}

	// Nothing to do: the text and the document say the same.
	text := aishell(t, proj, env, "build")
	mustSucceed(t, text)
	b = buildJSON{}
	jsonOK(t, proj, env, &b, "build")
	if b.Changed || b.Builds != 0 || len(b.Harnesses) != 1 || b.Harnesses[0].State != "unchanged" || b.Harnesses[0].Built || b.Foundation.Built || b.Extension.Built {
		t.Errorf("build with nothing to do: %+v", b)
	}
	wantText := fmt.Sprintf("foundation %s (up to date)\nclaude %s (up to date)\nextension %s for %s (up to date)\n", b.Foundation.Ref, v1, extRef, proj)
	if text.Stdout != wantText {
		t.Errorf("build text %q, from its JSON %q", text.Stdout, wantText)
	}

	// An update to a new version: the old and new versions, the new ref, built.
	writeFile(t, cfgPath, strings.Replace(readFile(t, cfgPath), reg1.URL, reg2.URL, 1))
	b = buildJSON{}
	jsonOK(t, "", env, &b, "update", "--claude-version="+v2)
	want2 := harnessChangeJSON{Name: "claude", OldVersion: v1, Version: v2, Ref: harnessRef("claude", v2), State: "changed", Built: true}
	if b.Command != "update" || !b.Changed || len(b.Harnesses) != 1 || b.Harnesses[0] != want2 || b.Builds != 1 ||
		b.Foundation == nil || b.Foundation.Built || b.Extension != nil || b.UserBase != nil {
		t.Errorf("update: %+v", b)
	}
	text = aishell(t, "", env, "update")
	mustSucceed(t, text)
	b = buildJSON{}
	jsonOK(t, "", env, &b, "update")
	if b.Changed || len(b.Harnesses) != 1 || b.Harnesses[0].State != "unchanged" || b.Harnesses[0].Version != v2 || b.Harnesses[0].OldVersion != v2 {
		t.Errorf("update with nothing to do: %+v", b)
	}
	if want := "nothing changed (claude " + v2 + ")\n"; text.Stdout != want {
		t.Errorf("update text %q, from its JSON %q", text.Stdout, want)
	}

	// harness ls: our two versions, each row as the text has it.
	text = aishell(t, "", env, "harness", "ls")
	mustSucceed(t, text)
	var hl harnessLsJSON
	jsonOK(t, "", env, &hl, "harness", "ls")
	seen := map[string]bool{}
	for _, h := range hl.Harnesses {
		if h.Ref != harnessRef("claude", v1) && h.Ref != harnessRef("claude", v2) {
			continue
		}
		seen[h.Version] = true
		uses := "-"
		if h.Configured {
			uses = "config"
		}
		if want := []string{h.Name, h.Version, snapshot.ShortID(h.Snapshot), snapshot.HumanSize(h.Size), uses}; strings.Join(strings.Fields(lineWith(text.Stdout, h.Version)), " ") != strings.Join(want, " ") {
			t.Errorf("harness ls row %q, JSON %+v", lineWith(text.Stdout, h.Version), h)
		}
		if _, err := time.Parse(time.RFC3339, h.Created); err != nil || h.Size <= 0 || h.Containers != 0 || h.Configured != (h.Version == v2) {
			t.Errorf("harness ls JSON %+v (%v)", h, err)
		}
	}
	if !seen[v1] || !seen[v2] {
		t.Errorf("harness ls --json lacks %s or %s: %+v", v1, v2, hl)
	}

	// ext ls: this project's row.
	text = aishell(t, proj, env, "ext", "ls")
	mustSucceed(t, text)
	var el extLsJSON
	jsonOK(t, proj, env, &el, "ext", "ls")
	found := false
	for _, x := range el.Extensions {
		if x.Project != proj {
			continue
		}
		found = true
		if want := []string{proj, "fresh", snapshot.HumanSize(x.Size), extRef}; x.State != "fresh" || x.UserBase || x.Ref != extRef || x.Size <= 0 ||
			strings.Join(strings.Fields(lineWith(text.Stdout, proj)), " ") != strings.Join(want, " ") {
			t.Errorf("ext ls row %q, JSON %+v", lineWith(text.Stdout, proj), x)
		}
	}
	if !found {
		t.Errorf("ext ls --json lacks %s: %+v", proj, el)
	}

	// ext status.
	text = aishell(t, proj, env, "ext", "status")
	mustSucceed(t, text)
	var es extStatusJSON
	jsonOK(t, proj, env, &es, "ext", "status")
	x := es.Extension
	dockerfile := filepath.Join(proj, ".aishell", "Dockerfile")
	if x.Project != proj || x.Dockerfile != dockerfile || x.Ref != extRef || !x.Exists || !x.Fresh || x.Reason != "" || !x.Approved || !strings.HasPrefix(x.Digest, "sha256:") ||
		!strings.HasPrefix(text.Stdout, extRef+" fresh ("+dockerfile+"; checked in ") {
		t.Errorf("ext status %q, JSON %+v", text.Stdout, x)
	}

	// A stale, unapproved extension says so in both.
	writeDockerfile(t, proj, fmt.Sprintf("FROM aishell:foundation\nRUN echo %d-2 > /etc/aishell-json\n", stamp))
	text = aishell(t, proj, env, "ext", "status")
	mustSucceed(t, text)
	es = extStatusJSON{}
	jsonOK(t, proj, env, &es, "ext", "status")
	x = es.Extension
	if x.Fresh || !x.Exists || x.Approved || x.Reason == "" ||
		!strings.HasPrefix(text.Stdout, extRef+" stale: "+x.Reason+"; not approved (aishell ext trust) (") {
		t.Errorf("stale ext status %q, JSON %+v", text.Stdout, x)
	}
}
