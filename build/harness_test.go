package build

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/oci"
)

// The install is one npm run on the foundation whose prefix is the new layer snapshot: the only
// host paths it may write are that snapshot and the person's npm cache; the CA bundle is
// read-only; it shares the host's network (npm downloads) and has the security defaults of runs.
func TestInstallSpec(t *testing.T) {
	h, err := harness.Lookup("claude")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("pem"), 0o644)
	in := install{h: h, version: "2.0.0", packages: []string{"extra-pkg"}, registry: "https://registry.example/"}
	layer, err := bindSource([]mount.Mount{{Type: "bind", Source: "/snap/7/fs", Options: []string{"rw", "rbind"}}})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := bindSource([]mount.Mount{{Type: "bind", Source: "/snap/3/fs", Options: []string{"rw", "rbind"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rootless := range []bool{false, true} {
		b := &Builder{CABundle: ca, Runtime: oci.Runtime{Rootless: rootless, RuntimeDir: "/run/user/1000"}}
		opts := b.installSpec(in, "aishell-install-claude-0a0b0c0d", layer, cache)
		s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{CgroupsPath: "/aishell/x",
			Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.MountNamespace}}}}
		for _, o := range opts {
			if err := o(t.Context(), nil, &containers.Container{ID: "x"}, s); err != nil {
				t.Fatal(err)
			}
		}
		if want := []string{"aishell-harness", h.MountPoint(), "@anthropic-ai/claude-code@2.0.0", "https://registry.example/", "claude", "extra-pkg"}; len(s.Process.Args) < 3 || !slices.Equal(s.Process.Args[3:], want) {
			t.Errorf("args %q", s.Process.Args)
		}
		writable := map[string]string{}
		for _, m := range s.Mounts {
			if m.Type == "bind" && !slices.Contains(m.Options, "ro") {
				writable[m.Destination] = m.Source
			}
			if m.Destination == "/run/secrets/ca-bundle" && (m.Source != ca || !slices.Contains(m.Options, "ro")) {
				t.Errorf("CA bundle mount %+v, want %s read-only", m, ca)
			}
		}
		if len(writable) != 2 || writable[h.MountPoint()] != "/snap/7/fs" || writable[npmCacheDir] != "/snap/3/fs" {
			t.Errorf("writable binds %v: want only the layer at %s and the npm cache at %s", writable, h.MountPoint(), npmCacheDir)
		}
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				t.Errorf("the install has a network namespace of its own: npm needs the host's")
			}
		}
		if !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil {
			t.Errorf("no-new-privileges %v, seccomp %v: want the security defaults", s.Process.NoNewPrivileges, s.Linux.Seccomp != nil)
		}
		if rootless && s.Linux.CgroupsPath != "" {
			t.Errorf("rootless without delegation: cgroups path %q, want none", s.Linux.CgroupsPath)
		}
	}
	// A snapshotter whose fresh snapshot is not one directory cannot be installed into.
	if _, err := bindSource([]mount.Mount{{Type: "overlay"}}); err == nil {
		t.Error("an overlay mount as the layer was accepted")
	}
}

// The layer's diff ID is the digest of its tar stream, and its size that stream's length.
func TestHashLayer(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("tool", filepath.Join(dir, "bin", "alias"))
	d1, n1, err := hashLayer(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := archive.WriteDiff(t.Context(), &tarball, "", dir); err != nil {
		t.Fatal(err)
	}
	if n1 != int64(tarball.Len()) || d1.String() != "sha256:"+sha256Hex(tarball.Bytes()) {
		t.Errorf("hashLayer = %s %d, want the tar stream's %d bytes", d1, n1, tarball.Len())
	}
	os.WriteFile(filepath.Join(dir, "bin", "tool"), []byte("#!/bin/sh\necho bye\n"), 0o755)
	if d2, _, _ := hashLayer(t.Context(), dir); d2 == d1 {
		t.Error("changed content, same diff ID")
	}
}

// What a package's install script leaves in the prefix is read by aishell on the host to hash
// it: a link to a host file is read as a link (the file is not), and a FIFO is not opened (the
// walk does not block on it).
func TestHashLayerReadsNoHostFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host-secret-4f1c"), 0o600)
	dir := t.TempDir()
	os.Symlink(secret, filepath.Join(dir, "planted"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var tarball bytes.Buffer
	go func() { done <- archive.WriteDiff(t.Context(), &tarball, "", dir) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hashing the layer blocked on a FIFO")
	}
	if _, _, err := hashLayer(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(tarball.Bytes(), []byte("host-secret-4f1c")) {
		t.Error("the layer's stream holds the host file a link in it points at")
	}
	kinds := map[string]byte{}
	tr := tar.NewReader(&tarball)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		kinds[filepath.Base(h.Name)] = h.Typeflag
	}
	if kinds["planted"] != tar.TypeSymlink || kinds["fifo"] != tar.TypeFifo {
		t.Errorf("entries %v: want the link as a link and the FIFO as a FIFO", kinds)
	}
}

// The install's output is shown line by line marked with the harness, or, quiet, only its last
// lines once it fails; the first line that says the disk is full is kept.
func TestInstallLog(t *testing.T) {
	var out, log bytes.Buffer
	b := &Builder{Out: &out, Log: &log, Progress: "plain"}
	l := b.installLog("claude")
	out1, out2 := l.stream(), l.stream()
	out1.Write([]byte("npm warn one\nnpm error code ENOSPC\nnpm error nospc write /x: no space left on device\npart"))
	out2.Write([]byte("other stream\n"))
	out1.Write([]byte("ial"))
	if !strings.Contains(out.String(), "[harness claude] npm warn one\n") || !strings.Contains(out.String(), "[harness claude] other stream\n") || strings.Contains(out.String(), "partial") {
		t.Errorf("plain output %q", out.String())
	}
	if l.noSpace() != "npm error code ENOSPC" || l.tarError() != "" {
		t.Errorf("noSpace %q, tarError %q", l.noSpace(), l.tarError())
	}
	tl := (&Builder{Out: io.Discard, Progress: "plain"}).installLog("claude")
	tw := tl.stream()
	tw.Write([]byte("npm warn tar TAR_ENTRY_ERROR skipping entry outside the package\n"))
	if tl.tarError() != "" {
		t.Errorf("a skipped entry taken for a file npm could not write: %q", tl.tarError())
	}
	tw.Write([]byte("npm warn tar TAR_ENTRY_ERROR EACCES: permission denied, open '/x'\n"))
	if tl.tarError() != "npm warn tar TAR_ENTRY_ERROR EACCES: permission denied, open '/x'" || tl.noSpace() != "" {
		t.Errorf("tarError %q, noSpace %q", tl.tarError(), tl.noSpace())
	}
	l.flush()
	if !strings.Contains(out.String(), "[harness claude] partial\n") || log.Len() != 0 {
		t.Errorf("flush: out %q, log %q", out.String(), log.String())
	}
	if got := l.lastLine(); got != ": partial" {
		t.Errorf("lastLine %q", got)
	}

	out.Reset()
	b.Progress = "quiet"
	q := b.installLog("codex")
	qw := q.stream()
	for i := 0; i < installLogTail+5; i++ {
		qw.Write([]byte("line\n"))
	}
	q.status("hidden")
	if out.Len() != 0 || log.Len() != 0 {
		t.Errorf("quiet install printed %q / %q", out.String(), log.String())
	}
	q.flush()
	q.flush()
	if n := strings.Count(log.String(), "[harness codex] line\n"); n != installLogTail {
		t.Errorf("quiet failure shows %d lines, want the last %d", n, installLogTail)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
