package main

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aishell/aishell/build"
)

// parse parses args with aishell's real command line and returns the CLI and the command.
func parse(t *testing.T, args ...string) (*CLI, string, error) {
	t.Helper()
	var cli CLI
	p, err := newParser(&cli)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := p.Parse(args)
	if err != nil {
		return &cli, "", err
	}
	return &cli, kctx.Command(), nil
}

func TestHarnessFlagsFromTheCatalog(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want build.Request
	}{
		{[]string{"build", "--with-claude", "--claude-version=1.2.3"}, build.Request{Add: []string{"claude"}, Versions: map[string]string{"claude": "1.2.3"}}},
		{[]string{"-n", "ns", "update", "--codex-version", "latest"}, build.Request{Versions: map[string]string{"codex": "latest"}}},
		{[]string{"--address", "/x.sock", "build", "--with-gemini"}, build.Request{Add: []string{"gemini"}, Versions: map[string]string{}}},
		// A global flag with a value (which a hand-kept list once had to know) before the command.
		{[]string{"--tlsdir", "/certs", "--buildkit-host", "tcp://h:1", "build", "--with-opencode"}, build.Request{Add: []string{"opencode"}, Versions: map[string]string{}}},
		{[]string{"build", "--without-codex"}, build.Request{Remove: []string{"codex"}, Versions: map[string]string{}}},
		// An empty version still names the harness (its configured version, or latest).
		{[]string{"update", "--claude-version="}, build.Request{Versions: map[string]string{"claude": ""}}},
		{[]string{"build", "--with=codex", "--harness-version=claude=2", "--with-gemini"}, build.Request{Add: []string{"codex", "gemini"}, Versions: map[string]string{"claude": "2"}}},
	} {
		cli, cmd, err := parse(t, tc.args...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		f := cli.Build.HarnessFlags
		if cmd == "update" {
			f = cli.Update.HarnessFlags
		}
		if got := f.request(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v -> %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestHarnessFlagsOnlyWhereTheyBelong(t *testing.T) {
	// An unknown harness is kong's error, as any unknown flag.
	if _, _, err := parse(t, "build", "--with-nope"); err == nil {
		t.Error("--with-nope accepted")
	}
	// After `aishell claude` every argument is the harness's, untouched.
	cli, cmd, err := parse(t, "claude", "--with-claude", "--claude-version=9")
	if err != nil || cmd != "claude <args>" {
		t.Fatalf("claude: %q, %v", cmd, err)
	}
	if len(cli.Build.request().Add) != 0 {
		t.Error("a harness argument reached build's flags")
	}
	// After `--`, exec's command is untouched too.
	if _, cmd, err := parse(t, "exec", "--", "--with-claude"); err != nil || cmd != "exec <command>" {
		t.Errorf("exec -- --with-claude: %q, %v", cmd, err)
	}
	// Every catalog harness has its three flags on build and update, and nothing else does.
	for _, args := range [][]string{{"build", "--with-codex", "--without-gemini", "--opencode-version", "1"}, {"update", "--with-claude"}} {
		if _, _, err := parse(t, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := parse(t, "gc", "--with-claude"); err == nil {
		t.Error("gc accepted --with-claude")
	}
}

func TestDropDashes(t *testing.T) {
	if got := dropDashes([]string{"--", "--help"}); !slices.Equal(got, []string{"--help"}) {
		t.Errorf("%q", got)
	}
	if got := dropDashes([]string{"-x", "--"}); !slices.Equal(got, []string{"-x", "--"}) {
		t.Errorf("%q", got)
	}
}
