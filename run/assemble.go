package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/protect"
	"github.com/aishell/aishell/snapshot"
)

// parts are what a run's container is made of, once they exist in containerd and on disk.
type parts struct {
	id      string
	name    string // the session name
	image   containerd.Image
	imgCfg  ocispec.ImageConfig // the image's: its environment and working directory
	rootfs  []mount.Mount       // the rootfs snapshot's mounts
	tini    string              // PID 1: the rootfs's tini, its static build when it has one; "" for none
	user    oci.User            // o.User, with the passwd and group files written for it
	views   []view
	config  []protect.Mount // the protected harness config, over o.Binds
	aishell string          // the run's directory of wrappers and defaults files, or ""
	copies  string          // the directory of the private harness config copies, or ""
	resolv  string          // with a network namespace of its own: its resolv.conf and hosts
	hosts   string
	net     *earlyNet         // the namespace made for the run, being set up; nil: runc makes one
	owner   map[string]string // ownerLabels: the aishell process and the reaper
}

// netnsPath is the network namespace the spec names, or "" for a new one of runc's.
func (p parts) netnsPath() string {
	if p.net == nil {
		return ""
	}
	return p.net.ns.Path
}

// view is one harness's shared read-only view, named key, and its mounts.
type view struct {
	Harness
	key    string
	mounts []mount.Mount
}

// assemble creates, under the lease in ctx, the container's rootfs snapshot, its passwd and
// group files and the protected harness config (placeholders and private copies), pushing the
// removal of each onto stack, and finds the shared view of each harness snapshot.
func assemble(ctx context.Context, c *containerd.Client, o Options, id string, stack *cleanupStack) (parts, error) {
	p := parts{id: id}
	// The harness views are found while the rootfs is prepared and the user files written.
	type found struct {
		views []view
		err   error
	}
	viewsDone := make(chan found, 1)
	go func() {
		v, err := harnessViews(ctx, c, o)
		viewsDone <- found{v, err}
	}()
	img, cfg, rootMounts, err := rootfs(ctx, c, o, id, stack)
	if err != nil {
		return p, err
	}
	p.image, p.imgCfg, p.rootfs = img, cfg, rootMounts
	stack.tr.mark("rootfs snapshot")
	p.tini = initOf(rootMounts)
	if p.user, err = userFiles(o.User, id, rootMounts, stack); err != nil {
		return p, err
	}
	if o.Network.Mode != network.Host {
		if p.resolv, p.hosts, err = networkFiles(o.Network.Mode, filepath.Dir(p.user.PasswdFile)); err != nil {
			return p, err
		}
	}
	m := <-viewsDone
	if m.err != nil {
		return p, m.err
	}
	p.views = m.views
	if p.aishell, err = writeDefaults(o, id, stack); err != nil {
		return p, err
	}
	stack.tr.mark("views + passwd")
	guard, err := o.Protect.Start(id)
	if err != nil {
		return p, err
	}
	// Unwound after the container is deleted: its copies are written back once nothing runs.
	stack.pushLocal("harness config copies", func(context.Context) error { return guard.Finish(stderrOf(o)) })
	p.config, p.copies = guard.Mounts(), guard.Dir()
	stack.tr.mark("protected config")
	return p, nil
}

// rootfs prepares the container's writable snapshot on top of the image's committed one, and
// returns the image with its config.
func rootfs(ctx context.Context, c *containerd.Client, o Options, id string, stack *cleanupStack) (containerd.Image, ocispec.ImageConfig, []mount.Mount, error) {
	rec, err := c.ImageService().Get(ctx, o.Image)
	if err != nil {
		return nil, ocispec.ImageConfig{}, nil, fmt.Errorf("image %s: %w", o.Image, err)
	}
	chain, err := snapshot.ChainIDOf(ctx, c, rec)
	if err != nil {
		return nil, ocispec.ImageConfig{}, nil, err
	}
	cfg, err := snapshot.ConfigOf(ctx, c, rec) // read with the chain ID
	if err != nil {
		return nil, ocispec.ImageConfig{}, nil, fmt.Errorf("config of %s: %w", o.Image, err)
	}
	sn := c.SnapshotService(o.Snapshotter)
	mounts, err := sn.Prepare(ctx, id, chain)
	if err != nil {
		return nil, ocispec.ImageConfig{}, nil, fmt.Errorf("rootfs snapshot of %s: %w", o.Image, err)
	}
	stack.push("rootfs snapshot", func(ctx context.Context) error { return ignoreNotFound(sn.Remove(ctx, id)) })
	return containerd.NewImage(c, rec), cfg.Config, mounts, nil
}

// viewsGone is err, or, when the shared view of a harness the run found is gone by then, an
// error that says so: only the harness image held the view until the container did, and an
// image rebuilt with --force or removed by hand in that moment takes the view with it.
func viewsGone(ctx context.Context, c *containerd.Client, o Options, views []view, err error) error {
	sn := c.SnapshotService(o.Snapshotter)
	var gone []string
	for _, v := range views {
		if _, serr := sn.Stat(ctx, v.key); errdefs.IsNotFound(serr) {
			gone = append(gone, v.Name)
		}
	}
	if len(gone) == 0 {
		return err
	}
	return errs.WithHint(fmt.Errorf("the snapshot of harness %s was removed while the run started (its image rebuilt or removed): %w", strings.Join(gone, ", "), err),
		"run the command again")
}

// initOf is the tini to run as PID 1 in a rootfs: Debian's tini package ships a static build
// beside the dynamic one, which starts without the dynamic loader; "" when there is neither.
func initOf(rootMounts []mount.Mount) string {
	for _, p := range []string{"usr/bin/tini-static", "usr/bin/tini"} {
		if rootfsHas(rootMounts, p) {
			return "/" + p
		}
	}
	return ""
}

// userFiles writes /etc/passwd and /etc/group for the container: the image's own (read from
// its layers without following links), with the user in them.
func userFiles(u oci.User, id string, rootMounts []mount.Mount, stack *cleanupStack) (oci.User, error) {
	etc, err := os.MkdirTemp("", id+"-etc-")
	if err != nil {
		return u, fmt.Errorf("passwd and group files: %w", err)
	}
	stack.push("passwd and group files", func(context.Context) error { return os.RemoveAll(etc) })
	u.PasswdFile, u.GroupFile = filepath.Join(etc, "passwd"), filepath.Join(etc, "group")
	passwd, _ := rootfsFile(rootMounts, "etc/passwd")
	group, _ := rootfsFile(rootMounts, "etc/group")
	if err := os.WriteFile(u.PasswdFile, oci.Passwd(passwd, u), 0o644); err != nil {
		return u, fmt.Errorf("passwd file: %w", err)
	}
	if err := os.WriteFile(u.GroupFile, oci.Group(group, u), 0o644); err != nil {
		return u, fmt.Errorf("group file: %w", err)
	}
	return u, nil
}

// harnessViews finds, or makes the first time, the shared read-only view of each harness's
// committed snapshot (snapshot.SharedView). The run holds them by its container's labels, and
// removes none of them.
func harnessViews(ctx context.Context, c *containerd.Client, o Options) ([]view, error) {
	var views []view
	for _, h := range o.Harnesses {
		key, mounts, err := snapshot.SharedView(ctx, c, o.Snapshotter, h.Ref)
		if err != nil {
			return nil, err
		}
		views = append(views, view{Harness: h, key: key, mounts: mounts})
	}
	return views, nil
}
