package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
	hasTini bool                // the rootfs has /usr/bin/tini to run as PID 1
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

// view is one harness's read-only view, named key, and its mounts.
type view struct {
	Harness
	key    string
	mounts []mount.Mount
}

// assemble creates, under the lease in ctx, the container's rootfs snapshot, its passwd and
// group files, a view of each harness snapshot and the protected harness config (placeholders
// and private copies), pushing the removal of each onto stack.
func assemble(ctx context.Context, c *containerd.Client, o Options, id string, stack *cleanupStack) (parts, error) {
	p := parts{id: id}
	// The harness views are made while the rootfs is prepared and the user files written:
	// each is a round trip to containerd and a write of its metadata.
	type made struct {
		views []view
		err   error
	}
	viewsDone := make(chan made, 1)
	go func() {
		v, err := harnessViews(ctx, c, o, id)
		viewsDone <- made{v, err}
	}()
	defer func() {
		if viewsDone != nil { // an error came first: the views made are still removed
			m := <-viewsDone
			pushViews(c, o, stack, m.views)
		}
	}()
	img, cfg, rootMounts, err := rootfs(ctx, c, o, id, stack)
	if err != nil {
		return p, err
	}
	p.image, p.imgCfg = img, cfg
	stack.tr.mark("rootfs snapshot")
	p.hasTini = rootfsHas(rootMounts, "usr/bin/tini")
	if p.user, err = userFiles(o.User, id, rootMounts, stack); err != nil {
		return p, err
	}
	if o.Network.Mode != network.Host {
		if p.resolv, p.hosts, err = networkFiles(o.Network.Mode, filepath.Dir(p.user.PasswdFile)); err != nil {
			return p, err
		}
	}
	m := <-viewsDone
	viewsDone = nil
	pushViews(c, o, stack, m.views)
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

// harnessViews makes a read-only view of each harness's committed snapshot; on an error it
// returns the views made so far with it.
func harnessViews(ctx context.Context, c *containerd.Client, o Options, id string) ([]view, error) {
	var views []view
	for _, h := range o.Harnesses {
		key := id + "-" + h.Name
		mounts, err := snapshot.View(ctx, c, o.Snapshotter, h.Ref, key)
		if err != nil {
			return views, err
		}
		views = append(views, view{Harness: h, key: key, mounts: mounts})
	}
	return views, nil
}

// pushViews pushes the removal of each view onto stack.
func pushViews(c *containerd.Client, o Options, stack *cleanupStack, views []view) {
	sn := c.SnapshotService(o.Snapshotter)
	for _, v := range views {
		key := v.key
		stack.push("view of "+v.Name, func(ctx context.Context) error { return ignoreNotFound(sn.Remove(ctx, key)) })
	}
}
