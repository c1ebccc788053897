package main

import (
	"bytes"
	"encoding/json"
	"github.com/aishell/aishell/config"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/doctor"
	"github.com/aishell/aishell/snapshot"
)

func TestArgsWantJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"harness ls --json":             true,
		"--json=true doctor":            true,
		"doctor --json=false":           false,
		"exec -- sh --json":             false,
		"harness ls --jsonish":          false,
		"claude -p hi --json --bogus":   true, // a parse error: claude's arguments never get here
		"-a /x.sock harness ls --bogus": false,
	} {
		if got := argsWantJSON(strings.Fields(args)); got != want {
			t.Errorf("%q: %v, want %v", args, got, want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for _, args := range [][]string{{"version", "--json"}, {"doctor", "--json"}, {"harness", "ls", "--json"}, {"ext", "ls", "--json"},
		{"ext", "status", "--json"}, {"build", "--json"}, {"update", "--json"}} {
		var cli CLI
		p, err := newParser(&cli)
		if err != nil {
			t.Fatal(err)
		}
		kctx, err := p.Parse(args)
		if err != nil || !wantsJSON(kctx) {
			t.Errorf("%v: %v, wantsJSON false", args, err)
		}
		if kctx, err := p.Parse(args[:len(args)-1]); err != nil || wantsJSON(kctx) {
			t.Errorf("%v without --json: %v, or wantsJSON true", args, err)
		}
	}
	// A harness's arguments are its own, --json among them.
	var cli CLI
	p, _ := newParser(&cli)
	if kctx, err := p.Parse([]string{"claude", "--json"}); err != nil || wantsJSON(kctx) {
		t.Errorf("claude --json: %v, or wantsJSON true", err)
	}
}

func TestVersionInfo(t *testing.T) {
	bi := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	v := versionInfo("", bi)
	if v.Version != "dev-0123456789ab" || v.Commit != "0123456789abcdef0123" || v.CommitTime != "2026-12-01T10:00:00Z" || !v.Modified || v.GoVersion == "" {
		t.Errorf("%+v", v)
	}
	if v := versionInfo("v1.2.3", bi); v.Version != "v1.2.3" || v.Commit == "" {
		t.Errorf("%+v", v)
	}
	if v := versionInfo("", func() (*debug.BuildInfo, bool) { return nil, false }); v.Version != "dev" || v.Commit != "" {
		t.Errorf("%+v", v)
	}
}

func TestDoctorJSON(t *testing.T) {
	checks := []doctor.Check{
		{Name: "mode", Detail: "root"},
		{Name: "containerd", Status: doctor.Fail, Detail: "cannot reach", Hint: "start it"},
		{Name: "images", Status: doctor.Warn, Detail: "missing: x"},
		{Name: "snapshotter", Status: doctor.Skip, Detail: "containerd unreachable"},
	}
	d := doctorJSON(checks)
	if d.OK || !reflect.DeepEqual(d.Failed, []string{"containerd"}) || len(d.Checks) != len(checks) {
		t.Fatalf("%+v", d)
	}
	var text bytes.Buffer
	doctor.Print(&text, checks)
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	for i, c := range d.Checks {
		wantOK := c.Status == "ok" || c.Status == "warn"
		if c.OK != wantOK || !strings.HasPrefix(strings.ToLower(lines[i]), c.Status+" ") || !strings.Contains(lines[i], c.Name) || !strings.Contains(lines[i], c.Detail) || !strings.Contains(lines[i], c.Hint) {
			t.Errorf("check %+v, text %q", c, lines[i])
		}
	}
	// All well: ok, and an empty list (not null) of failures.
	b, _ := json.Marshal(doctorJSON(checks[:1]))
	if !strings.Contains(string(b), `"ok":true,"failed":[]`) {
		t.Errorf("%s", b)
	}
}

func TestBuildTextAndJSONAgree(t *testing.T) {
	took := 1500 * time.Millisecond
	for _, tc := range []struct {
		name   string
		out    buildOutcome
		text   string
		states []string
		change bool
	}{
		{"first build", buildOutcome{Result: build.Result{FoundationRef: "f:1", FoundationBuilt: true, Harnesses: []build.Change{
			{Name: "claude", To: "2", Ref: "h/claude:2", Built: true}, {Name: "codex", From: "1", To: "1", Ref: "h/codex:1"}}},
			Extension: &tierOutcome{Ref: "e:1", Where: "/p", Built: true}, UserBase: &tierOutcome{Ref: "u:1", Where: "/home/u/.config/aishell/Dockerfile"},
			Solves: 3, Took: took, ConfigPath: "/c.yaml"},
			"foundation f:1 (built)\nclaude 2 (built)\ncodex 1 (up to date)\nuser base u:1 from /home/u/.config/aishell/Dockerfile (up to date)\nextension e:1 for /p (built)\ndone in 1.5s (3 build(s)); harness set saved in /c.yaml\n",
			[]string{"built", "unchanged"}, true},
		{"update", buildOutcome{Update: true, Result: build.Result{FoundationRef: "f:1", Harnesses: []build.Change{
			{Name: "claude", From: "1", To: "2", Ref: "h/claude:2", Built: true}, {Name: "gemini", From: "3", To: "3", Ref: "h/gemini:3"}}}, Solves: 1, Took: took, ConfigPath: "/c.yaml"},
			"claude 1 -> 2\ndone in 1.5s (1 build(s)); harness set saved in /c.yaml\n", []string{"changed", "unchanged"}, true},
		{"update, nothing to do", buildOutcome{Update: true, Result: build.Result{Harnesses: []build.Change{
			{Name: "claude", From: "2", To: "2", Ref: "h/claude:2"}}}, ConfigPath: "/c.yaml"},
			"nothing changed (claude 2)\n", []string{"unchanged"}, false},
	} {
		var text bytes.Buffer
		if err := buildText(&text, tc.out); err != nil || text.String() != tc.text {
			t.Errorf("%s: text %q, want %q (%v)", tc.name, text.String(), tc.text, err)
		}
		d := buildJSON(tc.out)
		if d.Changed != tc.change || len(d.Harnesses) != len(tc.states) || (d.Command == "update") != tc.out.Update || d.Builds != tc.out.Solves {
			t.Errorf("%s: %+v", tc.name, d)
			continue
		}
		for i, h := range d.Harnesses {
			c := tc.out.Harnesses[i]
			if h.State != tc.states[i] || h.Name != c.Name || h.OldVersion != c.From || h.Version != c.To || h.Ref != c.Ref || h.Built != c.Built {
				t.Errorf("%s: harness %+v from %+v, want state %s", tc.name, h, c, tc.states[i])
			}
		}
		if (d.Foundation == nil) != (tc.out.FoundationRef == "") || (d.Extension == nil) != (tc.out.Extension == nil) || (d.UserBase == nil) != (tc.out.UserBase == nil) {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
}

func TestListsTextAndJSONAgree(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	hs := []snapshot.HarnessUse{
		{HarnessImage: snapshot.HarnessImage{Ref: "h/claude:1", Name: "claude", Version: "1", ChainID: "sha256:0123456789abcdef", Size: 377_800_000, Created: created,
			KeptBy: []snapshot.Mark{{View: config.View(), ConfigPath: "/home/b/.config/aishell/config.yaml"}, {View: config.View(), ConfigPath: "/root/.config/aishell/config.yaml"}}},
			Configured: true, Containers: 2},
		{HarnessImage: snapshot.HarnessImage{Ref: "h/codex:2", Name: "codex", Version: "2", Size: 5}},
	}
	var text bytes.Buffer
	if err := harnessesText(&text, hs, "/root/.config/aishell/config.yaml"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	want := []string{"claude 1 0123456789ab 377.8 MB config, kept by 1 other person(s), 2 container(s)", "codex 2 - 5 B -"}
	d := harnessesJSON(hs)
	for i, h := range d.Harnesses {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want[i] {
			t.Errorf("harness ls row %q, want %q", got, want[i])
		}
		if h.Ref != hs[i].Ref || h.Snapshot != hs[i].ChainID || h.Size != hs[i].Size || h.Configured != hs[i].Configured || h.Containers != hs[i].Containers || !slices.Equal(h.KeptBy, markPaths(hs[i].KeptBy)) {
			t.Errorf("harness %+v from %+v", h, hs[i])
		}
	}
	if d.Harnesses[0].Created != "2026-12-01T09:00:00Z" || d.Harnesses[1].Created != "" {
		t.Errorf("created: %+v", d.Harnesses)
	}
	if b, _ := json.Marshal(harnessesJSON(nil)); string(b) != `{"harnesses":[]}` {
		t.Errorf("empty harness ls: %s", b)
	}

	xs := []build.ExtensionImage{
		{Ref: "u:1", Project: "/home/u/.config/aishell/Dockerfile", UserBase: true, State: "fresh", Size: 1000},
		{Ref: "e:1", Project: "/p", State: "stale", Reason: "its Dockerfile or build context changed", Size: 2},
	}
	text.Reset()
	if err := extensionsText(&text, xs); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(text.String()), "\n")
	want = []string{"/home/u/.config/aishell/Dockerfile (your base) fresh 1.0 kB u:1", "/p stale: its Dockerfile or build context changed 2 B e:1"}
	for i, x := range extensionsJSON(xs).Extensions {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want[i] {
			t.Errorf("ext ls row %q, want %q", got, want[i])
		}
		if x.Project != xs[i].Project || x.UserBase != xs[i].UserBase || x.State != xs[i].State || x.Reason != xs[i].Reason || x.Size != xs[i].Size || x.Ref != xs[i].Ref {
			t.Errorf("extension %+v from %+v", x, xs[i])
		}
	}
	if b, _ := json.Marshal(extensionsJSON(nil)); string(b) != `{"extensions":[]}` {
		t.Errorf("empty ext ls: %s", b)
	}

	st := extStatus{ExtensionStatus: build.ExtensionStatus{Ref: "e:1", Project: "/p", Exists: true, Reason: "its Dockerfile or build context changed", Digest: "sha256:ab"},
		Dockerfile: "/p/.aishell/Dockerfile", Took: 1200 * time.Microsecond}
	text.Reset()
	if err := extStatusText(&text, st); err != nil {
		t.Fatal(err)
	}
	if want := "e:1 stale: its Dockerfile or build context changed; not approved (aishell ext trust) (/p/.aishell/Dockerfile; checked in 1.2 ms, no buildkitd call)\n"; text.String() != want {
		t.Errorf("ext status %q, want %q", text.String(), want)
	}
	if x := extStatusJSON(st).Extension; x.Fresh || x.Approved || !x.Exists || x.Reason != st.Reason || x.CheckedInMS != 1.2 || x.Dockerfile != st.Dockerfile {
		t.Errorf("ext status JSON %+v", x)
	}
}
