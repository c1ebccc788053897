package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aishell/aishell/vm"
)

// VM checks, from a host that forwards to a VM, that the VM exists and runs, that aishell
// reaches it, and that the VM's own `aishell doctor` passes; that report is written to w as the
// VM prints it. decideErr is why no VM could be chosen, if none could.
func VM(ctx context.Context, t vm.Target, decideErr error, w io.Writer) []Check {
	if decideErr != nil {
		return []Check{failure("vm", decideErr)}
	}
	checks := []Check{}
	skipRest := func(names ...string) []Check {
		for _, n := range names {
			checks = append(checks, Check{Name: n, Status: Skip, Detail: "the VM is not running"})
		}
		return checks
	}
	exists, running, err := vm.Status(ctx, t)
	switch {
	case err != nil:
		checks = append(checks, failure("vm", err))
		return skipRest("vm shell", "vm doctor")
	case !exists:
		c := Check{Name: "vm", Status: Fail, Detail: t.String() + " does not exist",
			Hint: fmt.Sprintf("limactl start --name=%s ./lima.yaml (in aishell's repository)", t.Name)}
		checks = append(checks, c)
		return skipRest("vm shell", "vm doctor")
	case !running:
		hint := "limactl start " + t.Name
		if t.Kind == vm.Colima {
			hint = "colima start --profile " + t.Name + " --runtime containerd"
		}
		checks = append(checks, Check{Name: "vm", Status: Fail, Detail: t.String() + " is not running", Hint: hint})
		return skipRest("vm shell", "vm doctor")
	}
	checks = append(checks, Check{Name: "vm", Status: OK, Detail: t.String() + " is running; aishell runs its commands there"})
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var stderr strings.Builder
	if err := vm.Probe(sctx, t, []string{"true"}, io.Discard, &stderr); err != nil {
		checks = append(checks, Check{Name: "vm shell", Status: Fail, Detail: fmt.Sprintf("cannot run a command in %s: %v %s", t, err, strings.TrimSpace(stderr.String())),
			Hint: "limactl shell " + t.Name + " true  (try --debug)"})
		return append(checks, Check{Name: "vm doctor", Status: Skip, Detail: "the VM is not reachable"})
	}
	checks = append(checks, Check{Name: "vm shell", Status: OK, Detail: "commands run in " + t.String()})
	fmt.Fprintf(w, "--- aishell doctor in %s ---\n", t)
	if err := vm.Probe(ctx, t, vm.DoctorArgv(t), w, w); err != nil {
		fmt.Fprintln(w, "---")
		return append(checks, Check{Name: "vm doctor", Status: Fail, Detail: "the VM's aishell doctor failed (its report is above)",
			Hint: "fix what it reports in the VM (limactl shell " + t.Name + "), or recreate it from lima.yaml"})
	}
	fmt.Fprintln(w, "---")
	return append(checks, Check{Name: "vm doctor", Status: OK, Detail: "the VM's aishell doctor passes"})
}
