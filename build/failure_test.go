package build

import (
	"context"
	"errors"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aishell/aishell/errs"
)

func TestSpaceWatchReadsTheFailedStepsLog(t *testing.T) {
	run, other := digest.FromString("run"), digest.FromString("other")
	w := &spaceWatch{}
	// Another step's output that merely mentions it, then the failing step's line, split in two.
	w.watch(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{
		{Vertex: other, Data: []byte("grep: No space left on device\n")},
		{Vertex: run, Data: []byte("64+0 records in\ndd: error writing '/fill': No space")},
	}})
	if w.full() {
		t.Error("full before any step failed")
	}
	w.watch(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: run, Data: []byte(" left on device\n")}}})
	w.watch(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: run, Name: "[1/2] RUN dd if=/dev/zero of=/fill",
		Error: `process "/bin/sh -c dd if=/dev/zero of=/fill" did not complete successfully: exit code: 1`}}})
	if got, want := w.said(), "[1/2] RUN dd if=/dev/zero of=/fill: dd: error writing '/fill': No space left on device"; got != want {
		t.Errorf("said %q, want %q", got, want)
	}

	// A step that fails for another reason, while a step that did not fail ran out of space.
	w = &spaceWatch{}
	w.watch(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: other, Data: []byte("No space left on device\n")}}})
	w.watch(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: run, Name: "RUN false", Error: "exit code: 1"}}})
	if w.full() {
		t.Errorf("full for another step's log: %q", w.said())
	}

	// The export's own error.
	w = &spaceWatch{}
	w.watch(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: run, Name: "exporting to image",
		Error: "failed to copy: write /var/lib/containerd/io.containerd.content.v1.content/ingest/" + strings.Repeat("0123456789", 10) + "/data: no space left on device"}}})
	if got := w.said(); !strings.HasPrefix(got, "exporting to image: write /var/lib/") || !strings.HasSuffix(got, "/data: no space left on device") || len(got) > 150 {
		t.Errorf("said %q: want the step and its error's end, shortened in the middle", got)
	}
}

func TestSolveErrorLines(t *testing.T) {
	b := &Builder{Host: "unix:///run/buildkit/buildkitd.sock"}
	ctx := context.Background()
	name := "docker.io/aishell/harness-openspec:1.13.2"

	err := b.solveError(ctx, name, status.Error(codes.Unavailable, "error reading from server: EOF"), &spaceWatch{})
	if want := "build " + name + " failed: buildkitd at unix:///run/buildkit/buildkitd.sock stopped answering during the build; nothing was changed"; err.Error() != want {
		t.Errorf("lost: %q, want %q", err, want)
	}
	if h := errs.HintOf(err); h != "start buildkitd again, then run the same command again" {
		t.Errorf("lost: hint %q", h)
	}

	err = b.solveError(ctx, name, errors.New("failed to solve: ResourceExhausted: process did not complete successfully: write /var/lib/containerd/x: no space left on device"), &spaceWatch{})
	if want := "build " + name + " failed: disk full where containerd and buildkitd keep their data (write /var/lib/containerd/x: no space left on device); nothing was changed"; err.Error() != want {
		t.Errorf("disk full: %q, want %q", err, want)
	}
	if h := errs.HintOf(err); !strings.Contains(h, "aishell gc") {
		t.Errorf("disk full: hint %q", h)
	}

	err = b.solveError(ctx, name, errors.New(`failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1`), &spaceWatch{})
	if want := "build " + name + ` failed: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1`; err.Error() != want || errs.HintOf(err) != "" {
		t.Errorf("a failed step: %q (hint %q), want %q", err, errs.HintOf(err), want)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.solveError(cctx, name, context.Canceled, &spaceWatch{}); !strings.Contains(err.Error(), "cancelled: nothing was tagged") {
		t.Errorf("cancelled: %q", err)
	}
}
