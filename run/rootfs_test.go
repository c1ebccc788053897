package run

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
	"github.com/containerd/containerd/v2/core/mount"
	"golang.org/x/sys/unix"
)

func TestRootfsFileLayersAndLinks(t *testing.T) {
	upper, lower1, lower2 := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{upper, lower1, lower2} {
		os.MkdirAll(filepath.Join(d, "etc"), 0o755)
	}
	os.WriteFile(filepath.Join(lower2, "etc", "passwd"), []byte("old\n"), 0o644)
	os.WriteFile(filepath.Join(lower1, "etc", "passwd"), []byte("new\n"), 0o644)
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("host secret\n"), 0o600)
	os.Symlink(secret, filepath.Join(lower1, "etc", "group"))
	mounts := []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"workdir=/w", "upperdir=" + upper, "lowerdir=" + lower1 + ":" + lower2,
	}}}
	if b, err := rootfsFile(mounts, "etc/passwd"); err != nil || string(b) != "new\n" {
		t.Errorf("top layer first: %q, %v", b, err)
	}
	if b, err := rootfsFile(mounts, "etc/group"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("followed a symlink out of the layer: %q, %v", b, err)
	}
	// A directory replaced by a link to the host's /etc.
	evil := t.TempDir()
	os.Symlink("/etc", filepath.Join(evil, "etc"))
	if _, err := rootfsFile([]mount.Mount{{Type: "bind", Source: evil}}, "etc/hostname"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("followed a symlinked directory: %v", err)
	}
	if !rootfsHas(mounts, "etc/passwd") || rootfsHas(mounts, "usr/bin/tini") {
		t.Error("rootfsHas")
	}
	// A top layer whose /etc is a link hides the lower layers' /etc/passwd.
	top := t.TempDir()
	os.Symlink("/etc", filepath.Join(top, "etc"))
	shadowed := []mount.Mount{{Type: "overlay", Options: []string{"upperdir=" + top, "lowerdir=" + lower1}}}
	if b, err := rootfsFile(shadowed, "etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read a file hidden by the layer above: %q, %v", b, err)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"a - b": "a-b", "my--app": "my-app", "project_": "project", "__tests__": "tests", "": "x", "Ünïcode": "n-code"} {
		if got := sanitize(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestOwnerLabels(t *testing.T) {
	self := ownerLabels(nil)
	if self[labels.ReaperPID] != "" || owner.Gone(self) {
		t.Errorf("labels of this process without a reaper: %v", self)
	}
	// A run whose aishell is gone while its reaper (here: this process) lives.
	withReaper := ownerLabels(&reaper{pid: os.Getpid(), start: self[labels.PIDStart]})
	withReaper[labels.PID] = "999999999"
	if owner.Gone(withReaper) || !owner.Reaping(withReaper) {
		t.Error("a run with a live reaper judged gone, or not being reaped")
	}
}

// PID 1 is tini's static build when the rootfs has it, else tini, else nothing.
func TestInitOf(t *testing.T) {
	upper, lower := t.TempDir(), t.TempDir()
	mounts := []mount.Mount{{Type: "overlay", Options: []string{"upperdir=" + upper, "lowerdir=" + lower}}}
	if got := initOf(mounts); got != "" {
		t.Errorf("no tini: %q", got)
	}
	os.MkdirAll(filepath.Join(lower, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(lower, "usr/bin/tini"), nil, 0o755)
	if got := initOf(mounts); got != "/usr/bin/tini" {
		t.Errorf("tini only: %q", got)
	}
	os.WriteFile(filepath.Join(lower, "usr/bin/tini-static"), nil, 0o755)
	if got := initOf(mounts); got != "/usr/bin/tini-static" {
		t.Errorf("both: %q", got)
	}
	// A layer above that deleted the static build (an overlay whiteout) falls back to tini.
	os.MkdirAll(filepath.Join(upper, "usr/bin"), 0o755)
	if err := unix.Mknod(filepath.Join(upper, "usr/bin/tini-static"), unix.S_IFCHR, 0); err != nil {
		t.Skipf("no whiteout without root: %v", err)
	}
	if got := initOf(mounts); got != "/usr/bin/tini" {
		t.Errorf("static build deleted above: %q", got)
	}
}
