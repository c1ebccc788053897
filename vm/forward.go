package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/aishell/aishell/errs"
)

// Forward runs aishell with args in the VM, in the directory the VM sees as the host's working
// directory, and ends as it ended: nil for 0, errs.Exit with its code otherwise (128+N when it
// died by signal N). The child inherits stdin, stdout and stderr, so on a terminal limactl's ssh
// gets the terminal itself (-t: raw mode, window size changes); SIGINT, SIGTERM and SIGHUP sent
// to this process are passed on to it.
func Forward(ctx context.Context, t Target, args []string) error {
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("the working directory: %w", err)
	}
	home, _ := os.UserHomeDir()
	ms, err := Mounts(ctx, t, home)
	if err != nil {
		return err
	}
	dir, ok := GuestPath(ms, cwd)
	if !ok {
		return notVisible(t, cwd, ms)
	}
	env, cleanup, err := passEnv(t, ms, home, os.Environ())
	if err != nil {
		return err
	}
	defer cleanup()
	argv := append(append([]string{"env"}, env...), append([]string{"aishell"}, args...)...)
	return runChild(Command(t, dir, argv))
}

// runChild runs argv with this process's streams and ends as it ends.
func runChild(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errs.WithHint(fmt.Errorf("%s is not on PATH", argv[0]), "install it (README: On a Mac), or set AISHELL_VM=none to run here")
		}
		return err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	return exitOf(err)
}

// exitOf turns the child's end into aishell's.
func exitOf(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return errs.Exit(128 + int(ws.Signal()))
	}
	return errs.Exit(ee.ExitCode())
}

// ensureDir makes dir (0700) for the env file.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// Probe runs argv in the VM (in its root directory) with the given streams, for doctor.
func Probe(ctx context.Context, t Target, argv []string, stdout, stderr io.Writer) error {
	full := Command(t, "/", argv)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}

// DoctorArgv is the VM's own doctor, as the forwarder would run it.
func DoctorArgv() []string {
	return []string{"env", EnvInVM + "=1", "aishell", "doctor"}
}
