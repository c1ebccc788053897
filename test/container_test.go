package test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// The seeded Debian image runs a process through the containerd Go client: the environment
// is fit for the run command.
func TestSeededDebianRuns(t *testing.T) {
	c := needEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done(context.WithoutCancel(ctx))

	img, err := c.GetImage(ctx, "docker.io/library/debian:bookworm-slim")
	if err != nil {
		t.Fatalf("seeded image: %v", err)
	}
	id := fmt.Sprintf("test-debian-%d", time.Now().UnixNano())
	ctr, err := c.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("cat", "/etc/debian_version")),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	// Separate buffers: two copy goroutines writing into one bytes.Buffer race and lose output.
	var out, errOut bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &errOut)))
	if err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-exit
	// Let the output drain before Delete closes the pipes.
	task.IO().Wait()
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, err := st.Result(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stdout %q, stderr %q", code, err, out.String(), errOut.String())
	}
	if v := strings.TrimSpace(out.String()); !strings.HasPrefix(v, "12.") {
		t.Errorf("/etc/debian_version = %q, want bookworm (12.x)", v)
	}
}
