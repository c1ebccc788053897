// Package snapshot owns aishell's use of containerd snapshots: the committed snapshot behind
// an image (its chain ID), read-only views of harness snapshots whose mounts go straight into
// a container's spec, what running containers use, and garbage collection of unused images.
package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aishell/aishell/labels"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ChainID returns the chain ID of an image's top layer: the key of its committed snapshot.
func ChainID(ctx context.Context, c *containerd.Client, ref string) (string, error) {
	img, err := c.ImageService().Get(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return ChainIDOf(ctx, c, img)
}

// ChainIDOf is ChainID of an image record already looked up: computed from its config, which
// ConfigOf reads once per process.
func ChainIDOf(ctx context.Context, c *containerd.Client, img images.Image) (string, error) {
	cfg, err := ConfigOf(ctx, c, img)
	if err != nil {
		return "", fmt.Errorf("layers of %s: %w", img.Name, err)
	}
	if len(cfg.RootFS.DiffIDs) == 0 {
		return "", fmt.Errorf("image %s has no layers", img.Name)
	}
	return identity.ChainID(cfg.RootFS.DiffIDs).String(), nil
}

// configs keeps the config of each image this process read, by the digest of its target: a run
// asks about the same few images several times (is it built, its view, its rootfs, its
// environment), each otherwise a manifest and a config read from the content store.
var configs sync.Map

// ConfigOf is the config of image img (for this machine's platform, when it is an index), read
// once per process: what an image's target digest names never changes.
func ConfigOf(ctx context.Context, c *containerd.Client, img images.Image) (ocispec.Image, error) {
	if v, ok := configs.Load(img.Target.Digest); ok {
		return v.(ocispec.Image), nil
	}
	var cfg ocispec.Image
	cs := c.ContentStore()
	desc, err := images.Config(ctx, cs, img.Target, platforms.Default())
	if err != nil {
		return cfg, err
	}
	raw, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("config of %s: %w", img.Name, err)
	}
	configs.Store(img.Target.Digest, cfg)
	return cfg, nil
}

// Warm reads, all at once, the chain ID of each image in refs that exists, so that the look-ups
// a run then makes one after the other (is it there, is it unpacked, its view) find it known
// (ConfigOf keeps what it read, by the image's digest, which never changes). Errors are left
// to those look-ups. The returned function waits until every read is done.
func Warm(ctx context.Context, c *containerd.Client, refs []string) (wait func()) {
	var wg sync.WaitGroup
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ChainID(ctx, c, ref)
		}()
	}
	return wg.Wait
}

// SharedView returns the key and mounts of the read-only view of image ref's committed snapshot
// that every run of it shares, made the first time it is asked for. Nothing is mounted on the
// host. A run that uses it holds it by a label on its container (labels.GCRefSnapshot); between
// times the snapshot holds it (labels.GCRefSharedView), so containerd's collector removes both
// once the image is gone and no container names the view. A run thus asks containerd for mounts
// it already has, and writes nothing: a view of its own was two writes to make and two to remove,
// each waiting for the disk.
//
// The view is made outside any lease: one in ctx would take it away with that lease.
func SharedView(ctx context.Context, c *containerd.Client, snapshotter, ref string) (string, []mount.Mount, error) {
	chain, err := ChainID(ctx, c, ref)
	if err != nil {
		return "", nil, err
	}
	key := labels.SharedViewKey(chain)
	ctx, release := withoutLease(ctx)
	defer release()
	sn := c.SnapshotService(snapshotter)
	mounts, err := sn.Mounts(ctx, key)
	if err == nil {
		return key, mounts, nil
	}
	if !errdefs.IsNotFound(err) {
		return "", nil, fmt.Errorf("view of %s: %w", ref, err)
	}
	// The snapshot names its view before the view exists, so there is no moment when the
	// collector could take the view for unheld.
	hold := labels.GCRefSharedView(snapshotter)
	if _, err := sn.Update(ctx, snapshots.Info{Name: chain, Labels: map[string]string{hold: key}}, "labels."+hold); err != nil {
		if errdefs.IsNotFound(err) {
			return "", nil, fmt.Errorf("snapshot of %s is not unpacked in %s: rebuild it with aishell build --force", ref, snapshotter)
		}
		return "", nil, fmt.Errorf("view of %s: %w", ref, err)
	}
	mounts, err = sn.View(ctx, key, chain)
	if errdefs.IsAlreadyExists(err) { // another run made it meanwhile
		mounts, err = sn.Mounts(ctx, key)
	}
	if err != nil {
		return "", nil, fmt.Errorf("view of %s: %w", ref, err)
	}
	return key, mounts, nil
}

// withoutLease is a context with ctx's namespace and cancellation, and no lease (containerd's
// client passes the lease both as a context value and as an outgoing gRPC header, which no child
// context can unset), and the function that lets it go.
func withoutLease(ctx context.Context) (context.Context, func()) {
	if _, ok := leases.FromContext(ctx); !ok {
		return ctx, func() {}
	}
	fresh := context.Background()
	if ns, ok := namespaces.Namespace(ctx); ok {
		fresh = namespaces.WithNamespace(fresh, ns)
	}
	out, cancel := context.WithCancel(fresh)
	stop := context.AfterFunc(ctx, cancel)
	return out, func() {
		stop()
		cancel()
	}
}

// Size is the disk usage of a committed snapshot, in bytes.
func Size(ctx context.Context, c *containerd.Client, snapshotter, chainID string) (int64, error) {
	u, err := c.SnapshotService(snapshotter).Usage(ctx, chainID)
	if err != nil {
		return 0, err
	}
	return u.Size, nil
}

// HarnessImage is one harness at one version in the store.
type HarnessImage struct {
	Ref, Name, Version, ChainID string
	Size                        int64
	Created                     time.Time
	KeptBy                      []Mark // the people who keep it (labels.KeptBy), by config file
}

// Mark is one person's labels.KeptBy label on an image: the view it was made in and their
// config file.
type Mark struct {
	View, ConfigPath string
}

// HarnessImages lists the harness images in the namespace, by name then version.
func HarnessImages(ctx context.Context, c *containerd.Client, snapshotter string) ([]HarnessImage, error) {
	imgs, err := c.ImageService().List(ctx, labels.HasKey(labels.Harness))
	if err != nil {
		return nil, fmt.Errorf("list harness images: %w", err)
	}
	var out []HarnessImage
	for _, i := range imgs {
		h := HarnessImage{Ref: i.Name, Name: i.Labels[labels.Harness], Version: i.Labels[labels.HarnessVersion], Created: i.CreatedAt}
		for k, v := range i.Labels {
			if view, ok := labels.KeptByView(k); ok {
				h.KeptBy = append(h.KeptBy, Mark{View: view, ConfigPath: v})
			}
		}
		sort.Slice(h.KeptBy, func(a, b int) bool { return h.KeptBy[a].ConfigPath < h.KeptBy[b].ConfigPath })
		if chain, err := ChainID(ctx, c, i.Name); err == nil {
			h.ChainID = chain
			h.Size, _ = Size(ctx, c, snapshotter, chain)
		}
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Name != out[b].Name {
			return out[a].Name < out[b].Name
		}
		return out[a].Created.Before(out[b].Created)
	})
	return out, nil
}

// HarnessUse is one harness image in the store and what uses it.
type HarnessUse struct {
	HarnessImage
	Configured bool // the config's harness set names this version
	Containers int  // how many containers in the namespace use it
}

// HarnessUses lists the harness images (as HarnessImages does) with what uses each: the refs
// in configured (the config's set), and the containers in the namespace.
func HarnessUses(ctx context.Context, c *containerd.Client, snapshotter string, configured map[string]bool) ([]HarnessUse, error) {
	list, err := HarnessImages(ctx, c, snapshotter)
	if err != nil {
		return nil, err
	}
	used, err := InUse(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]HarnessUse, 0, len(list))
	for _, h := range list {
		out = append(out, HarnessUse{HarnessImage: h, Configured: configured[h.Ref], Containers: used[h.Ref]})
	}
	return out, nil
}

// InUse maps each image ref that a container or a run's lease in the namespace uses to how many
// runs use it (a run's container and its lease share its ID, and count once). A run's lease
// names what the run may use from before it looks at any image, so what a starting run is about
// to mount counts as used before its container exists.
func InUse(ctx context.Context, c *containerd.Client) (map[string]int, error) {
	ctrs, err := c.Containers(ctx, labels.HasKey(labels.Uses))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	users := map[string]map[string]bool{} // ref -> run IDs
	count := func(id string, l map[string]string) {
		for _, ref := range strings.Split(l[labels.Uses], ",") {
			if ref == "" {
				continue
			}
			if users[ref] == nil {
				users[ref] = map[string]bool{}
			}
			users[ref][id] = true
		}
	}
	for _, ctr := range ctrs {
		l, err := ctr.Labels(ctx)
		if err != nil {
			continue // removed meanwhile
		}
		count(ctr.ID(), l)
	}
	ls, err := c.LeasesService().List(ctx, labels.HasKey(labels.Uses))
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	for _, l := range ls {
		count(l.ID, l.Labels)
	}
	used := make(map[string]int, len(users))
	for ref, ids := range users {
		used[ref] = len(ids)
	}
	return used, nil
}

// Removed is one image gc deleted (or would delete).
type Removed struct {
	Ref  string
	Size int64 // bytes of its top snapshot
}

// alive decides whether what an extension or a user base was built from is still there, and
// whether a person who keeps images (labels.KeptBy) still has their config.
type alive struct {
	project, userBase func(string) bool
	keeper            func(view, path string) bool
}

// GCOptions say what gc must keep.
type GCOptions struct {
	Snapshotter string
	Keep        map[string]bool // image refs a config names
	// ProjectAlive reports whether an extension's project still exists (with its Dockerfile).
	ProjectAlive func(project string) bool
	// UserBaseAlive reports whether a user base's Dockerfile still exists.
	UserBaseAlive func(dockerfile string) bool
	// KeeperAlive reports whether a person who keeps images (a labels.KeptBy label: its view
	// and its value, their config file) may still want them; nil: every one may.
	KeeperAlive func(view, configPath string) bool
	DryRun      bool
}

// GCResult is what GC did (or, with DryRun, would do).
type GCResult struct {
	Removed []Removed
	// Builds are the pids of builds under way: harness and foundation images were left alone.
	Builds []string
	// Pruned counts the marks of people whose config is gone, taken off the images that stay.
	Pruned int
	// Caches are the npm caches (their people's config paths) of people whose config is gone.
	Caches []string
}

// GC deletes harness images and content-addressed foundation images that are neither kept (by
// the invoker's config, or by any person's labels.KeptBy label) nor used by any container or
// run, nor what aishell:foundation points at, extension images whose project is gone, and user
// bases whose Dockerfile is gone; while a build is under way (HoldBuild), no harness or
// foundation image. Each image is looked at again just before it is deleted, and deleted only
// if it still points where it did. Deletion is synchronous, so containerd's garbage collector
// has removed their snapshots when GC returns; a snapshot that a running container's view
// still needs stays, since the view is its child. The caller holds the gc lock (LockGC).
func GC(ctx context.Context, c *containerd.Client, o GCOptions) (GCResult, error) {
	var res GCResult
	snapshotter, keep, dryRun := o.Snapshotter, o.Keep, o.DryRun
	used, err := InUse(ctx, c)
	if err != nil {
		return res, err
	}
	if res.Builds, err = BuildsUnderWay(ctx, c); err != nil {
		return res, err
	}
	is := c.ImageService()
	all, err := is.List(ctx, labels.HasKey(labels.Tier))
	if err != nil {
		return res, fmt.Errorf("list images: %w", err)
	}
	// Temporary tags of builds whose aishell died between export and tagging; an image list
	// that fails leaves them for the next gc.
	everything, err := is.List(ctx)
	if err != nil {
		everything = nil
	}
	a := alive{o.ProjectAlive, o.UserBaseAlive, o.KeeperAlive}
	plan := planGC(all, everything, used, keep, a, len(res.Builds) > 0, time.Now())
	for _, name := range plan.Temp {
		if !dryRun {
			if err := is.Delete(ctx, name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
				return res, fmt.Errorf("remove %s: %w", name, err)
			}
		}
		res.Removed = append(res.Removed, Removed{Ref: name})
	}
	for _, planned := range plan.Unused {
		r := Removed{Ref: planned.Name}
		if chain, err := ChainIDOf(ctx, c, planned); err == nil {
			r.Size, _ = Size(ctx, c, snapshotter, chain)
		}
		if !dryRun {
			// As it is now: a mark put on it since it was listed keeps it, and a tag moved to a
			// new build since is not deleted.
			now, err := is.Get(ctx, planned.Name)
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				return res, fmt.Errorf("look up %s: %w", planned.Name, err)
			}
			if now.Target.Digest != planned.Target.Digest || keptByLive(now.Labels, a.keeper) {
				continue
			}
			target := now.Target
			if err := is.Delete(ctx, now.Name, images.SynchronousDelete(), images.DeleteTarget(&target)); err != nil && !errdefs.IsNotFound(err) {
				if errdefs.IsFailedPrecondition(err) {
					continue // moved to a new target meanwhile
				}
				return res, fmt.Errorf("remove %s: %w", now.Name, err)
			}
		}
		res.Removed = append(res.Removed, r)
	}
	// A build under way may be a person's first, whose config does not exist yet: their npm cache
	// is in use, and stays.
	if len(res.Builds) == 0 {
		if res.Caches, err = pruneNPMCaches(ctx, c, snapshotter, a.keeper, dryRun); err != nil {
			return res, err
		}
	}
	if !dryRun {
		stay := slices.DeleteFunc(slices.Clone(all), func(i images.Image) bool {
			return slices.ContainsFunc(res.Removed, func(r Removed) bool { return r.Ref == i.Name })
		})
		if res.Pruned, err = PruneMarks(ctx, c, stay, o.KeeperAlive); err != nil {
			return res, err
		}
	}
	return res, nil
}

// gcPlan is what gc removes, each list in the order the images were listed.
type gcPlan struct {
	Temp   []string       // temporary tags of abandoned builds
	Unused []images.Image // tiered images nothing keeps
}

// abandonedAfter is the age past which a build's temporary tag is certainly abandoned: builds
// run for minutes, not hours.
const abandonedAfter = time.Hour

// planGC decides what GC removes, without touching containerd. tiered are the images with a
// tier label, everything every image in the namespace (nil when they could not be listed);
// used counts the containers using each ref, keep are the refs a config names, and
// alive.project (nil: every project is) says whether an extension's project still exists,
// and alive.userBase (nil: every one is) whether a user base's Dockerfile does.
//
// From everything: temporary build tags older than abandonedAfter. From tiered: harness and
// foundation images, and extensions whose project is gone, that are neither kept (in keep, or
// by the KeptBy label of a person whose config alive.keeper says still exists), nor used,
// nor an alias tag or the target of one; with building (a build under way), no harness or
// foundation image.
func planGC(tiered, everything []images.Image, used map[string]int, keep map[string]bool, a alive, building bool, now time.Time) gcPlan {
	protected := map[string]bool{}
	for _, i := range tiered {
		if target := i.Labels[labels.AliasOf]; target != "" {
			protected[target] = true // what aishell:foundation and aishell:base point at
			protected[i.Name] = true // the alias tags themselves
		}
	}
	var p gcPlan
	for _, i := range everything {
		if labels.IsTempTag(i.Name) && now.Sub(i.CreatedAt) > abandonedAfter {
			p.Temp = append(p.Temp, i.Name)
		}
	}
	for _, i := range tiered {
		if keep[i.Name] || used[i.Name] > 0 || protected[i.Name] || keptByLive(i.Labels, a.keeper) {
			continue
		}
		switch i.Labels[labels.Tier] {
		case labels.TierHarness, labels.TierFoundation:
			if building {
				continue
			}
		case labels.TierExtension:
			if a.project == nil || a.project(i.Labels[labels.Project]) {
				continue
			}
		case labels.TierUserBase:
			if a.userBase == nil || a.userBase(i.Labels[labels.UserDockerfile]) {
				continue
			}
		default:
			continue
		}
		p.Unused = append(p.Unused, i)
	}
	return p
}

// pruneNPMCaches removes the npm cache snapshots (labels.NPMCache) of people whose config is
// gone, as alive judges their KeptBy label; a cache with no such label is left. It returns their
// config paths.
func pruneNPMCaches(ctx context.Context, c *containerd.Client, snapshotter string, alive func(view, path string) bool, dryRun bool) ([]string, error) {
	sn := c.SnapshotService(snapshotter)
	var gone []snapshots.Info
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if hasKeptBy(info.Labels) && !keptByLive(info.Labels, alive) {
			gone = append(gone, info)
		}
		return nil
	}, labels.HasKey(labels.NPMCache))
	if err != nil {
		return nil, fmt.Errorf("list npm caches: %w", err)
	}
	var removed []string
	for _, info := range gone {
		if !dryRun {
			if err := sn.Remove(ctx, info.Name); err != nil && !errdefs.IsNotFound(err) {
				return removed, fmt.Errorf("remove the npm cache of %s: %w", info.Labels[labels.NPMCache], err)
			}
		}
		removed = append(removed, info.Labels[labels.NPMCache])
	}
	return removed, nil
}

// hasKeptBy reports whether l has a KeptBy label.
func hasKeptBy(l map[string]string) bool {
	for k := range l {
		if labels.IsKeptBy(k) {
			return true
		}
	}
	return false
}

// keptByLive reports whether an image's labels hold the KeptBy label of a person who may still
// want it (alive nil: every person may).
func keptByLive(l map[string]string, alive func(view, path string) bool) bool {
	for k, v := range l {
		if view, ok := labels.KeptByView(k); ok && (alive == nil || alive(view, v)) {
			return true
		}
	}
	return false
}

// ChainContains walks the parents of the committed snapshot top and reports whether ancestor
// is top itself or one of its parents: the record of what an image was built on.
func ChainContains(ctx context.Context, c *containerd.Client, snapshotter, top, ancestor string) (bool, error) {
	sn := c.SnapshotService(snapshotter)
	for key := top; key != ""; {
		if key == ancestor {
			return true, nil
		}
		info, err := sn.Stat(ctx, key)
		if err != nil {
			return false, fmt.Errorf("snapshot %s: %w", key, err)
		}
		key = info.Parent
	}
	return false, nil
}

// ShortID is a chain ID as lists print it: its first 12 hex digits, or "-" for none.
func ShortID(chain string) string {
	chain = strings.TrimPrefix(chain, "sha256:")
	if chain == "" {
		return "-"
	}
	return chain[:min(12, len(chain))]
}

// HumanSize is a size in bytes as lists print it, in SI units: 999 B, 1.0 kB, 377.8 MB.
func HumanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
