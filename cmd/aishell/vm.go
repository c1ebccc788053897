package main

import (
	"context"
	"io"
	"os"

	"github.com/aishell/aishell/vm"
)

// forwardToVM runs the command in the Lima or colima VM when this host has no containerd of
// its own (a Mac; a Linux desktop that asks with AISHELL_LIMA_INSTANCE or
// AISHELL_COLIMA_PROFILE) and says so with the exit code to end with. Commands that need no
// daemon (vm.Local) run here. Inside the VM it takes the variables the host passed instead.
func forwardToVM(command string, report func(io.Writer, error) int) (int, bool) {
	if err := vm.Adopt(); err != nil {
		return report(os.Stderr, err), true
	}
	if vm.Local(command) {
		return 0, false
	}
	t, ok, err := vm.Decide(vm.ThisHost())
	if err != nil {
		return report(os.Stderr, err), true
	}
	if !ok {
		return 0, false
	}
	return report(os.Stderr, vm.Forward(context.Background(), t, os.Args[1:])), true
}
