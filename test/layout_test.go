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

// rank orders the packages as shared/DESIGN.md does: a package may import only packages of a
// lower rank. cmd -> (doctor) -> (run, build) -> (oci, snapshot, harness, daemon, rootless) -> config.
var rank = map[string]int{
	"cmd/aishell": 4, "bench": 4,
	"doctor": 3,
	"run":    2, "build": 2,
	"oci": 1, "snapshot": 1, "harness": 1, "daemon": 1, "rootless": 1,
	"config": 0,
}

// TestLayering fails when a package imports against the design's dependency direction, or when
// the harness catalog depends on containerd.
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
			t.Errorf("package %s has no place in the layering: add it to rank in test/layout_test.go", rel)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rel == "harness" && strings.Contains(p, "containerd") {
				t.Errorf("%s imports %s: the harness catalog must not depend on containerd", path, p)
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
