package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/doctor"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/vm"
)

// VersionCmd prints the version.
type VersionCmd struct {
	JSONOutput
}

// Run prints aishell's version, from the build flags or the module's VCS stamp.
func (c VersionCmd) Run() error {
	v := versionInfo(version, debug.ReadBuildInfo)
	return c.print(v, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "aishell", v.Version)
		return err
	})
}

// versionDoc is `aishell version --json`.
type versionDoc struct {
	Version    string `json:"version"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Commit     string `json:"commit"`      // the VCS revision the binary was built from ("" when unknown)
	CommitTime string `json:"commit_time"` // RFC 3339
	Modified   bool   `json:"modified"`    // built from a work tree with uncommitted changes
}

// versionInfo is aishell's version: the one set at build time, else "dev" or "dev-<commit>",
// with what the binary's build info knows.
func versionInfo(set string, read func() (*debug.BuildInfo, bool)) versionDoc {
	v := versionDoc{Version: set, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := read(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
		if len(v.Commit) >= 12 {
			v.Version = "dev-" + v.Commit[:12]
		}
	}
	return v
}

// DoctorCmd checks the environment.
type DoctorCmd struct {
	JSONOutput
}

// Run prints one verdict per piece and fails (exit code 1) when something needed is missing.
// With --json the document says what failed, and stderr stays empty. On a host that forwards
// to a VM, the VM is what is checked.
func (c DoctorCmd) Run(ctx context.Context, s *session) error {
	if t, forwards, err := vm.Decide(vm.ThisHost()); forwards || err != nil {
		if c.JSON {
			return c.report(doctor.VM(ctx, t, err, io.Discard))
		}
		return c.failIfFailed(doctor.VM(ctx, t, err, os.Stdout)) // printed as they ran
	}
	opt := doctor.DefaultOptions(s.host)
	if uc, err := s.User(); err == nil {
		opt.Foundation = build.FoundationSpec{BaseImage: uc.BaseImage, NodeImage: uc.NodeImage}
		opt.Network = uc.Network.Mode
	}
	return c.report(doctor.Run(ctx, s.Endpoints(), opt))
}

// report prints the checks, as text or JSON, and fails when one failed.
func (c DoctorCmd) report(checks []doctor.Check) error {
	if err := c.print(doctorJSON(checks), func(w io.Writer) error { doctor.Print(w, checks); return nil }); err != nil {
		return err
	}
	return c.failIfFailed(checks)
}

// failIfFailed fails when a check failed, saying which on stderr unless --json said it.
func (c DoctorCmd) failIfFailed(checks []doctor.Check) error {
	if failed := doctor.Failed(checks); len(failed) > 0 {
		if !c.JSON {
			fmt.Fprintf(os.Stderr, "aishell: doctor: %d check(s) failed: %s\n", len(failed), strings.Join(failed, ", "))
		}
		return errs.Exit(errs.CodeError)
	}
	return nil
}

// doctorDoc is `aishell doctor --json`.
type doctorDoc struct {
	OK     bool         `json:"ok"`     // no check failed
	Failed []string     `json:"failed"` // the names of the checks that failed
	Checks []doctorLine `json:"checks"`
}

type doctorLine struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail or skip
	OK     bool   `json:"ok"`     // ok or warn: aishell can work with it
	Detail string `json:"detail"`
	Hint   string `json:"hint"` // how to fix it
}

func doctorJSON(checks []doctor.Check) doctorDoc {
	d := doctorDoc{Failed: doctor.Failed(checks), Checks: []doctorLine{}}
	if d.Failed == nil {
		d.Failed = []string{}
	}
	d.OK = len(d.Failed) == 0
	for _, c := range checks {
		d.Checks = append(d.Checks, doctorLine{Name: c.Name, Status: strings.ToLower(c.Status.String()), OK: c.Status == doctor.OK || c.Status == doctor.Warn, Detail: c.Detail, Hint: c.Hint})
	}
	return d
}
