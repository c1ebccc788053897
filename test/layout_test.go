package test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aishell/aishell/"

// rank orders the packages as DESIGN.md's "Dependency direction" does: a package may import only
// packages of a lower rank.
//
//	cmd/aishell, bench -> doctor -> (run, build, vm) -> protect -> (oci, snapshot, harness, daemon, rootless, project, sensitive, network) -> (config, owner) -> (labels, errs, testpoint)
var rank = map[string]int{
	"cmd/aishell": 6, "bench": 6,
	"doctor": 5,
	"run":    4, "build": 4, "vm": 4,
	"protect": 3,
	"oci":     2, "snapshot": 2, "harness": 2, "daemon": 2, "rootless": 2, "project": 2, "sensitive": 2, "network": 2,
	"config": 1, "owner": 1,
	"labels": 0, "errs": 0, "testpoint": 0,
}

// Import path prefixes outside the module that a package must not use, where the design has a
// rule for them.
const (
	containerdMod    = "github.com/containerd/"
	containerdClient = "github.com/containerd/containerd/v2/client"
	buildkitMod      = "github.com/moby/buildkit"
)

var forbidden = map[string][]struct{ prefix, why string }{
	"harness":   {{containerdMod, "the harness catalog knows nothing of containerd"}, {buildkitMod, "the catalog knows nothing of BuildKit"}},
	"config":    {{containerdMod, "config reads files and the environment only"}, {buildkitMod, "config reads files and the environment only"}},
	"oci":       {{containerdClient, "specs are built as SpecOpts without the containerd client, so they are tested without a daemon"}, {buildkitMod, "oci builds runtime specs, not images"}},
	"run":       {{buildkitMod, "running never builds: build owns BuildKit"}},
	"snapshot":  {{buildkitMod, "snapshot reads containerd's store; build owns BuildKit"}},
	"rootless":  {{containerdMod, "rootless finds and enters rootlesskit; it talks to no daemon"}, {buildkitMod, "rootless talks to no daemon"}},
	"project":   {{containerdMod, "project finds directories on the host"}, {buildkitMod, "project finds directories on the host"}},
	"protect":   {{containerdMod, "protect plans mounts and files on the host; run mounts them"}, {buildkitMod, "protect plans mounts and files on the host"}},
	"vm":        {{containerdMod, "the VM forwarder runs limactl or colima on the host; containerd is in the VM"}, {buildkitMod, "the VM forwarder talks to no daemon"}},
	"owner":     {{containerdMod, "owner reads labels and /proc; the packages that own the records talk to containerd"}, {buildkitMod, "owner builds nothing"}},
	"network":   {{containerdMod, "the network sandbox sets up a namespace from outside, given a pid; run owns the container"}, {buildkitMod, "the network sandbox builds nothing"}},
	"sensitive": {{containerdMod, "the sensitive-file check and the scan read the project on the host"}, {buildkitMod, "the sensitive-file check and the scan read the project on the host"}},
}

// leaves import nothing but the standard library.
var leaves = map[string]bool{"labels": true, "errs": true, "testpoint": true}

// TestLayering fails when a package imports against the design's dependency direction, or
// uses an outside package its rule forbids.
func TestLayering(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		if strings.HasPrefix(rel, "test") || strings.HasPrefix(rel, ".") {
			return nil
		}
		own, known := rank[rel]
		if !known {
			t.Errorf("package %s has no place in the layering: add it to rank in test/layout_test.go and to DESIGN.md", rel)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, rule := range forbidden[rel] {
				if strings.HasPrefix(p, rule.prefix) {
					t.Errorf("%s imports %s: %s", path, p, rule.why)
				}
			}
			if leaves[rel] && strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
				t.Errorf("%s imports %s: %s is a leaf and imports only the standard library", path, p, rel)
			}
			dep, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			if r, known := rank[dep]; known && r >= own {
				t.Errorf("%s imports %s: %s may import only lower layers", path, p, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLayeringMatchesDesign fails when DESIGN.md's dependency line and rank above disagree.
func TestLayeringMatchesDesign(t *testing.T) {
	b, err := os.ReadFile("../DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	const line = "cmd/aishell, bench -> doctor -> (run, build, vm) -> protect -> (oci, snapshot, harness, daemon, rootless, project, sensitive, network) -> (config, owner) -> (labels, errs, testpoint)"
	if !strings.Contains(string(b), line) {
		t.Errorf("DESIGN.md does not state the layering this test enforces:\n  %s", line)
	}
	levels := strings.Split(line, " -> ")
	for i, level := range levels {
		for _, pkg := range strings.Split(strings.Trim(level, "()"), ", ") {
			want := len(levels) - 1 - i
			if got, ok := rank[pkg]; !ok || got != want {
				t.Errorf("DESIGN.md puts %s at level %d, rank says %d (known: %v)", pkg, want, got, ok)
			}
		}
	}
}
