package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/doctor"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/vm"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints aishell's version, from the build flags or the module's VCS stamp.
func (VersionCmd) Run() error {
	v := version
	if v == "" {
		v = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "dev-" + s.Value[:12]
				}
			}
		}
	}
	fmt.Println("aishell", v)
	return nil
}

// DoctorCmd checks the environment.
type DoctorCmd struct{}

// Run prints one verdict per piece and fails when something needed is missing.
func (DoctorCmd) Run(ctx context.Context, s *session) error {
	// On a host that forwards to a VM, the VM is what is checked.
	if t, forwards, err := vm.Decide(vm.ThisHost()); forwards || err != nil {
		return failIfFailed(doctor.VM(ctx, t, err, os.Stdout))
	}
	opt := doctor.DefaultOptions(s.host)
	if uc, err := s.User(); err == nil {
		opt.Foundation = build.FoundationSpec{BaseImage: uc.BaseImage, NodeImage: uc.NodeImage}
	}
	return printChecks(doctor.Run(ctx, s.Endpoints(), opt))
}

// printChecks prints the checks and fails when one failed.
func printChecks(checks []doctor.Check) error {
	doctor.Print(os.Stdout, checks)
	return failIfFailed(checks)
}

// failIfFailed fails when a check failed.
func failIfFailed(checks []doctor.Check) error {
	if failed := doctor.Failed(checks); len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "aishell: doctor: %d check(s) failed: %s\n", len(failed), strings.Join(failed, ", "))
		return errs.Exit(errs.CodeError)
	}
	return nil
}
