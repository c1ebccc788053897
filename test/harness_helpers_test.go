package test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	aoci "github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/snapshot"
)

// Real versions of real harnesses the tests install from the npm registry.
const (
	claudeV1 = "2.1.329"
	claudeV2 = "2.1.330"
	geminiV  = "0.61.0"
	geminiV0 = "0.60.0" // only ever started, then cancelled
)

const foundationImage = "docker.io/library/aishell:foundation"

// userEnv gives a test its own config directory (the user config aishell reads and writes).
func userEnv(t *testing.T) []string {
	t.Helper()
	return []string{"XDG_CONFIG_HOME=" + t.TempDir()}
}

// signalCode is how a run ended by sig exits, as a shell reports it: 128 plus the signal's number.
func signalCode(sig syscall.Signal) int { return 128 + int(sig) }

// codeNotFound is a shell's exit code for a command it cannot find; aishell exec passes the
// container's own exit code through.
const codeNotFound = 127

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.Code != errs.CodeOK {
		t.Fatalf("exit %d, want %d", r.Code, errs.CodeOK)
	}
}

func imageTarget(t *testing.T, c *containerd.Client, ref string) string {
	t.Helper()
	img, err := c.ImageService().Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("image %s: %v", ref, err)
	}
	return img.Target.Digest.String()
}

func imageExists(c *containerd.Client, ref string) bool {
	_, err := c.ImageService().Get(context.Background(), ref)
	return err == nil
}

// storeImages are the images in the namespace by name, but for the projects' extensions (and
// their temporary build tags), which other tests build at any time: what a build or an update
// may change outside a project.
func storeImages(t *testing.T, c *containerd.Client) map[string]images.Image {
	t.Helper()
	all, err := c.ImageService().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]images.Image{}
	for _, img := range all {
		if !strings.HasPrefix(img.Name, build.FoundationRepo+":ext-") {
			m[img.Name] = img
		}
	}
	return m
}

// imageChanges compares two storeImages: the names added, the names removed, and the names
// whose target moved or whose record was written again (a tag set anew, even to the same target).
func imageChanges(before, after map[string]images.Image) (added, removed, changed []string) {
	for name, a := range after {
		b, ok := before[name]
		switch {
		case !ok:
			added = append(added, name)
		case a.Target.Digest != b.Target.Digest || !a.UpdatedAt.Equal(b.UpdatedAt):
			changed = append(changed, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			removed = append(removed, name)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}

func harnessRef(name, version string) string {
	h, err := harness.Lookup(name)
	if err != nil {
		panic(err)
	}
	return h.ImageRef(version)
}

// sandbox is a container on the foundation with harness snapshots mounted the way aishell
// mounts them: their shared read-only views, whose mounts go straight into the spec, held by
// the container's labels.
type sandbox struct {
	c      *containerd.Client
	ctr    containerd.Container
	task   containerd.Task
	exit   <-chan containerd.ExitStatus
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	done   func(context.Context) error // releases the lease
}

// startSandbox starts args in a container on the foundation with the given harness images
// (name -> image ref) mounted at /opt/harness/<name>.
func startSandbox(t *testing.T, c *containerd.Client, harnesses map[string]string, args ...string) *sandbox {
	t.Helper()
	ctx := context.Background()
	lctx, done, err := c.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb := &sandbox{c: c, done: done, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	t.Cleanup(func() { sb.remove(t) })
	img, err := c.GetImage(lctx, foundationImage)
	if err != nil {
		t.Fatalf("foundation: %v", err)
	}
	id := fmt.Sprintf("test-sandbox-%d", time.Now().UnixNano())
	uses := []string{foundationImage}
	ctrLabels := map[string]string{}
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs(args...)}
	var path []string
	for name, ref := range harnesses {
		h, err := harness.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		key, mounts, err := snapshot.SharedView(lctx, c, "overlayfs", ref)
		if err != nil {
			t.Fatal(err)
		}
		ctrLabels[labels.GCRefSnapshot("overlayfs", len(ctrLabels))] = key
		opts = append(opts, aoci.WithReadOnlySnapshot(h.MountPoint(), mounts))
		path = append(path, h.MountPoint()+"/bin")
		uses = append(uses, ref)
	}
	opts = append(opts, aoci.WithPathPrepend(path...))
	sb.ctr, err = c.NewContainer(lctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(opts...),
		containerd.WithAdditionalContainerLabels(ctrLabels),
		containerd.WithAdditionalContainerLabels(map[string]string{labels.Uses: strings.Join(uses, ",")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	sb.task, err = sb.ctr.NewTask(lctx, cio.NewCreator(cio.WithStreams(nil, sb.stdout, sb.stderr)))
	if err != nil {
		t.Fatal(err)
	}
	if sb.exit, err = sb.task.Wait(lctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.task.Start(lctx); err != nil {
		t.Fatal(err)
	}
	return sb
}

// wait returns the exit code and output once the process ends.
func (sb *sandbox) wait(t *testing.T) (int, string, string) {
	t.Helper()
	select {
	case st := <-sb.exit:
		sb.task.IO().Wait()
		return int(st.ExitCode()), sb.stdout.String(), sb.stderr.String()
	case <-time.After(2 * time.Minute):
		t.Fatal("sandbox did not exit within 2 minutes")
		return 0, "", ""
	}
}

// remove kills and deletes everything the sandbox created.
func (sb *sandbox) remove(t *testing.T) {
	ctx := context.Background()
	if sb.task != nil {
		sb.task.Kill(ctx, syscall.SIGKILL)
		select {
		case <-sb.exit:
		case <-time.After(10 * time.Second):
		}
		sb.task.Delete(ctx)
		sb.task = nil
	}
	if sb.ctr != nil {
		if err := sb.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Logf("delete container: %v", err)
		}
		sb.ctr = nil
	}
	if sb.done != nil {
		sb.done(ctx)
		sb.done = nil
	}
}

func runSandbox(t *testing.T, c *containerd.Client, harnesses map[string]string, args ...string) (int, string, string) {
	t.Helper()
	sb := startSandbox(t, c, harnesses, args...)
	defer sb.remove(t)
	return sb.wait(t)
}

// missingSocket is a BuildKit address where nothing listens: a command given it can succeed
// only if it never talks to buildkitd.
func missingSocket(t *testing.T) string {
	return "BUILDKIT_HOST=unix://" + t.TempDir() + "/no-buildkitd.sock"
}
