package daemon

import (
	"context"
	"fmt"
	"strings"

	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/config"
)

// Worker label keys of BuildKit's containerd worker.
const (
	labelExecutor    = "org.mobyproject.buildkit.worker.executor"
	labelNamespace   = "org.mobyproject.buildkit.worker.containerd.namespace"
	labelUUID        = "org.mobyproject.buildkit.worker.containerd.uuid"
	labelSnapshotter = "org.mobyproject.buildkit.worker.snapshotter"
)

// Worker finds buildkitd's containerd worker that builds into the same containerd (compared by
// containerd's UUID, when known) and namespace aishell uses, so build results land where aishell
// runs containers. It returns a description of that worker.
func Worker(ctx context.Context, bk *bkclient.Client, ep config.Endpoints, containerdUUID string) (string, error) {
	workers, err := bk.ListWorkers(ctx)
	if err != nil {
		return "", listWorkersError(err)
	}
	return matchWorker(workers, ep, containerdUUID)
}

// matchWorker picks, among buildkitd's workers, the first containerd worker in ep's namespace
// and containerd (containerdUUID, when not "") whose snapshotter is ep's (when both are known),
// and describes it. Without one, the error lists what each worker is instead.
func matchWorker(workers []*bkclient.WorkerInfo, ep config.Endpoints, containerdUUID string) (string, error) {
	var seen []string
	for _, w := range workers {
		exe, ns, uuid, snap := w.Labels[labelExecutor], w.Labels[labelNamespace], w.Labels[labelUUID], w.Labels[labelSnapshotter]
		switch {
		case exe != "containerd":
			seen = append(seen, fmt.Sprintf("worker %s (%s)", w.ID, exe))
		case ns != ep.Namespace:
			seen = append(seen, fmt.Sprintf("worker %s (containerd, namespace %s)", w.ID, ns))
		case containerdUUID != "" && uuid != containerdUUID:
			seen = append(seen, fmt.Sprintf("worker %s (containerd namespace %s, but another containerd)", w.ID, ns))
		case ep.Snapshotter != "" && snap != "" && snap != ep.Snapshotter:
			seen = append(seen, fmt.Sprintf("worker %s (containerd, snapshotter %s, not %s)", w.ID, snap, ep.Snapshotter))
		default:
			return fmt.Sprintf("worker %s (containerd, namespace %s, same containerd)", w.ID, ns), nil
		}
	}
	if len(seen) == 0 {
		seen = append(seen, "no workers")
	}
	return "", &Error{What: "buildkitd", Addr: ep.BuildkitHost,
		Why: fmt.Sprintf("no containerd worker for this containerd and namespace %s (%s)", ep.Namespace, strings.Join(seen, ", ")),
		Hint: fmt.Sprintf("start buildkitd with --oci-worker=false --containerd-worker=true --containerd-worker-addr %s --containerd-worker-namespace %s",
			ep.ContainerdAddress, ep.Namespace)}
}

// listWorkersError reports a failed ListWorkers in one short line, keeping err in the chain.
func listWorkersError(err error) error {
	return fmt.Errorf("list buildkitd workers: %w", shortened(err, Short(err)))
}
