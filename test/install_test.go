package test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/snapshot"
)

// Harness installs run in containerd itself (build/install.go): npm in a container of the
// foundation, whose harness prefix is a new snapshot that, committed, is the image's one layer.

// installPrefix starts the name of every container, lease and snapshot an install makes.
const installPrefix = "aishell-install-"

// The version of openspec the install tests build.
const openspecInstall = "1.11.0"

// An install's image is one layer, the committed snapshot npm wrote, and nothing else: no layer
// blob in the content store (the manifest says where it is), the snapshot has no parent, the run
// mounts it, and nothing of the install is left.
func TestInstallIsTheSnapshot(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	ctx := context.Background()
	ref := harnessRef("openspec", openspecInstall)
	c.ImageService().Delete(ctx, ref, images.SynchronousDelete())
	r := aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+openspecInstall, "--progress=plain")
	mustSucceed(t, r)
	for _, want := range []string{"[harness openspec] npm install --global --prefix ", "[harness openspec] npm install done in ", "[harness openspec] layer "} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the build did not show %q", want)
		}
	}
	img, err := c.ImageService().Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ContentStore()
	raw, err := content.ReadBlob(ctx, cs, img.Target)
	if err != nil {
		t.Fatal(err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(man.Layers))
	}
	if _, err := cs.Info(ctx, man.Layers[0].Digest); !errdefs.IsNotFound(err) {
		t.Errorf("the layer blob is in the content store (%v): the install wrote the layer twice", err)
	}
	if !strings.Contains(man.Annotations["dev.aishell.layer-blobs"], man.Layers[0].Digest.String()) {
		t.Errorf("the manifest does not say where its layer is: %v", man.Annotations)
	}
	chain, err := snapshot.ChainIDOf(ctx, c, img)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.SnapshotService("overlayfs").Stat(ctx, chain)
	if err != nil || info.Parent != "" {
		t.Fatalf("the layer's snapshot %s: %+v, %v: want a committed snapshot with no parent", chain, info, err)
	}
	if left := leftovers(t, c, installPrefix); len(left) > 0 {
		t.Errorf("left by the install: %v", left)
	}
	run := aishell(t, project(t, "install-run"), env, "exec", "openspec", "--version")
	mustSucceed(t, run)
	if strings.TrimSpace(run.Stdout) != openspecInstall {
		t.Errorf("openspec --version says %q, want %s", run.Stdout, openspecInstall)
	}
}

// Ctrl-C while npm runs: the install stops, nothing is tagged or recorded, and everything it
// made (its container, task, lease, rootfs and layer snapshots) is gone when aishell returns.
func TestInstallInterrupted(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	ref := harnessRef("openspec", openspecInstall)
	c.ImageService().Delete(context.Background(), ref, images.SynchronousDelete())
	pause, file := pauseAt(t, "installing")
	bg := started(t, aishellCmd("", append(env, pause), "build", "--with-openspec", "--openspec-version="+openspecInstall, "--progress=plain"), "the install")
	pid := waitPaused(t, file, bg)
	if left := leftovers(t, c, installPrefix); len(left) < 4 {
		t.Fatalf("the install had made only %v: the test proves nothing", left)
	}
	// The install is no session.
	ps := aishell(t, "", env, "ps", "--all")
	mustSucceed(t, ps)
	if strings.Contains(ps.Stdout, installPrefix) {
		t.Errorf("ps lists the install: %q", ps.Stdout)
	}
	syscall.Kill(pid, syscall.SIGINT)
	os.Remove(file)
	if code := bg.code(t, time.Minute); code == errs.CodeOK {
		t.Errorf("the interrupted install exited %d", code)
	}
	if !strings.Contains(bg.stderr.String(), "build "+ref+" cancelled: nothing was tagged") {
		t.Errorf("aishell did not say the build was cancelled: %q", aishellLines(bg.stderr.String()))
	}
	if left := leftovers(t, c, installPrefix); len(left) > 0 {
		t.Errorf("left by the interrupted install: %v", left)
	}
	if imageExists(c, ref) {
		t.Errorf("%s tagged by the interrupted install", ref)
	}
	if _, ok := loadUserConfig(t, env).Harnesses["openspec"]; ok {
		t.Error("the config records openspec after the interrupted install")
	}
}

// aishell killed (SIGKILL) while npm runs: its container, task, lease and snapshots stay, as
// nothing of it can remove them; gc removes them (the install has a run's owner labels), and
// the same command then installs.
func TestInstallKilled(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	ref := harnessRef("openspec", openspecInstall)
	c.ImageService().Delete(context.Background(), ref, images.SynchronousDelete())
	args := []string{"build", "--with-openspec", "--openspec-version=" + openspecInstall, "--progress=plain"}
	pause, file := pauseAt(t, "installing")
	bg := started(t, aishellCmd("", append(env, pause), args...), "the install")
	pid := waitPaused(t, file, bg)
	syscall.Kill(pid, syscall.SIGKILL)
	bg.code(t, time.Minute)
	left := leftovers(t, c, installPrefix)
	if len(left) < 4 {
		t.Fatalf("the killed install left only %v: the test proves nothing", left)
	}
	t.Logf("the killed install left %v", left)
	gc := aishell(t, "", env, "gc")
	mustSucceed(t, gc)
	if !strings.Contains(gc.Stdout, "leftover run "+installPrefix+"openspec-") {
		t.Errorf("gc did not say it removed the install: %q", gc.Stdout)
	}
	if left := leftovers(t, c, installPrefix); len(left) > 0 {
		t.Errorf("left after gc: %v", left)
	}
	mustSucceed(t, aishell(t, "", env, args...))
	if !imageExists(c, ref) {
		t.Errorf("%s not built by the retry", ref)
	}
}
