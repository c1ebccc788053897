package run

import (
	"context"
	"path/filepath"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	ctroci "github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/plugins"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/project"
)

// containerOpts create the run's container: its snapshot, its spec (the image's config, then
// specOpts), its labels and, in rootless mode, runc's options.
func containerOpts(o Options, p parts) []containerd.NewContainerOpts {
	opts := []containerd.NewContainerOpts{
		containerd.WithSnapshotter(o.Snapshotter),
		withRootfsSnapshot(p.id),
		containerd.WithImageName(p.image.Name()),
	}
	if ro := o.Runtime.RuncOptions(); ro != nil {
		opts = append(opts, containerd.WithRuntime(plugins.RuntimeRuncV2, ro))
	}
	spec := append([]ctroci.SpecOpts{oci.WithImageEnv(p.imgCfg)}, specOpts(o, p)...)
	return append(opts, containerd.WithNewSpec(spec...), containerd.WithContainerLabels(containerLabels(o, p, p.owner)))
}

// withRootfsSnapshot names the container's rootfs snapshot, key, which the run has just
// prepared: containerd's WithSnapshot asks containerd for its mounts first, to check it exists.
func withRootfsSnapshot(key string) containerd.NewContainerOpts {
	return func(_ context.Context, _ *containerd.Client, c *containers.Container) error {
		c.SnapshotKey = key
		return nil
	}
}

// specOpts is the run's spec on top of the image's config: the process (under tini when the
// rootfs has it), the user, the project and harness config binds, the read-only git control
// files, the CA bundle, the harness views with their bin on PATH, a TTY, the environment, the
// network, the security defaults, the limits, and the rootless adaptations. It is a pure function of the options and the parts: no daemon, no
// I/O.
func specOpts(o Options, p parts) []ctroci.SpecOpts {
	opts := []ctroci.SpecOpts{
		ctroci.WithProcessArgs(processArgs(o.Args, o.PreStart, p.tini, o.Keeper)...),
		ctroci.WithProcessCwd(o.Cwd),
		oci.WithUser(p.user, p.user.Home == "/" || project.Within(p.user.Home, o.Project)),
		oci.WithBind(o.Project, true),
	}
	for _, b := range o.Binds {
		opts = append(opts, oci.WithBind(b, true))
	}
	for _, m := range o.Mounts { // the config's, under what protects the harness config
		opts = append(opts, oci.WithBindAt(m.Source, m.Destination, m.ReadWrite))
	}
	for _, m := range p.config { // after the directories they cover: mounts apply in order
		opts = append(opts, oci.WithBindAt(m.Source, m.Destination, m.ReadWrite))
	}
	// After the project's bind, which they lie in: the git directories first, then what of them
	// is read-only.
	for _, b := range o.GitDirs {
		opts = append(opts, oci.WithBind(b, true))
	}
	for _, b := range o.ReadOnly {
		opts = append(opts, oci.WithBind(b, false))
	}
	if o.Worktree != "" {
		opts = append(opts, oci.WithBind(o.Worktree, true))
		for _, b := range o.WorktreeFiles {
			opts = append(opts, oci.WithBind(b, false))
		}
	}
	if o.CABundle != "" {
		opts = append(opts, oci.WithBindAt(o.CABundle, hostCABundle, false))
	}
	opts = append(opts, defaultsOpts(o, p.aishell)...)
	path := defaultsPath(o)
	for _, v := range p.views {
		opts = append(opts, oci.WithReadOnlySnapshot(v.MountPoint(), v.mounts))
		path = append(path, v.MountPoint()+"/bin")
	}
	if o.TTY {
		opts = append(opts, ctroci.WithTTY) // before the environment, whose TERM replaces its own
	}
	opts = append(opts,
		oci.WithPathPrepend(path...),
		oci.WithEnv(o.Env...),
		networkOpt(o, p),
		oci.WithSecurityDefaults(),
		oci.WithLimits(o.Limits, o.Runtime.Cgroups()),
	)
	if o.Runtime.Rootless {
		opts = append(opts, oci.WithRootless(o.Runtime.SystemdScope(p.id)))
	}
	return opts
}

// processArgs is the process to run: args, or an interactive login bash, after starting
// preStart (when set) in the background, under tini as PID 1 when the rootfs has it (the
// foundation installs it): PID 1 itself ignores SIGINT and SIGTERM it has no handler for, and
// tini forwards them and reaps zombies.
//
// In a detached run the process lives in a tmux session (detach.go).
func processArgs(args []string, preStart string, tini string, k *Keeper) []string {
	if len(args) == 0 {
		args = []string{"bash", "-l"}
	}
	if k != nil {
		args = detachedArgs(args, k.size)
	}
	if preStart != "" {
		args = preStartArgs(preStart, args)
	}
	if tini != "" {
		args = append([]string{tini, "-s", "-g", "--"}, args...)
	}
	return args
}

// containerLabels name the run's project, purpose and owner process, the images it uses (gc
// keeps them), and hold its harness views through gc.ref labels, so containerd's garbage
// collector keeps them for as long as the container record exists.
func containerLabels(o Options, p parts, owner map[string]string) map[string]string {
	l := map[string]string{labels.Project: o.Project, labels.Purpose: o.Purpose, labels.Name: p.name}
	for k, v := range map[string]string{labels.Version: o.Version, labels.User: o.Owner} {
		if v != "" {
			l[k] = v
		}
	}
	if o.Keeper != nil {
		l[labels.Detached] = "tmux"
	}
	var dirs []string
	if p.user.PasswdFile != "" {
		dirs = append(dirs, filepath.Dir(p.user.PasswdFile))
	}
	if p.aishell != "" {
		dirs = append(dirs, p.aishell)
	}
	if p.copies != "" {
		dirs = append(dirs, p.copies)
	}
	if o.Keeper != nil {
		dirs = append(dirs, o.Keeper.logPath)
	}
	if len(dirs) > 0 {
		l[labels.HostDirs] = strings.Join(dirs, ",")
	}
	for k, v := range owner {
		l[k] = v
	}
	uses := []string{o.Image}
	for i, v := range p.views {
		l[labels.GCRefSnapshot(o.Snapshotter, i)] = v.key
		uses = append(uses, v.Ref)
	}
	l[labels.Uses] = strings.Join(uses, ",")
	return l
}
