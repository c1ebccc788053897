package build

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
)

// The harness build is one npm run on the foundation whose result is the prefix mount, an empty
// directory to begin with: the image's single layer holds only the install prefix.
func TestHarnessLLB(t *testing.T) {
	h, err := harness.Lookup("claude")
	if err != nil {
		t.Fatal(err)
	}
	fcfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{Architecture: "arm64", OS: "linux"},
		Config: ocispec.ImageConfig{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}}})
	const foundation = "docker.io/library/aishell:foundation-x@sha256:0123456789012345678901234567890123456789012345678901234567890123"
	for _, tc := range []struct {
		cacheID string
		noCache bool
	}{{"aishell-npm-0123", false}, {"", true}} {
		def, cfg, err := harnessLLB(t.Context(), h, "2.0.0", []string{"extra-pkg"}, "https://registry.example/", foundation, fcfg, tc.cacheID, tc.noCache)
		if err != nil {
			t.Fatal(err)
		}
		var execs []*pb.ExecOp
		var execDigest digest.Digest
		var source string
		for _, dt := range def.Def {
			var op pb.Op
			if err := op.UnmarshalVT(dt); err != nil {
				t.Fatal(err)
			}
			if e := op.GetExec(); e != nil {
				execs = append(execs, e)
				execDigest = digest.FromBytes(dt)
			}
			if s := op.GetSource(); s != nil {
				source = s.Identifier
			}
		}
		if len(execs) != 1 {
			t.Fatalf("%d exec ops, want 1", len(execs))
		}
		if source != "docker-image://"+foundation {
			t.Errorf("source %q, want the pinned foundation", source)
		}
		e := execs[0]
		if !slices.Contains(e.Meta.Env, "LANG=C.UTF-8") {
			t.Errorf("env %v lacks the foundation's", e.Meta.Env)
		}
		if want := []string{"aishell-harness", h.MountPoint(), "@anthropic-ai/claude-code@2.0.0", "https://registry.example/", "claude", "extra-pkg"}; len(e.Meta.Args) < 3 || !slices.Equal(e.Meta.Args[3:], want) {
			t.Errorf("args %q", e.Meta.Args)
		}
		var prefix, cache, secret *pb.Mount
		for _, m := range e.Mounts {
			switch {
			case m.Dest == h.MountPoint():
				prefix = m
			case m.MountType == pb.MountType_CACHE:
				cache = m
			case m.MountType == pb.MountType_SECRET:
				secret = m
			}
		}
		if prefix == nil || prefix.Input != int64(pb.Empty) || prefix.Output < 0 || prefix.Readonly {
			t.Errorf("prefix mount %+v: want a writable empty directory that is an output", prefix)
		}
		// The definition's result is that output: the last op's one input is the exec's.
		last := def.Def[len(def.Def)-1]
		var top pb.Op
		top.UnmarshalVT(last)
		if len(top.Inputs) != 1 || top.Inputs[0].Index != prefix.Output {
			t.Errorf("result is output %v, want the prefix mount's %d", top.Inputs, prefix.Output)
		}
		if tc.cacheID != "" && (cache == nil || cache.CacheOpt.ID != tc.cacheID || cache.Dest != npmCacheDir || cache.CacheOpt.Sharing != pb.CacheSharingOpt_SHARED) {
			t.Errorf("cache mount %+v, want %s shared at %s", cache, tc.cacheID, npmCacheDir)
		}
		if tc.cacheID == "" && cache != nil {
			t.Errorf("cache mount %+v with no cache id", cache)
		}
		if secret == nil || secret.SecretOpt.ID != "ca-bundle" || !secret.SecretOpt.Optional {
			t.Errorf("secret mount %+v, want the optional ca-bundle", secret)
		}
		if got := def.Metadata[execDigest].IgnoreCache; got != tc.noCache {
			t.Errorf("npm step ignores the cache: %v, want %v", got, tc.noCache)
		}
		var img ocispec.Image
		if err := json.Unmarshal(cfg, &img); err != nil {
			t.Fatal(err)
		}
		if img.Architecture != "arm64" || img.OS != "linux" || img.Config.Labels[labels.Tier] != labels.TierHarness || img.Config.Labels[labels.HarnessVersion] != "2.0.0" {
			t.Errorf("image config %+v", img)
		}
	}
}
