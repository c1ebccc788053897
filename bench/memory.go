package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/platforms"
	"github.com/opencontainers/image-spec/identity"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/snapshot"
)

const memoryRuns = 5

// benchMemory measures aishell's peak resident set for a run, a harness run, an extension build
// and an update, and the disk one more project with an extension adds to containerd's store.
func benchMemory(ctx context.Context) error {
	e, proj, err := newStartEnv("memory")
	if err != nil {
		return err
	}
	defer e.close()
	defer os.RemoveAll(proj)
	defer e.pruneBenchRecords(context.WithoutCancel(ctx))

	var rows []string
	measure := func(what string, runs int, dir string, args ...string) (string, error) {
		var rss []int64
		var took []time.Duration
		var out string
		for i := 0; i < runs; i++ {
			d, o, err := e.aishellIn(dir, args...)
			if err != nil {
				return "", err
			}
			rss, took, out = append(rss, e.maxRSS), append(took, d), o
		}
		sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
		rows = append(rows, fmt.Sprintf("| %s | `aishell %s` | %d | %.1f MiB | %.1f MiB | %s |", what, strings.Join(args, " "), runs,
			float64(rss[len(rss)/2])/1024, float64(rss[len(rss)-1])/1024, secs(median(took))))
		return out, nil
	}
	if _, err := measure("a run", memoryRuns, proj, "exec", "true"); err != nil {
		return err
	}
	if _, err := measure("a harness run without a terminal", memoryRuns, proj, "exec", "claude", "--version"); err != nil {
		return err
	}

	// One more project with an extension: the store before and after its first run.
	if err := os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755); err != nil {
		return err
	}
	df := projectExtension("aishell:foundation", os.Getpid())
	if err := os.WriteFile(filepath.Join(proj, ".aishell", "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	if _, _, err := e.aishellIn(proj, "ext", "trust"); err != nil {
		return err
	}
	before, err := inventory(ctx, e.client)
	if err != nil {
		return err
	}
	out, err := measure("first run of a project with an extension (builds it)", 1, proj, "exec", "true")
	if err != nil {
		return err
	}
	extRef := build.ExtensionRef(proj)
	defer e.removeImage(extRef)
	if !strings.Contains(out, "building extension") {
		return fmt.Errorf("the first run did not build the extension:\n%s", out)
	}
	after, err := inventory(ctx, e.client)
	if err != nil {
		return err
	}
	disk, err := extensionDisk(ctx, e, extRef, before, after)
	if err != nil {
		return err
	}
	if _, err := measure("extension build, every step run", 3, proj, "ext", "rebuild", "--no-cache", "--progress=plain"); err != nil {
		return err
	}

	// An update that builds one harness snapshot: claude to a published version nobody has here.
	claude, _ := harness.Lookup("claude")
	_, vs, err := unbuiltVersions(ctx, e, claude, 1)
	if err != nil {
		return err
	}
	defer e.removeImage(claude.ImageRef(vs[0]))
	if _, err := measure("update building one harness snapshot (claude "+vs[0]+")", 1, proj, "update", "--claude-version="+vs[0], "--no-cache", "--progress=plain"); err != nil {
		return err
	}
	if _, err := measure("no-op update", memoryRuns, proj, "update"); err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Memory and disk (`go run ./bench memory`)\n\n")
	fmt.Fprintf(&b, "Run %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "Peak resident set of the `aishell` process (ru_maxrss from wait4; Linux counts a waited-for child in it "+
		"only if that child was larger; aishell's children here are `git config` and, for the default isolated network, slirp4netns "+
		"and `nft`, all smaller; containerd's shim, runc and buildkitd are not its children). Root mode, the default "+
		"(isolated) network, claude and gemini enabled.\n\n")
	fmt.Fprintf(&b, "| what | command | runs | peak RSS, median | peak RSS, max | time, median |\n|---|---|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	fmt.Fprintf(&b, "### Disk one more project with an extension adds\n\n")
	fmt.Fprintf(&b, "Extension `%s`, built by the project's first `aishell exec true`. Sizes from containerd: the snapshotter's "+
		"Usage of each snapshot (overlayfs) and the content store's Info of each blob, listed before and after the build.\n\n",
		strings.ReplaceAll(strings.TrimSpace(df), "\n", " / "))
	b.WriteString(disk)
	fmt.Print(b.String())
	return writeSection("memory", b.String())
}

// storeInventory is every snapshot (overlayfs) and content blob of the namespace, with sizes.
type storeInventory struct {
	snapshots map[string]int64
	kinds     map[string]snapshots.Kind
	blobs     map[string]int64
}

func inventory(ctx context.Context, c *containerd.Client) (storeInventory, error) {
	inv := storeInventory{snapshots: map[string]int64{}, kinds: map[string]snapshots.Kind{}, blobs: map[string]int64{}}
	sn := c.SnapshotService("overlayfs")
	var keys []string
	if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		keys = append(keys, info.Name)
		inv.kinds[info.Name] = info.Kind
		return nil
	}); err != nil {
		return inv, fmt.Errorf("list snapshots: %w", err)
	}
	for _, k := range keys {
		u, err := sn.Usage(ctx, k)
		if err != nil {
			continue // removed meanwhile (another build's)
		}
		inv.snapshots[k] = u.Size
	}
	if err := c.ContentStore().Walk(ctx, func(info content.Info) error {
		inv.blobs[info.Digest.String()] = info.Size
		return nil
	}); err != nil {
		return inv, fmt.Errorf("list content: %w", err)
	}
	return inv, nil
}

// extensionDisk is the report of what the extension extRef added: its own snapshots (the ones
// the foundation has not) and blobs, the rest of what appeared in the store meanwhile, and the
// check that the foundation's and the harnesses' snapshots were not copied.
func extensionDisk(ctx context.Context, e *env, extRef string, before, after storeInventory) (string, error) {
	chains := func(ref string) ([]string, []string, error) {
		img, err := e.client.GetImage(ctx, ref)
		if err != nil {
			return nil, nil, err
		}
		diffIDs, err := img.RootFS(ctx)
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, d := range identity.ChainIDs(diffIDs) {
			ids = append(ids, d.String())
		}
		m, err := images.Manifest(ctx, e.client.ContentStore(), img.Target(), platforms.Default())
		if err != nil {
			return nil, nil, err
		}
		blobs := []string{img.Target().Digest.String(), m.Config.Digest.String()}
		for _, l := range m.Layers {
			blobs = append(blobs, l.Digest.String())
		}
		return ids, blobs, nil
	}
	extChain, extBlobs, err := chains(extRef)
	if err != nil {
		return "", fmt.Errorf("extension %s: %w", extRef, err)
	}
	fChain, fBlobs, err := chains(build.FoundationImage)
	if err != nil {
		return "", fmt.Errorf("foundation: %w", err)
	}
	if len(extChain) <= len(fChain) {
		return "", fmt.Errorf("extension has %d layers, the foundation %d", len(extChain), len(fChain))
	}
	for i, id := range fChain {
		if extChain[i] != id {
			return "", fmt.Errorf("the extension's layer %d is not the foundation's: its snapshots are not shared", i+1)
		}
	}
	inF := map[string]bool{}
	for _, d := range fBlobs {
		inF[d] = true
	}

	var ownSnap, ownBlob int64
	var ownRows []string
	own := map[string]bool{}
	for _, id := range extChain[len(fChain):] {
		n, ok := after.snapshots[id]
		if !ok {
			return "", fmt.Errorf("the extension's snapshot %s is not in the store", id)
		}
		_, had := before.snapshots[id]
		ownSnap += n
		own[id] = true
		ownRows = append(ownRows, fmt.Sprintf("| snapshot %s | %s | %s |", id[7:19], kb(n), newOr(had)))
	}
	for _, d := range extBlobs {
		if inF[d] {
			continue
		}
		n := after.blobs[d]
		_, had := before.blobs[d]
		ownBlob += n
		own[d] = true
		ownRows = append(ownRows, fmt.Sprintf("| blob %s | %s | %s |", d[7:19], kb(n), newOr(had)))
	}
	// The rest of what appeared: BuildKit keeps its own snapshots of the build's steps (random
	// keys; the image's are chain IDs), and the shared store may see other users' work meanwhile.
	var bkSnap, imgSnap, otherBlob int64
	var bkSizes []string
	var imgSnaps, otherBlobs int
	for k, n := range after.snapshots {
		if _, had := before.snapshots[k]; had || own[k] {
			continue
		}
		if strings.HasPrefix(k, "sha256:") {
			imgSnap += n
			imgSnaps++
			continue
		}
		bkSnap += n
		bkSizes = append(bkSizes, fmt.Sprintf("%s %s", strings.ToLower(after.kinds[k].String()), kb(n)))
	}
	sort.Strings(bkSizes)
	for d, n := range after.blobs {
		if _, had := before.blobs[d]; !had && !own[d] {
			otherBlob += n
			otherBlobs++
		}
	}
	// The foundation's and the harnesses' snapshots: there before, once each, still once.
	shared := append([]string(nil), fChain...)
	his, err := harnessChains(ctx, e.client)
	if err != nil {
		return "", err
	}
	shared = append(shared, his...)
	var sharedSize int64
	for _, id := range shared {
		if _, ok := before.snapshots[id]; !ok {
			return "", fmt.Errorf("snapshot %s was not there before the extension build", id)
		}
		sharedSize += after.snapshots[id]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| what (the extension's own layers) | size | |\n|---|---|---|\n%s\n\n", strings.Join(ownRows, "\n"))
	fmt.Fprintf(&b, "**The extension's own layers: %s, its snapshots %s + their blobs (compressed layers, manifest, config) %s.** "+
		"Its first %d layers are the foundation's, by the same chain IDs: its snapshots are the foundation's, not copies. The foundation's "+
		"and the %d harness images' snapshots (%s together) were all in the store before the build; every snapshot that is new after it is in the table above or counted below, by size.\n\n",
		mb(ownSnap+ownBlob), kb(ownSnap), kb(ownBlob), len(fChain), len(his), mb(sharedSize))
	fmt.Fprintf(&b, "Also new in the store after the build: %d snapshots with BuildKit's own keys, %s (%s): BuildKit's records "+
		"of the build's steps, which `buildctl prune` may remove without touching the image; %d other unpacked snapshots (%s) and %d other "+
		"blobs (%s), which in this shared store can only be other users' work. **With BuildKit's records, the project added %s.**\n\n",
		len(bkSizes), kb(bkSnap), strings.Join(bkSizes, ", "), imgSnaps, kb(imgSnap), otherBlobs, kb(otherBlob), mb(ownSnap+ownBlob+bkSnap))
	return b.String(), nil
}

// harnessChains are the top snapshots of the harness images in the store.
func harnessChains(ctx context.Context, c *containerd.Client) ([]string, error) {
	his, err := snapshot.HarnessImages(ctx, c, "overlayfs")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range his {
		out = append(out, h.ChainID)
	}
	return out, nil
}

func newOr(had bool) string {
	if had {
		return "was there before"
	}
	return "new"
}

func kb(n int64) string {
	if n >= 10e6 {
		return mb(n)
	}
	return fmt.Sprintf("%.0f kB", float64(n)/1e3)
}
