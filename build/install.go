package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/cio"
	ctroci "github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/owner"
	"github.com/aishell/aishell/snapshot"
	"github.com/aishell/aishell/testpoint"
)

// A harness is installed straight into containerd, without BuildKit: npm runs in a container of
// the foundation whose harness prefix is a new, empty snapshot, and that snapshot, committed as
// npm left it, is the harness image's one layer. Nothing is exported, compressed, written twice
// or unpacked again: the layer's digest is read once from a tar stream that is hashed and never
// stored, so the image's manifest names a layer blob that the content store does not hold (as
// containerd's CRI does with discard_unpacked_layers). Harness images never leave the machine.

// installLeaseExpiry bounds how long what a harness install holds outlives an aishell that died
// without a reaper: gc or the person's next run removes it before then (run.Reap: the install
// has a run's owner labels).
const installLeaseExpiry = time.Hour

// cleanupTimeout bounds each step that removes what an install made.
const cleanupTimeout = 30 * time.Second

// cleanup runs one removal step of an install on a context of its own: it runs after Ctrl-C too
// (ctx cancelled), and gives up after cleanupTimeout on a containerd that is gone (gc removes what
// is left, once it is back).
func cleanup(ctx context.Context, step func(context.Context)) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	step(cctx)
}

// npmCacheLimit is the size past which the person's npm cache is emptied before an install:
// every version of a harness with a native binary adds its whole download to it.
const npmCacheLimit = 2 << 30

// layerBlobs is the manifest annotation that says where a harness image's layer is.
const layerBlobs = labels.Prefix + "layer-blobs"

// install is one harness install: h at version with packages, from registry, on the local image
// foundation, tagged ref with labels.
type install struct {
	h        harness.Harness
	version  string
	packages []string
	registry string
	ref      string
	labels   map[string]string
}

// specs are what npm installs: the harness's package at its version, then the extra packages.
func (in install) specs() []string {
	return append([]string{in.h.Package + "@" + in.version}, in.packages...)
}

// installHarness runs the install in, and tags in.ref with the result. A failed or cancelled
// install leaves every tag as it was and removes everything it made; one whose aishell is killed
// is removed by gc, or by the person's next run.
func (b *Builder) installHarness(ctx context.Context, in install, foundation string) error {
	c := b.Images
	fimg, err := c.ImageService().Get(ctx, foundation)
	if err != nil {
		return fmt.Errorf("look up the foundation %s: %w", foundation, err)
	}
	fchain, err := snapshot.ChainIDOf(ctx, c, fimg)
	if err != nil {
		return fmt.Errorf("the foundation %s: %w", foundation, err)
	}
	fmt.Fprintf(b.Log, "building %s %s (%s@%s)\n", in.h.Name, in.ref, in.h.Package, in.version)
	b.solves.Add(1)
	log := b.installLog(in.h.Name)

	suffix := make([]byte, 4)
	rand.Read(suffix)
	id := "aishell-install-" + in.h.Name + "-" + hex.EncodeToString(suffix)
	ll := owner.Self()
	ll[labels.Purpose] = labels.PurposeInstall
	if b.Person != "" {
		ll[labels.User] = b.Person
	}
	ls := c.LeasesService()
	lease, err := ls.Create(ctx, leases.WithID(id), leases.WithExpiration(installLeaseExpiry), leases.WithLabels(ll))
	if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("lease: %w", err), log)
	}
	defer cleanup(ctx, func(ctx context.Context) { ls.Delete(ctx, lease) })
	lctx := leases.WithLease(ctx, id)
	sn := c.SnapshotService(b.snapshotter())
	if _, err := sn.Prepare(lctx, id, fchain); err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("rootfs snapshot: %w", err), log)
	}
	defer cleanup(ctx, func(ctx context.Context) { sn.Remove(ctx, id) })
	layerKey := id + "-layer"
	layer, err := sn.Prepare(lctx, layerKey, "")
	if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("layer snapshot: %w", err), log)
	}
	committed := false
	defer cleanup(ctx, func(ctx context.Context) {
		if !committed {
			sn.Remove(ctx, layerKey)
		}
	})
	dir, err := bindSource(layer)
	if err != nil {
		return b.installError(ctx, in.ref, err, log)
	}
	cache, err := b.npmCache(ctx, log)
	if err != nil {
		return b.installError(ctx, in.ref, err, log)
	}
	fcfg, err := snapshot.ConfigOf(ctx, c, fimg)
	if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("read the foundation's config: %w", err), log)
	}
	if b.CABundle != "" {
		if _, err := os.Stat(b.CABundle); err != nil {
			return b.installError(ctx, in.ref, fmt.Errorf("CA bundle: %w", err), log)
		}
	}
	spec := append([]ctroci.SpecOpts{oci.WithImageEnv(fcfg.Config)}, b.installSpec(in, id, dir, cache)...)
	ctrLabels := map[string]string{labels.GCRefSnapshot(b.snapshotter(), 0): layerKey}
	for k, v := range ll {
		ctrLabels[k] = v
	}
	opts := []containerd.NewContainerOpts{
		containerd.WithSnapshotter(b.snapshotter()), containerd.WithSnapshot(id),
		containerd.WithNewSpec(spec...), containerd.WithContainerLabels(ctrLabels),
	}
	if ro := b.Runtime.RuncOptions(); ro != nil {
		opts = append(opts, containerd.WithRuntime(plugins.RuntimeRuncV2, ro))
	}
	ctr, err := c.NewContainer(lctx, id, opts...)
	if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("container: %w", err), log)
	}
	defer cleanup(ctx, func(ctx context.Context) { ctr.Delete(ctx) })
	log.status("npm install --global --prefix %s %s", in.h.MountPoint(), strings.Join(in.specs(), " "))
	t0 := time.Now()
	if err := b.runInstall(ctx, ctr, log); err != nil {
		return b.installError(ctx, in.ref, err, log)
	}
	// npm skips an optional dependency it could not write (a harness's native binary) with a
	// warning and succeeds: the install is not whole.
	if full := log.noSpace(); full != "" {
		return b.installError(ctx, in.ref, errors.New(full), log)
	}
	if broken := log.tarError(); broken != "" {
		return b.installError(ctx, in.ref, fmt.Errorf("npm could not write every file of the package (%s)", shorten(broken, 120, true)), log)
	}
	log.status("npm install done in %.1fs", time.Since(t0).Seconds())

	t0 = time.Now()
	diffID, size, err := hashLayer(ctx, dir)
	if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("read the layer: %w", err), log)
	}
	chain := diffID.String() // the chain ID of an image of one layer is its diff ID
	if err := sn.Commit(lctx, chain, layerKey); errdefs.IsAlreadyExists(err) {
		// There already, with the same content: held by the lease until the tag holds it (the
		// active one goes with the lease).
		if err := ls.AddResource(ctx, lease, leases.Resource{ID: chain, Type: "snapshots/" + b.snapshotter()}); err != nil {
			return b.installError(ctx, in.ref, fmt.Errorf("hold the layer: %w", err), log)
		}
	} else if err != nil {
		return b.installError(ctx, in.ref, fmt.Errorf("commit the layer: %w", err), log)
	}
	committed = true
	target, err := b.writeHarnessImage(lctx, in, fcfg, diffID, size)
	if err != nil {
		return b.installError(ctx, in.ref, err, log)
	}
	// Once begun, the tag is not interrupted by Ctrl-C.
	cleanup(ctx, func(ctx context.Context) { err = b.tag(ctx, in.ref, target, in.labels) })
	if err != nil {
		return fmt.Errorf("tag %s: %w", in.ref, err)
	}
	log.status("layer %s, %.1f MB, committed in %.1fs", diffID.Encoded()[:12], float64(size)/1e6, time.Since(t0).Seconds())
	// The view runs share, made now rather than by the first run; should this fail, that run
	// makes it.
	if _, _, err := snapshot.SharedView(ctx, c, b.snapshotter(), in.ref); err != nil {
		log.status("the harness's shared view is left to its first run: %v", err)
	}
	return nil
}

// installSpec is the install's container on top of the foundation's config: the install
// script as the process, the layer snapshot's directory layer at the harness's prefix and the npm
// cache's directory cache (when there is one) at npmCacheDir, both read-write; the CA bundle
// read-only; the host's network (npm downloads, as BuildKit's steps did); the security defaults
// of runs; rootless adaptations.
func (b *Builder) installSpec(in install, id, layer, cache string) []ctroci.SpecOpts {
	args := append([]string{"/bin/sh", "-c", harnessScript, "aishell-harness", in.h.MountPoint(), in.h.Package + "@" + in.version, in.registry, in.h.Bin}, in.packages...)
	opts := []ctroci.SpecOpts{
		ctroci.WithProcessArgs(args...),
		ctroci.WithProcessCwd("/"),
		oci.WithBindAt(layer, in.h.MountPoint(), true),
	}
	if cache != "" {
		opts = append(opts, oci.WithBindAt(cache, npmCacheDir, true))
	}
	if b.CABundle != "" {
		opts = append(opts, oci.WithBindAt(b.CABundle, "/run/secrets/ca-bundle", false))
	}
	opts = append(opts, oci.WithHostNetwork(), oci.WithSecurityDefaults())
	if b.Runtime.Rootless {
		opts = append(opts, oci.WithRootless(b.Runtime.SystemdScope(id)))
	}
	return opts
}

// bindSource is the directory of a snapshot whose mounts are one bind mount: what a fresh
// snapshot with no parent is in the overlayfs and native snapshotters.
func bindSource(mounts []mount.Mount) (string, error) {
	if len(mounts) != 1 || mounts[0].Type != "bind" {
		return "", errs.WithHint(fmt.Errorf("the snapshotter gives a new snapshot as %d mount(s), not one directory: harness installs need overlayfs or native", len(mounts)),
			"set CONTAINERD_SNAPSHOTTER=overlayfs")
	}
	return mounts[0].Source, nil
}

// npmCache is the person's npm download cache, a snapshot of its own kept across installs
// (labels.NPMCache; containerd's collector leaves it as a gc root; gc removes it once the
// person's config is gone), emptied when it has grown past npmCacheLimit: its directory, or ""
// when the person has no cache name (Builder.NPMCacheID), and npm downloads into the install's
// rootfs.
func (b *Builder) npmCache(ctx context.Context, log *installLog) (string, error) {
	key := b.npmCacheID()
	if key == "" {
		return "", nil
	}
	sn := b.Images.SnapshotService(b.snapshotter())
	if u, err := sn.Usage(ctx, key); err == nil && u.Size > npmCacheLimit {
		log.status("npm cache past %d MB: emptied", npmCacheLimit>>20)
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			return "", fmt.Errorf("empty the npm cache: %w", err)
		}
	}
	m, err := sn.Mounts(ctx, key)
	l := map[string]string{"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339), labels.NPMCache: b.Keeper.ConfigPath}
	if b.Keeper.Key != "" {
		l[b.Keeper.Key] = b.Keeper.ConfigPath
	}
	if errdefs.IsNotFound(err) {
		if m, err = sn.Prepare(ctx, key, "", snapshots.WithLabels(l)); errdefs.IsAlreadyExists(err) {
			m, err = sn.Mounts(ctx, key)
		}
	}
	if err != nil {
		return "", fmt.Errorf("npm cache snapshot: %w", err)
	}
	return bindSource(m)
}

// runInstall runs the install's process to its end, its output to log. Cancelled, it kills it.
func (b *Builder) runInstall(ctx context.Context, ctr containerd.Container, log *installLog) error {
	ioOpts := []cio.Opt{cio.WithStreams(nil, log.stream(), log.stream())}
	if dir := b.Runtime.FIFODir(); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("FIFO directory: %w", err)
		}
		ioOpts = append(ioOpts, cio.WithFIFODir(dir))
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return fmt.Errorf("start npm: %w", err)
	}
	defer cleanup(ctx, func(ctx context.Context) { task.Delete(ctx, containerd.WithProcessKill) })
	exitC, err := task.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("start npm: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start npm: %w", err)
	}
	testpoint.Reached("installing")
	var st containerd.ExitStatus
	select {
	case st = <-exitC:
	case <-ctx.Done():
		cleanup(ctx, func(ctx context.Context) { task.Kill(ctx, syscall.SIGKILL) })
		<-exitC
		return ctx.Err()
	}
	code, _, err := st.Result()
	if err != nil {
		return fmt.Errorf("wait for npm: %w", err)
	}
	// All of its output is in before the task goes.
	var derr error
	cleanup(ctx, func(ctx context.Context) { _, derr = task.Delete(ctx) })
	if derr != nil && !errdefs.IsNotFound(derr) {
		return fmt.Errorf("remove npm's task: %w", derr)
	}
	if code != 0 {
		return fmt.Errorf("npm install exited with status %d%s", code, log.lastLine())
	}
	return nil
}

// hashLayer is the diff ID and size of the layer whose files are in dir: the digest of its tar
// stream, which is hashed on its way and stored nowhere.
func hashLayer(ctx context.Context, dir string) (digest.Digest, int64, error) {
	d := digest.Canonical.Digester()
	w := &countingWriter{w: d.Hash()}
	if err := archive.WriteDiff(ctx, w, "", dir); err != nil {
		return "", 0, err
	}
	return d.Digest(), w.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeHarnessImage writes the harness image's config (one layer, diffID, on the platform of the
// foundation, whose config is fimg, with the harness labels; it holds the committed snapshot for containerd's collector)
// and its manifest (which holds the config), and returns the manifest's descriptor.
func (b *Builder) writeHarnessImage(ctx context.Context, in install, fimg ocispec.Image, diffID digest.Digest, size int64) (ocispec.Descriptor, error) {
	cs := b.Images.ContentStore()
	now := time.Now().UTC()
	cfg, err := json.Marshal(ocispec.Image{
		Created:  &now,
		Platform: ocispec.Platform{Architecture: fimg.Architecture, OS: fimg.OS, Variant: fimg.Variant},
		Config: ocispec.ImageConfig{Labels: map[string]string{
			labels.Tier:           labels.TierHarness,
			labels.HarnessPackage: in.h.Package,
			labels.HarnessVersion: in.version,
		}},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{Created: &now, CreatedBy: fmt.Sprintf("npm install --global --prefix %s %s",
			in.h.MountPoint(), strings.Join(in.specs(), " "))}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := writeBlob(ctx, cs, cfgDesc, cfg, map[string]string{"containerd.io/gc.ref.snapshot." + b.snapshotter(): diffID.String()}); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write the image config: %w", err)
	}
	man, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size}},
		Annotations: map[string]string{
			layerBlobs: "not stored: the layer is the committed snapshot " + diffID.String() + " of the snapshotter " + b.snapshotter(),
		},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man))}
	if err := writeBlob(ctx, cs, manDesc, man, map[string]string{"containerd.io/gc.ref.content.config": cfgDesc.Digest.String()}); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write the image manifest: %w", err)
	}
	return manDesc, nil
}

// writeBlob writes data as desc with these labels (set again if the blob was there already).
func writeBlob(ctx context.Context, cs content.Store, desc ocispec.Descriptor, data []byte, l map[string]string) error {
	if err := content.WriteBlob(ctx, cs, desc.Digest.String(), bytes.NewReader(data), desc, content.WithLabels(l)); err != nil {
		return err
	}
	var paths []string
	for k := range l {
		paths = append(paths, "labels."+k)
	}
	_, err := cs.Update(ctx, content.Info{Digest: desc.Digest, Labels: l}, paths...)
	return err
}

// installError turns an install's failure into one line, with the next step when there is one:
// cancelled, the disk full, containerd gone. Each leaves every tag as it was.
func (b *Builder) installError(ctx context.Context, ref string, err error, log *installLog) error {
	log.flush()
	msg := daemon.Short(err)
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return fmt.Errorf("build %s cancelled: nothing was tagged", ref)
	case noSpace(msg) || log.noSpace() != "":
		what := log.noSpace()
		if what == "" {
			what = lastClause(msg)
		}
		// What npm downloaded before the disk filled is only a cache: it goes too, so the
		// space comes back.
		if key := b.npmCacheID(); key != "" {
			b.Images.SnapshotService(b.snapshotter()).Remove(context.WithoutCancel(ctx), key)
		}
		return errs.WithHint(fmt.Errorf("build %s failed: disk full where containerd keeps its data (%s); nothing was changed", ref, shorten(what, 120, true)),
			"free space there (`aishell gc` removes unused images; your npm cache was emptied), then run the same command again")
	case daemon.Lost(err):
		return errs.WithHint(fmt.Errorf("build %s failed: containerd stopped answering during the build; nothing was changed", ref),
			"start containerd again, then run the same command again")
	}
	return fmt.Errorf("build %s failed: %s", ref, msg)
}

// installLog shows an install's output as lines marked with the harness (none with --progress
// quiet, which shows the last lines only when the install fails), and keeps its last lines and
// the first that says the disk is full.
type installLog struct {
	mu      sync.Mutex
	out     io.Writer // nil: quiet
	failOut io.Writer
	prefix  string
	streams []*logStream
	last    []string
	full    string
	tar     string // the first line that says npm could not write a file of a package
	flushed bool
}

const installLogTail = 20

func (b *Builder) installLog(name string) *installLog {
	l := &installLog{prefix: "[harness " + name + "] ", failOut: b.Log}
	if b.Progress != "quiet" {
		l.out = b.Out
	}
	return l
}

// stream is a writer for one of the install's output streams (stdout, stderr), with a line
// buffer of its own, so that the two never mix within a line.
func (l *installLog) stream() io.Writer {
	st := &logStream{l: l}
	l.mu.Lock()
	l.streams = append(l.streams, st)
	l.mu.Unlock()
	return st
}

type logStream struct {
	l       *installLog
	partial []byte
}

func (st *logStream) Write(p []byte) (int, error) {
	l := st.l
	l.mu.Lock()
	defer l.mu.Unlock()
	st.partial = append(st.partial, p...)
	for {
		i := bytes.IndexByte(st.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(st.partial[:i]))
		st.partial = st.partial[i+1:]
	}
	if len(st.partial) > 64<<10 { // a line that long is shown in pieces
		l.line(string(st.partial))
		st.partial = st.partial[:0]
	}
	return len(p), nil
}

func (l *installLog) line(s string) {
	s = strings.TrimRight(s, "\r")
	if l.full == "" && noSpace(s) {
		l.full = strings.TrimSpace(s)
	}
	if l.tar == "" && unwritten(s) {
		l.tar = strings.TrimSpace(s)
	}
	l.last = append(l.last, s)
	if len(l.last) > installLogTail {
		l.last = l.last[1:]
	}
	if l.out != nil && strings.TrimSpace(s) != "" {
		fmt.Fprintln(l.out, l.prefix+s)
	}
}

// unwritten reports whether an npm output line says a file of a package could not be written:
// a TAR_ENTRY_ERROR for want of space, quota or permission, or an I/O error (npm also warns of
// entries it skips on purpose, such as paths that leave the package, which are no loss).
func unwritten(line string) bool {
	if !strings.Contains(line, "TAR_ENTRY_ERROR") {
		return false
	}
	for _, code := range []string{"ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO"} {
		if strings.Contains(line, code) {
			return true
		}
	}
	return false
}

// status is one line of aishell's own about the install.
func (l *installLog) status(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil {
		fmt.Fprintf(l.out, l.prefix+format+"\n", a...)
	}
}

// flush shows, when the install was quiet, its last lines (once).
func (l *installLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.streams {
		if len(st.partial) > 0 {
			l.line(string(st.partial))
			st.partial = nil
		}
	}
	if l.out != nil || l.flushed {
		return
	}
	l.flushed = true
	for _, s := range l.last {
		fmt.Fprintln(l.failOut, l.prefix+s)
	}
}

// lastLine is ": " and the install's last non-empty output line, or "".
func (l *installLog) lastLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.last) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(l.last[i]); s != "" {
			return ": " + shorten(s, 160, true)
		}
	}
	return ""
}

// tarError is the first output line that said npm could not write a file, or "".
func (l *installLog) tarError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tar
}

// noSpace is the first output line that said the disk was full, or "".
func (l *installLog) noSpace() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.full
}
