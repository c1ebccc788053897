package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/snapshot"
)

// Builder runs builds on buildkitd and finds their results in containerd's image store.
type Builder struct {
	Images *containerd.Client
	// Connect opens buildkitd; it is called only when something must be built, so a build
	// or update with nothing to do never talks to buildkitd.
	Connect func(context.Context) (*bkclient.Client, error)
	// Host is buildkitd's address, named when it stops answering during a build.
	Host string
	// Progress is BuildKit's display mode: auto (a live display on a terminal, plain lines
	// otherwise), plain, tty or quiet.
	Progress string
	// Out receives progress; Log receives aishell's own one-line messages.
	Out, Log io.Writer
	// Pull resolves the foundation's base images from their registries even when they are
	// present locally (harnesses and extensions build on the local foundation).
	Pull bool
	// Snapshotter is where builds are unpacked (overlayfs by default).
	Snapshotter string
	// CABundle is a PEM file of CA certificates handed to builds as the secret "ca-bundle"
	// (for npm behind a TLS-inspecting proxy); empty for none.
	CABundle string
	// NoCache makes buildkitd run every step again instead of reusing its build cache.
	NoCache bool
	// NPMCacheID names the snapshot that keeps npm's downloads across harness installs
	// (config.NPMCacheID: one per person); nil, or "", for none. Asked only when a harness is
	// built, so a run that builds nothing reads no file for it.
	NPMCacheID func() string
	// Runtime is how containers run on this containerd: harness installs run one.
	Runtime oci.Runtime
	// Person is the name of the person whose build this is (config.Person.Name): the owner of
	// a harness install's container, as of a run's (labels.User).
	Person string
	// FoundationSpec is the foundation the config names (RunFoundation).
	FoundationSpec FoundationSpec
	// UserBase is the person's own base (LoadUserBase), nil when they have none: extensions
	// build on it and a project without one runs on it.
	UserBase *Extension
	// Keeper is the person's label on what their config keeps (the harness images and the
	// foundation they build): it goes on those images as they are tagged, so no other person's
	// gc removes them, even before the config names them.
	Keeper snapshot.Keeper
	// Lock takes the person's build lock (config.LockBuilds), so that two of their commands do
	// not build the same thing at once; nil for none. A Builder takes it once (Exclusive).
	Lock func(context.Context) (func(), error)

	bk     *bkclient.Client
	solves atomic.Int64
	locked bool // Exclusive holds Lock
}

// Exclusive runs f holding the person's build lock: a command that builds waits for another
// that does, then finds what that one built. Meanwhile the namespace knows a build is under way
// (snapshot.HoldBuild), so no gc removes a harness or foundation image that f finds or tags
// before the person's config names it. Called again inside f, it runs f at once.
func (b *Builder) Exclusive(ctx context.Context, f func() error) error {
	if b.locked {
		return f()
	}
	if b.Lock != nil {
		unlock, err := b.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	release, err := snapshot.HoldBuild(ctx, b.Images, func(pid string) {
		fmt.Fprintf(b.Log, "aishell: waiting for aishell gc (pid %s) to finish\n", pid)
	})
	if err != nil {
		return err
	}
	defer release()
	b.locked = true
	defer func() { b.locked = false }()
	return f()
}

// Solves counts the builds this Builder sent to buildkitd.
func (b *Builder) Solves() int64 { return b.solves.Load() }

// Close releases the buildkitd connection, if one was opened.
func (b *Builder) Close() {
	if b.bk != nil {
		b.bk.Close()
		b.bk = nil
	}
}

// solveRequest is one build, of a Dockerfile or of LLB, whose result is tagged Name in containerd.
type solveRequest struct {
	Name       string // image name to tag on success
	Title      string // what is being built, for the "building ..." line
	Dockerfile []byte // the Dockerfile's content (or Definition)
	// Definition is LLB built instead of a Dockerfile, with ImageConfig as its image's config.
	Definition  *llb.Definition
	ImageConfig []byte
	// Compression of the exported layers: zstd when empty.
	Compression string
	ContextDir  string            // build context; empty for none
	Args        map[string]string // build args
	Bases       []string          // images the Dockerfile's FROM lines resolve to
	Labels      map[string]string // containerd image labels to set on the result
	Pull        bool              // resolve Bases from their registries even when local
	// Untrusted: a project's Dockerfile, offered no secret (not even the CA bundle).
	Untrusted bool
	// Contexts replace images the Dockerfile's FROM lines name (as written, familiar form:
	// aishell:base) by other local images, as BuildKit's named contexts (--build-context).
	Contexts map[string]string
}

// solve builds req and tags the result. A failed or cancelled build leaves every existing tag
// as it was: BuildKit exports to a temporary name, and only a complete, unpacked result is
// then given req.Name and its labels, in one step that Ctrl-C does not interrupt.
func (b *Builder) solve(ctx context.Context, req solveRequest) error {
	if b.bk == nil {
		c, err := b.Connect(ctx)
		if err != nil {
			return err
		}
		b.bk = c
	}
	fmt.Fprintf(b.Log, "building %s\n", req.Title)
	tmp, err := os.MkdirTemp("", "aishell-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tmpName := labels.TempTag(req.Name, hex.EncodeToString(suffix))
	defer b.Images.ImageService().Delete(context.WithoutCancel(ctx), tmpName)

	opt, err := b.solveOpt(ctx, req, tmp, tmpName)
	if err != nil {
		return err
	}
	mode := b.Progress
	if mode == "" {
		mode = string(progressui.AutoMode)
	}
	display, err := progressui.NewDisplay(b.Out, progressui.DisplayMode(mode))
	if err != nil {
		return fmt.Errorf("progress display: %w", err)
	}
	b.solves.Add(1)
	space := &spaceWatch{}
	if err := b.run(ctx, opt, req, display, space); err != nil {
		return b.solveError(ctx, req.Name, err, space)
	}
	if err := b.finish(context.WithoutCancel(ctx), tmpName, req.Name, req.Labels); err != nil {
		return fmt.Errorf("tag %s: %w", req.Name, err)
	}
	return nil
}

// solveOpt is the BuildKit request for req: the Dockerfile (written into tmp) and its context,
// the build args (none of which an LLB request has), the export to tmpName, and (unless the
// Dockerfile is a project's) the CA bundle as the secret "ca-bundle".
func (b *Builder) solveOpt(ctx context.Context, req solveRequest, tmp, tmpName string) (bkclient.SolveOpt, error) {
	compression := req.Compression
	if compression == "" {
		compression = "zstd"
	}
	opt := bkclient.SolveOpt{
		// zstd by default (1.6 s vs 2.8 s for gzip on a 96 MB layer). A harness layer, nearly
		// all a native binary that hardly compresses, goes uncompressed: claude's 373 MB export
		// in 2.1-2.9 s instead of 3.9-4.8 s with zstd. Unpack=true leaves the committed snapshot.
		Exports: []bkclient.ExportEntry{{
			Type:  bkclient.ExporterImage,
			Attrs: map[string]string{"name": tmpName, "unpack": "true", "compression": compression},
		}},
	}
	if b.CABundle != "" && !req.Untrusted {
		pem, err := os.ReadFile(b.CABundle)
		if err != nil {
			return opt, fmt.Errorf("read CA bundle: %w", err)
		}
		opt.Session = append(opt.Session, secretsprovider.FromMap(map[string][]byte{"ca-bundle": pem}))
	}
	if req.Definition != nil {
		return opt, nil
	}
	if err := os.WriteFile(filepath.Join(tmp, "Dockerfile"), req.Dockerfile, 0o644); err != nil {
		return opt, err
	}
	dfFS, err := fsutil.NewFS(tmp)
	if err != nil {
		return opt, err
	}
	ctxDir := req.ContextDir
	if ctxDir == "" {
		ctxDir = filepath.Join(tmp, "empty")
		if err := os.Mkdir(ctxDir, 0o755); err != nil {
			return opt, err
		}
	}
	ctxFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return opt, fmt.Errorf("build context %s: %w", ctxDir, err)
	}
	attrs := map[string]string{"filename": "Dockerfile", "image-resolve-mode": b.resolveMode(ctx, req.Bases, req.Pull)}
	if b.NoCache {
		attrs["no-cache"] = ""
	}
	for k, v := range req.Args {
		attrs["build-arg:"+k] = v
	}
	for name, ref := range req.Contexts {
		attrs["context:"+name] = "docker-image://" + ref
	}
	opt.Frontend = "dockerfile.v0"
	opt.FrontendAttrs = attrs
	opt.LocalMounts = map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}
	return opt, nil
}

// run sends opt (and req's LLB, if it has one) to buildkitd and shows its progress on display
// until the build ends; space reads the progress on its way.
func (b *Builder) run(ctx context.Context, opt bkclient.SolveOpt, req solveRequest, display progressui.Display, space *spaceWatch) error {
	ch := make(chan *bkclient.SolveStatus)
	shown := make(chan *bkclient.SolveStatus)
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if req.Definition == nil {
			_, err := b.bk.Solve(egctx, nil, opt, ch)
			return err
		}
		// Through the gateway, so the result carries its image config to the exporter.
		_, err := b.bk.Build(egctx, opt, "aishell", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
			res, err := c.Solve(ctx, gateway.SolveRequest{Definition: req.Definition.ToPB()})
			if err != nil {
				return nil, err
			}
			res.AddMeta(exptypes.ExporterImageConfigKey, req.ImageConfig)
			return res, nil
		}, ch)
		return err
	})
	eg.Go(func() error {
		defer close(shown)
		for s := range ch {
			space.watch(s)
			shown <- s
		}
		return nil
	})
	eg.Go(func() error {
		// Always drain the status channel, or the solve blocks. The display gets its own
		// context so it shows the failing step before the build's error ends the group.
		_, err := display.UpdateFrom(context.WithoutCancel(egctx), shown)
		return err
	})
	return eg.Wait()
}

// finish checks that the built image is unpacked and points name, with labels, at it.
func (b *Builder) finish(ctx context.Context, built, name string, labels map[string]string) error {
	is := b.Images.ImageService()
	img, err := is.Get(ctx, built)
	if err != nil {
		return err
	}
	if err := b.unpacked(ctx, img); err != nil {
		return fmt.Errorf("the build was not unpacked into %s: %w", b.snapshotter(), err)
	}
	return b.tag(ctx, name, img.Target, labels)
}

// unpacked checks that the committed snapshot of image img exists in the snapshotter.
func (b *Builder) unpacked(ctx context.Context, img images.Image) error {
	chain, err := snapshot.ChainIDOf(ctx, b.Images, img)
	if err != nil {
		return err
	}
	_, err = b.Images.SnapshotService(b.snapshotter()).Stat(ctx, chain)
	return err
}

// tag creates or moves the tag name to target, with these labels. A tag that exists keeps the
// labels it has besides these: other people's labels.KeptBy marks on it.
func (b *Builder) tag(ctx context.Context, name string, target ocispec.Descriptor, labels map[string]string) error {
	is := b.Images.ImageService()
	img := images.Image{Name: name, Target: target, Labels: labels}
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return err
		}
		paths := []string{"target"}
		for k := range labels {
			paths = append(paths, "labels."+k)
		}
		if _, err := is.Update(ctx, img, paths...); err != nil {
			return err
		}
	}
	return nil
}

// kept adds the person's labels.KeptBy label to an image's labels.
func (b *Builder) kept(l map[string]string) map[string]string {
	if b.Keeper.Key != "" {
		l[b.Keeper.Key] = b.Keeper.ConfigPath
	}
	return l
}

func (b *Builder) snapshotter() string {
	if b.Snapshotter != "" {
		return b.Snapshotter
	}
	return "overlayfs"
}

// resolveMode resolves FROM images from the local store when all of them are there, so builds
// work offline and do not ask a registry; otherwise BuildKit pulls as usual.
func (b *Builder) resolveMode(ctx context.Context, bases []string, pull bool) string {
	if pull {
		return "pull"
	}
	for _, ref := range bases {
		if _, err := b.Images.ImageService().Get(ctx, ref); err != nil {
			return "default"
		}
	}
	return "local"
}

// imageExists reports whether name is tagged in the store and unpacked, so it can be used as
// it is; an image whose snapshot is gone is built again.
func (b *Builder) imageExists(ctx context.Context, name string) (bool, error) {
	_, ok, err := b.present(ctx, name)
	return ok, err
}

// present is imageExists with the image's record.
func (b *Builder) present(ctx context.Context, name string) (images.Image, bool, error) {
	img, err := b.Images.ImageService().Get(ctx, name)
	switch {
	case errdefs.IsNotFound(err):
		return img, false, nil
	case err != nil:
		return img, false, err
	}
	return img, b.unpacked(ctx, img) == nil, nil
}

// keptPresent is present for an image the person's config keeps: one that is there gets the
// person's label when it lacks it (a config written by hand, or by an aishell that set none),
// so another person's gc leaves it alone from now on.
func (b *Builder) keptPresent(ctx context.Context, name string) (bool, error) {
	img, ok, err := b.present(ctx, name)
	if ok {
		if err := b.Keeper.Keep(ctx, b.Images, img); err != nil {
			fmt.Fprintf(b.Log, "aishell: warning: %v\n", err)
		}
	}
	return ok, err
}
