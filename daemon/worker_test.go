package daemon

import (
	"errors"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/config"
)

func TestMatchWorker(t *testing.T) {
	ep := config.Endpoints{
		ContainerdAddress: "/run/containerd/containerd.sock",
		Namespace:         "aishell",
		BuildkitHost:      "unix:///run/buildkit/buildkitd.sock",
		Snapshotter:       "overlayfs",
	}
	const uuid = "c0ffee00-0000-4000-8000-000000000001"
	worker := func(id, exe, ns, uuid, snap string) *bkclient.WorkerInfo {
		l := map[string]string{labelExecutor: exe}
		for k, v := range map[string]string{labelNamespace: ns, labelUUID: uuid, labelSnapshotter: snap} {
			if v != "" {
				l[k] = v
			}
		}
		return &bkclient.WorkerInfo{ID: id, Labels: l}
	}
	oci := worker("oci1", "oci", "", "", "overlayfs")
	otherNS := worker("ctd-default", "containerd", "default", uuid, "overlayfs")
	otherCtd := worker("ctd-other", "containerd", "aishell", "deadbeef-0000-4000-8000-000000000002", "overlayfs")
	otherSnap := worker("ctd-native", "containerd", "aishell", uuid, "native")
	good := worker("ctd-good", "containerd", "aishell", uuid, "overlayfs")
	noSnapLabel := worker("ctd-nosnap", "containerd", "aishell", uuid, "")

	const noMatch = "cannot reach buildkitd at unix:///run/buildkit/buildkitd.sock: no containerd worker for this containerd and namespace aishell "
	for _, c := range []struct {
		name    string
		workers []*bkclient.WorkerInfo
		uuid    string
		snap    string // ep.Snapshotter, when not overlayfs
		want    string // the description, or the error
	}{
		{"OCI worker only", []*bkclient.WorkerInfo{oci}, uuid, "",
			noMatch + "(worker oci1 (oci))"},
		{"another namespace", []*bkclient.WorkerInfo{otherNS}, uuid, "",
			noMatch + "(worker ctd-default (containerd, namespace default))"},
		{"another containerd", []*bkclient.WorkerInfo{otherCtd}, uuid, "",
			noMatch + "(worker ctd-other (containerd namespace aishell, but another containerd))"},
		{"snapshotter mismatch", []*bkclient.WorkerInfo{otherSnap}, uuid, "",
			noMatch + "(worker ctd-native (containerd, snapshotter native, not overlayfs))"},
		{"no workers", nil, uuid, "",
			noMatch + "(no workers)"},
		{"a match among several", []*bkclient.WorkerInfo{oci, otherNS, otherCtd, otherSnap, good}, uuid, "",
			"worker ctd-good (containerd, namespace aishell, same containerd)"},
		{"the first match wins", []*bkclient.WorkerInfo{good, noSnapLabel}, uuid, "",
			"worker ctd-good (containerd, namespace aishell, same containerd)"},
		{"none among several", []*bkclient.WorkerInfo{oci, otherNS, otherSnap}, uuid, "",
			noMatch + "(worker oci1 (oci), worker ctd-default (containerd, namespace default), worker ctd-native (containerd, snapshotter native, not overlayfs))"},
		{"UUID unknown accepts any containerd", []*bkclient.WorkerInfo{otherCtd}, "", "",
			"worker ctd-other (containerd, namespace aishell, same containerd)"},
		{"worker without snapshotter label", []*bkclient.WorkerInfo{noSnapLabel}, uuid, "",
			"worker ctd-nosnap (containerd, namespace aishell, same containerd)"},
		{"snapshotter not configured", []*bkclient.WorkerInfo{otherSnap}, uuid, "-",
			"worker ctd-native (containerd, namespace aishell, same containerd)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := ep
			if c.snap == "-" {
				ep.Snapshotter = ""
			}
			got, err := matchWorker(c.workers, ep, c.uuid)
			if !strings.HasPrefix(c.want, "cannot reach") {
				if err != nil || got != c.want {
					t.Errorf("matchWorker = %q, %v\nwant %q", got, err, c.want)
				}
				return
			}
			if got != "" || err == nil || err.Error() != c.want {
				t.Fatalf("matchWorker = %q, %v\nwant the error %q", got, err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err is a %T, want a *daemon.Error", err)
			}
			const hint = "start buildkitd with --oci-worker=false --containerd-worker=true --containerd-worker-addr /run/containerd/containerd.sock --containerd-worker-namespace aishell"
			if e.ErrorHint() != hint {
				t.Errorf("hint = %q", e.ErrorHint())
			}
		})
	}
}
