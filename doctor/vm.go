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
// reaches it, and that the VM's own `aishell doctor` passes, and writes the report to w as it
// goes, the VM's own report in it. decideErr is why no VM could be chosen, if none could.
func VM(ctx context.Context, t vm.Target, decideErr error, w io.Writer) []Check {
	var checks printed
	checks.w = w
	if decideErr != nil {
		return checks.add(failure("vm", decideErr))
	}
	skipRest := func(names ...string) []Check {
		for _, n := range names {
			checks.add(Check{Name: n, Status: Skip, Detail: "the VM is not running"})
		}
		return checks.all
	}
	exists, running, err := vm.Status(ctx, t)
	switch {
	case err != nil:
		checks.add(failure("vm", err))
		return skipRest("vm shell", "vm doctor")
	case !exists:
		c := Check{Name: "vm", Status: Fail, Detail: t.String() + " does not exist",
			Hint: fmt.Sprintf("limactl start --name=%s ./lima.yaml (in aishell's repository)", t.Name)}
		checks.add(c)
		return skipRest("vm shell", "vm doctor")
	case !running:
		hint := "limactl start " + t.Name
		if t.Kind == vm.Colima {
			hint = "colima start --profile " + t.Name + " --runtime containerd"
		}
		checks.add(Check{Name: "vm", Status: Fail, Detail: t.String() + " is not running", Hint: hint})
		return skipRest("vm shell", "vm doctor")
	}
	checks.add(Check{Name: "vm", Status: OK, Detail: t.String() + " is running; aishell runs its commands there"})
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var stderr strings.Builder
	if err := vm.Probe(sctx, t, []string{"true"}, io.Discard, &stderr); err != nil {
		checks.add(Check{Name: "vm shell", Status: Fail, Detail: fmt.Sprintf("cannot run a command in %s: %v %s", t, err, strings.TrimSpace(stderr.String())),
			Hint: "limactl shell " + t.Name + " true  (try --debug)"})
		return checks.add(Check{Name: "vm doctor", Status: Skip, Detail: "the VM is not reachable"})
	}
	checks.add(Check{Name: "vm shell", Status: OK, Detail: "commands run in " + t.String()})
	fmt.Fprintf(w, "      --- aishell doctor in %s:\n", t)
	if err := vm.Probe(ctx, t, vm.DoctorArgv(), w, w); err != nil {
		fmt.Fprintln(w, "      ---")
		return checks.add(Check{Name: "vm doctor", Status: Fail, Detail: "the VM's aishell doctor failed (its report is above)",
			Hint: "fix what it reports in the VM (limactl shell " + t.Name + "), or recreate it from lima.yaml"})
	}
	fmt.Fprintln(w, "      ---")
	return checks.add(Check{Name: "vm doctor", Status: OK, Detail: "the VM's aishell doctor passes"})
}

// printed are checks written to w as they are added.
type printed struct {
	w   io.Writer
	all []Check
}

func (p *printed) add(c Check) []Check {
	Print(p.w, []Check{c})
	p.all = append(p.all, c)
	return p.all
}
