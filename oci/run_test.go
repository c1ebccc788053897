package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPasswdReplacesAndAppends(t *testing.T) {
	img := []byte("root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\n")
	out := string(Passwd(img, User{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice"}))
	if strings.Contains(out, "node:") {
		t.Errorf("entry with the same uid kept:\n%s", out)
	}
	if !strings.Contains(out, "root:x:0:0") || !strings.HasSuffix(out, "alice:x:1000:1000:alice:/home/alice:/bin/bash\n") {
		t.Errorf("passwd:\n%s", out)
	}
	out = string(Passwd(nil, User{UID: 0, GID: 0, Name: "root", Home: "/root"}))
	if strings.Count("\n"+out, "\nroot:") != 1 || !strings.Contains(out, "nobody") {
		t.Errorf("root on empty image:\n%s", out)
	}
	g := string(Group([]byte("root:x:0:\nstaff:x:50:\n"), User{GID: 50, Name: "bob"}))
	if strings.Contains(g, "staff") || !strings.Contains(g, "bob:x:50:") {
		t.Errorf("group:\n%s", g)
	}
}

// spec builds a full default spec with opts, as containerd would, without a daemon.
func spec(t *testing.T, opts ...oci.SpecOpts) *specs.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "aishell")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "t"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestWithUser(t *testing.T) {
	u := User{UID: 1234, GID: 99, Name: "alice", Home: "/home/alice", PasswdFile: "/tmp/p", GroupFile: "/tmp/g"}
	s := spec(t, WithUser(u, false))
	if s.Process.User.UID != 1234 || s.Process.User.GID != 99 {
		t.Errorf("user %+v", s.Process.User)
	}
	for _, e := range []string{"HOME=/home/alice", "USER=alice", "LOGNAME=alice"} {
		if !slices.Contains(s.Process.Env, e) {
			t.Errorf("env lacks %s: %v", e, s.Process.Env)
		}
	}
	home := mountAt(s, "/home/alice")
	if home == nil || home.Type != "tmpfs" || !slices.Contains(home.Options, "uid=1234") {
		t.Errorf("home mount %+v", home)
	}
	if m := mountAt(s, "/etc/passwd"); m == nil || m.Source != "/tmp/p" || !slices.Contains(m.Options, "ro") {
		t.Errorf("passwd mount %+v", m)
	}
	if s := spec(t, WithUser(u, true)); mountAt(s, "/home/alice") != nil {
		t.Error("home tmpfs mounted although skipped")
	}
}

func TestWithSecurityDefaults(t *testing.T) {
	s := spec(t, WithSecurityDefaults())
	if !s.Process.NoNewPrivileges {
		t.Error("no-new-privileges not set")
	}
	for _, c := range DroppedCapabilities {
		if slices.Contains(s.Process.Capabilities.Bounding, c) || slices.Contains(s.Process.Capabilities.Effective, c) {
			t.Errorf("%s not dropped", c)
		}
	}
	if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN") {
		t.Error("default capabilities lost")
	}
	if s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Fatal("no seccomp profile")
	}
	if want, ok := nativeArch[runtime.GOARCH]; ok && !slices.Equal(s.Linux.Seccomp.Architectures, []specs.Arch{want}) {
		t.Errorf("seccomp architectures %v, want only the native %s", s.Linux.Seccomp.Architectures, want)
	}
	for goarch, want := range nativeArch {
		s := &specs.Spec{Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{Architectures: []specs.Arch{specs.ArchX86, want, specs.ArchARM}}}}
		if err := WithNativeSyscallsOnly(goarch)(t.Context(), nil, nil, s); err != nil || !slices.Equal(s.Linux.Seccomp.Architectures, []specs.Arch{want}) {
			t.Errorf("%s: architectures %v (%v), want only %s", goarch, s.Linux.Seccomp.Architectures, err, want)
		}
	}
	if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Error("default masked/readonly paths missing")
	}
}

func TestWithHostNetwork(t *testing.T) {
	s := spec(t, WithHostNetwork())
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Error("network namespace not shared with the host")
		}
	}
	if mountAt(s, "/etc/resolv.conf") == nil || mountAt(s, "/etc/hosts") == nil {
		t.Error("resolv.conf or hosts not from the host")
	}
}

func TestWithOwnNetwork(t *testing.T) {
	s := spec(t, WithOwnNetwork("", "/run/x/resolv.conf", "/run/x/hosts"))
	own := 0
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace && ns.Path == "" {
			own++
		}
	}
	if own != 1 {
		t.Errorf("want one network namespace of its own: %+v", s.Linux.Namespaces)
	}
	if m := mountAt(s, "/etc/resolv.conf"); m == nil || m.Source != "/run/x/resolv.conf" || !slices.Contains(m.Options, "ro") {
		t.Errorf("resolv.conf %+v", m)
	}
	if m := mountAt(s, "/etc/hosts"); m == nil || m.Source != "/run/x/hosts" {
		t.Errorf("hosts %+v", m)
	}
	if s := spec(t, WithOwnNetwork("", "", "")); mountAt(s, "/etc/resolv.conf") != nil {
		t.Error("a resolv.conf bound without a file")
	}
	// A namespace made for the container is joined, and no other is made.
	s = spec(t, WithOwnNetwork("/proc/42/task/43/ns/net", "", ""))
	var nets []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			nets = append(nets, ns)
		}
	}
	if len(nets) != 1 || nets[0].Path != "/proc/42/task/43/ns/net" {
		t.Errorf("network namespaces %+v, want only the one at its path", nets)
	}
}

func TestPassEnvAndWithEnv(t *testing.T) {
	host := map[string]string{"A": "1", "C": ""}
	got := PassEnv(func(k string) (string, bool) { v, ok := host[k]; return v, ok }, []string{"A", "B", "C"})
	if !slices.Equal(got, []string{"A=1", "C="}) {
		t.Errorf("PassEnv %v", got)
	}
	s := spec(t, WithEnv("PATH=/x", "NEW=1"))
	if !slices.Contains(s.Process.Env, "PATH=/x") || !slices.Contains(s.Process.Env, "NEW=1") {
		t.Errorf("env %v", s.Process.Env)
	}
	n := 0
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, "PATH=") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("PATH set %d times", n)
	}
}

func TestWithRootless(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{CgroupsPath: "/aishell/x"}, Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc"},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs"},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"},
	}}
	if err := WithRootless("")(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if s.Linux.CgroupsPath != "" {
		t.Errorf("cgroups path %q kept without delegation", s.Linux.CgroupsPath)
	}
	var sys []specs.Mount
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/sys") {
			sys = append(sys, m)
		}
	}
	if len(sys) != 1 || sys[0].Type != "bind" || sys[0].Source != "/sys" || !slices.Contains(sys[0].Options, "ro") || !slices.Contains(sys[0].Options, "rbind") {
		t.Errorf("/sys mounts: %+v", sys)
	}
	s.Linux.CgroupsPath = "/aishell/x"
	WithRootless("user.slice:aishell:x")(context.Background(), nil, nil, s)
	if s.Linux.CgroupsPath != "user.slice:aishell:x" {
		t.Errorf("systemd scope: %q", s.Linux.CgroupsPath)
	}
}

// A run keeps its image's environment and working directory, and nothing else of its config.
func TestWithImageEnv(t *testing.T) {
	s := spec(t, WithImageEnv(ocispec.ImageConfig{Env: []string{"PATH=/image/bin", "LANG=C.UTF-8"}, WorkingDir: "/work", User: "nobody", Cmd: []string{"x"}}), WithEnv("LANG=en"))
	if !slices.Equal(s.Process.Env, []string{"PATH=/image/bin", "LANG=en"}) || s.Process.Cwd != "/work" || s.Process.User.UID != 0 || slices.Contains(s.Process.Args, "x") {
		t.Errorf("env %v, cwd %q, user %+v, args %v", s.Process.Env, s.Process.Cwd, s.Process.User, s.Process.Args)
	}
	s = spec(t, WithImageEnv(ocispec.ImageConfig{}))
	if !slices.Equal(s.Process.Env, defaultPathEnv) || s.Process.Cwd != "/" {
		t.Errorf("an image with no env or working directory: env %v, cwd %q", s.Process.Env, s.Process.Cwd)
	}
}

// A file is bound alone; a directory with what is mounted under it.
func TestBindOptions(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir()) // as the mount table names it
	if err != nil {
		t.Fatal(err)
	}
	plain, below, file := dir+"/plain", dir+"/below", dir+"/f"
	os.Mkdir(plain, 0o755)
	os.Mkdir(below, 0o755)
	os.WriteFile(file, nil, 0o644)
	os.Symlink(below, dir+"/link")
	saved, savedAttrs := mountPoints, recursiveAttrs
	t.Cleanup(func() { mountPoints, recursiveAttrs = saved, savedAttrs })
	recursiveAttrs = func() bool { return true }
	mountPoints = func() ([]string, error) { return []string{"/", dir, below + "/sub"}, nil }
	fast := func(access string) []string { return []string{"bind", access, "nosuid", "nodev"} }
	for _, tc := range []struct {
		src       string
		readWrite bool
		want      []string
	}{
		{file, false, fast("ro")},
		{plain, false, fast("ro")}, // dir itself is a mount point: not below plain
		{plain, true, fast("rw")},
		{below, false, []string{"rbind", "ro", "nosuid", "nodev", "rnosuid", "rnodev", "rro"}},
		{dir + "/link", false, []string{"rbind", "ro", "nosuid", "nodev", "rnosuid", "rnodev", "rro"}},
		{below, true, []string{"rbind", "rw", "nosuid", "nodev", "rnosuid", "rnodev"}}, // never "rrw": a read-only mount below stays so
		{dir + "/missing", false, []string{"rbind", "ro", "nosuid", "nodev", "rnosuid", "rnodev", "rro"}},
	} {
		s := spec(t, WithBindAt(tc.src, "/x", tc.readWrite))
		if m := mountAt(s, "/x"); m == nil || !slices.Equal(m.Options, tc.want) {
			t.Errorf("%s (rw %v): %+v, want %v", tc.src, tc.readWrite, m, tc.want)
		}
	}
	// A kernel without mount_setattr (before 5.12): a read-only directory is bound without the
	// mounts below it, never with them writable.
	recursiveAttrs = func() bool { return false }
	for rw, want := range map[bool][]string{false: fast("ro"), true: {"rbind", "rw", "nosuid", "nodev"}} {
		if m := mountAt(spec(t, WithBindAt(below, "/x", rw)), "/x"); m == nil || !slices.Equal(m.Options, want) {
			t.Errorf("old kernel, rw %v: %+v, want %v", rw, m, want)
		}
	}
	recursiveAttrs = func() bool { return true }
	mountPoints = func() ([]string, error) { return nil, errors.New("no table") }
	if m := mountAt(spec(t, WithBindAt(plain, "/x", false)), "/x"); m == nil || !slices.Contains(m.Options, "rro") {
		t.Errorf("mount table unreadable: %+v, want the recursive flags", m)
	}
}
