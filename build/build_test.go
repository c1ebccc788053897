package build

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aishell/aishell/config"
)

func TestFoundationHash(t *testing.T) {
	def := FoundationSpec{}
	if def.Hash() != (FoundationSpec{BaseImage: DefaultBaseImage, NodeImage: DefaultNodeImage}).Hash() {
		t.Error("defaults are not applied before hashing")
	}
	other := FoundationSpec{BaseImage: "mirror.example/debian:bookworm-slim"}
	if def.Hash() == other.Hash() {
		t.Error("a different base image must give a different foundation tag")
	}
	if len(def.Hash()) != 12 || !strings.HasPrefix(def.Ref(), "docker.io/library/aishell:foundation-") {
		t.Errorf("ref %s", def.Ref())
	}
	if contentHash([]byte("a"), map[string]string{"X": "1", "Y": "2"}) != contentHash([]byte("a"), map[string]string{"Y": "2", "X": "1"}) {
		t.Error("hash depends on map order")
	}
	if contentHash([]byte("a"), nil) == contentHash([]byte("b"), nil) {
		t.Error("hash ignores the Dockerfile")
	}
}

func TestEmbeddedDockerfiles(t *testing.T) {
	if !strings.Contains(string(foundationDockerfile), "FROM ${BASE_IMAGE}") {
		t.Error("foundation Dockerfile does not build FROM its base image argument")
	}
	if strings.Contains(string(foundationDockerfile), "npm install") {
		t.Error("the foundation must not install any harness")
	}
}

func TestHarnessSet(t *testing.T) {
	cfg := &config.File{Harnesses: map[string]config.HarnessChoice{"claude": {Version: "latest"}, "codex": {Version: "1.0.0"}}}
	for _, tc := range []struct {
		req  Request
		want []string
	}{
		{Request{}, []string{"claude", "codex"}},
		{Request{Add: []string{"gemini"}}, []string{"claude", "codex", "gemini"}},
		{Request{Remove: []string{"codex"}, Versions: map[string]string{"opencode": "1"}}, []string{"claude", "opencode"}},
		{Request{Versions: map[string]string{"claude": "2.0.0"}}, []string{"claude", "codex"}},
	} {
		got, err := harnessSet(cfg, tc.req)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v -> %v, %v; want %v", tc.req, got, err, tc.want)
		}
	}
	if _, err := harnessSet(cfg, Request{Remove: []string{"gemini"}}); err == nil {
		t.Error("removing a harness that is not in the set should fail")
	}
	if _, err := harnessSet(cfg, Request{Remove: []string{"codex"}, Add: []string{"codex"}}); err == nil {
		t.Error("adding and removing the same harness should fail")
	}
}

func TestCABundleOnlyForTrustedDockerfiles(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
	b := &Builder{CABundle: ca}
	for _, untrusted := range []bool{false, true} {
		opt, err := b.solveOpt(t.Context(), solveRequest{Name: "x", Dockerfile: []byte("FROM scratch\n"), Pull: true, Untrusted: untrusted}, t.TempDir(), "x-tmp")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(opt.Session) > 0; got == untrusted {
			t.Errorf("untrusted %v: secrets offered %v", untrusted, got)
		}
	}
}
