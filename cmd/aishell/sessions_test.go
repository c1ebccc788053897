package main

import (
	"slices"
	"testing"
)

// aishell's --name, --detach and --network come off the front of a harness's arguments; the harness's
// own flags (claude -d is its --debug), and everything after --, stay its.
func TestPeelSessionFlags(t *testing.T) {
	for _, c := range []struct {
		in     []string
		name   string
		detach bool
		rest   []string
	}{
		{[]string{"--detach", "--name", "review", "-p", "hi"}, "review", true, []string{"-p", "hi"}},
		{[]string{"--name=x", "--resume"}, "x", false, []string{"--resume"}},
		{[]string{"-d", "--detach"}, "", false, []string{"-d", "--detach"}},
		{[]string{"--", "--name", "y"}, "", false, []string{"--", "--name", "y"}},
		{[]string{"-p", "--name", "z"}, "", false, []string{"-p", "--name", "z"}},
		{nil, "", false, nil},
	} {
		f, rest, err := peelSessionFlags(c.in)
		if err != nil || f.Name != c.name || f.Detach != c.detach || !slices.Equal(rest, c.rest) {
			t.Errorf("peel %q: %+v %q %v", c.in, f, rest, err)
		}
	}
	f, rest, err := peelSessionFlags([]string{"--network", "none", "--name", "n", "--network=allow-list", "-p", "--network", "host"})
	if err != nil || f.Network != "allow-list" || f.Name != "n" || !slices.Equal(rest, []string{"-p", "--network", "host"}) {
		t.Errorf("peel --network: %+v %q %v", f, rest, err)
	}
	for _, bad := range [][]string{{"--name"}, {"--name", "a b"}, {"--name=../x"}, {"--network"}} {
		if _, _, err := peelSessionFlags(bad); err == nil {
			t.Errorf("peel %q accepted", bad)
		}
	}
}
