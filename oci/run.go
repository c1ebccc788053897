package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/sys/mountinfo"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// User is who the container's process runs as: the invoking user, by default.
type User struct {
	UID, GID   uint32
	Name       string
	Group      string
	Home       string // the host's home path, used unchanged inside
	Shell      string
	ExtraGIDs  []uint32
	PasswdFile string // host file mounted read-only at /etc/passwd (made by the run package)
	GroupFile  string // host file mounted read-only at /etc/group
	HomeSize   int64  // bytes the HOME tmpfs may hold; 0 for the kernel's default (half the memory)
}

// WithUser runs the process as u, with HOME, USER and LOGNAME set, and mounts u's passwd and
// group files. HOME is a tmpfs owned by u, of u.HomeSize, unless skipHomeTmpfs (when HOME is
// itself mounted, e.g. as the project).
func WithUser(u User, skipHomeTmpfs bool) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.ExtraGIDs}
		s.Process.Env = SetEnv(s.Process.Env, "HOME="+u.Home, "USER="+u.Name, "LOGNAME="+u.Name)
		if !skipHomeTmpfs {
			opts := []string{"nosuid", "nodev", "mode=0755", fmt.Sprintf("uid=%d", u.UID), fmt.Sprintf("gid=%d", u.GID)}
			if u.HomeSize > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", u.HomeSize))
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: u.Home, Type: "tmpfs", Source: "tmpfs", Options: opts})
		}
		for _, f := range []struct{ src, dst string }{{u.PasswdFile, "/etc/passwd"}, {u.GroupFile, "/etc/group"}} {
			if f.src != "" {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"bind", "ro"}})
			}
		}
		return nil
	}
}

// defaultPathEnv is the environment of an image that sets none (containerd's default).
var defaultPathEnv = []string{"PATH=" + defaultPath}

// WithImageEnv takes from an image's config what a container of aishell's keeps of it: its
// environment (containerd's default PATH when it has none), with what the spec had set already
// over it, and its working directory ("/" when it has none). Unlike containerd's
// WithImageConfig it reads nothing: no content blob, and no temporary mount of the rootfs to
// look up the supplementary groups of the image's user, which WithUser replaces anyway.
func WithImageEnv(cfg ocispec.ImageConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		env := slices.Clone(cfg.Env)
		if len(env) == 0 {
			env = slices.Clone(defaultPathEnv)
		}
		s.Process.Env = SetEnv(env, s.Process.Env...)
		s.Process.Cwd = cfg.WorkingDir
		if s.Process.Cwd == "" {
			s.Process.Cwd = "/"
		}
		return nil
	}
}

// WithBind bind-mounts a host path at the same path inside, read-write or read-only.
func WithBind(path string, readWrite bool) oci.SpecOpts { return WithBindAt(path, path, readWrite) }

// WithBindAt bind-mounts host path src at dst, read-write or read-only, never honouring
// set-uid bits or device nodes found there, nor in the mounts below src (see bindOptions).
func WithBindAt(src, dst string, readWrite bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: bindOptions(src, readWrite)})
		return nil
	}
}

// bindOptions is how runc mounts a bind of src. A "bind" takes only the mount src lies on; an
// "rbind" takes the mounts below src too, and runc mounts it in about twice the time (measured
// 1.1 ms against 0.55 ms each, and a run has tens: the protected harness config, git's control
// files). So src is bound with "bind" unless a mount lies below it. When one does, the rbind's
// read-only, nosuid and nodev are also set on every mount below ("rro", "rnosuid", "rnodev"):
// runc applies a plain "ro" to the top mount only, and a mount below a directory the user
// mounted read-only, or below the protected harness config, would stay writable.
func bindOptions(src string, readWrite bool) []string {
	access := "ro"
	if readWrite {
		access = "rw"
	}
	// A kernel before 5.12 sets no attribute on the mounts below: a read-only directory is then
	// bound without them (not seen inside; what is seen is read-only), a read-write one with
	// them as they are.
	recursive := recursiveAttrs()
	if !mountsBelow(src) || (!readWrite && !recursive) {
		return []string{"bind", access, "nosuid", "nodev"}
	}
	if !recursive {
		return []string{"rbind", access, "nosuid", "nodev"}
	}
	opts := []string{"rbind", access, "nosuid", "nodev", "rnosuid", "rnodev"}
	if !readWrite {
		opts = append(opts, "rro")
	}
	return opts
}

// mountsBelow says whether a mount lies below directory src, by aishell's mount table. Whatever
// it cannot tell (src missing, or the table unreadable) counts as yes: an rbind with the
// recursive flags is right for every src, only slower. A mount it misses (one made after the
// table was read) is not seen inside: a bind shows the directory under it, with the bind's own
// flags. In rootless mode aishell runs in rootlesskit's mount namespace, as runc does, and reads
// that table.
func mountsBelow(src string) bool {
	fi, err := os.Stat(src)
	if err != nil {
		return true
	}
	if !fi.IsDir() {
		return false // a file has nothing below it
	}
	dir, err := filepath.EvalSymlinks(src) // the mount table names the path mount(2) resolves to
	if err != nil {
		return true
	}
	points, err := mountPoints()
	if err != nil {
		return true
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for _, p := range points {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// mountPoints is the mount points of aishell's mount namespace, read once: a spec is built within
// moments of the start.
var mountPoints = sync.OnceValues(func() ([]string, error) {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	points := make([]string, 0, len(infos))
	for _, in := range infos {
		points = append(points, in.Mountpoint)
	}
	return points, nil
})

// WithEnv sets KEY=VALUE entries, replacing ones the image set.
func WithEnv(kv ...string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.Env = SetEnv(s.Process.Env, kv...)
		return nil
	}
}

// PassEnv returns KEY=VALUE for each key set in the host environment, in keys' order.
func PassEnv(getenv func(string) (string, bool), keys []string) []string {
	var out []string
	for _, k := range keys {
		if v, ok := getenv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// SetEnv sets KEY=VALUE entries in env, replacing what it had for those keys (in place).
func SetEnv(env []string, kv ...string) []string {
	for _, e := range kv {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, old := range env {
			if strings.HasPrefix(old, k+"=") {
				env[i], replaced = e, true
				break
			}
		}
		if !replaced {
			env = append(env, e)
		}
	}
	return env
}

// WithHostNetwork shares the host's network namespace, resolv.conf, hosts file and hostname.
func WithHostNetwork() oci.SpecOpts {
	hostname, _ := os.Hostname()
	return oci.Compose(
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostResolvconf,
		oci.WithHostHostsFile,
		oci.WithHostname(hostname),
	)
}

// WithOwnNetwork gives the container a network namespace of its own: the one at path, made for
// it (network.NewNamespace), or, with path "", one runc makes and brings its loopback up in;
// with resolvConf and hosts (host files; "" for the image's) mounted read-only at
// /etc/resolv.conf and /etc/hosts, and the host's hostname. What else the namespace gets is set
// up from outside (the network package).
func WithOwnNetwork(path, resolvConf, hosts string) oci.SpecOpts {
	hostname, _ := os.Hostname()
	opts := []oci.SpecOpts{oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path}), oci.WithHostname(hostname)}
	for _, f := range []struct{ src, dst string }{{resolvConf, "/etc/resolv.conf"}, {hosts, "/etc/hosts"}} {
		if f.src != "" {
			opts = append(opts, WithBindAt(f.src, f.dst, false))
		}
	}
	return oci.Compose(opts...)
}

// DroppedCapabilities are removed from containerd's default set: nothing an agent does in a
// project needs device nodes, raw sockets, audit writes, file capabilities or chroot.
var DroppedCapabilities = []string{"CAP_MKNOD", "CAP_NET_RAW", "CAP_AUDIT_WRITE", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_SYS_CHROOT"}

// WithSecurityDefaults applies no-new-privileges, containerd's default capability set minus
// DroppedCapabilities, and containerd's default seccomp profile for the native system call ABI
// only (WithNativeSyscallsOnly). Masked and read-only /proc paths come from containerd's default
// spec.
func WithSecurityDefaults() oci.SpecOpts {
	return oci.Compose(
		oci.WithNoNewPrivileges,
		oci.WithDroppedCapabilities(DroppedCapabilities),
		seccomp.WithDefaultProfile(),
		WithNativeSyscallsOnly(runtime.GOARCH),
	)
}

// nativeArch is the seccomp architecture of each GOARCH whose kernel also takes the system calls
// of other ABIs (32-bit x86 and x32 on amd64, 32-bit ARM on arm64).
var nativeArch = map[string]specs.Arch{"amd64": specs.ArchX86_64, "arm64": specs.ArchAARCH64}

// WithNativeSyscallsOnly narrows the seccomp profile to the native ABI of goarch: a system call
// made through another ABI (a 32-bit binary, int $0x80 from a 64-bit one) matches no
// architecture of the filter and is refused as a whole. Nothing an agent runs needs them, the
// compat entry points are old attack surface, and runc compiles the profile for each ABI it
// lists: three on amd64 took 16 ms of every container's creation here, one takes 5.
func WithNativeSyscallsOnly(goarch string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		native, ok := nativeArch[goarch]
		if !ok || s.Linux == nil || s.Linux.Seccomp == nil {
			return nil
		}
		s.Linux.Seccomp.Architectures = []specs.Arch{native}
		return nil
	}
}
