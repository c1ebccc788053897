package main

import (
	"reflect"
	"testing"
)

func TestHarnessFlagArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"build", "--with-claude", "--claude-version=1.2.3"}, []string{"build", "--with=claude", "--harness-version=claude=1.2.3"}},
		{[]string{"-n", "ns", "update", "--codex-version", "latest"}, []string{"-n", "ns", "update", "--harness-version=codex=latest"}},
		{[]string{"--address", "/x.sock", "build", "--with-gemini"}, []string{"--address", "/x.sock", "build", "--with=gemini"}},
		{[]string{"build", "--without-codex"}, []string{"build", "--without=codex"}},
		// Unknown harnesses and other commands are left for kong to judge.
		{[]string{"build", "--with-nope"}, []string{"build", "--with-nope"}},
		{[]string{"claude", "--with-claude"}, []string{"claude", "--with-claude"}},
		{[]string{"build", "--", "--with-claude"}, []string{"build", "--", "--with-claude"}},
	} {
		if got := harnessFlagArgs(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v -> %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 377_800_000: "377.8 MB"} {
		if got := humanSize(n); got != want {
			t.Errorf("%d -> %q, want %q", n, got, want)
		}
	}
}
