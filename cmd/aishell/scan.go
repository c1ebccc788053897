package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/sensitive"
)

// ScanCmd is `aishell scan`: gitleaks' rules over the project's files and its git history.
type ScanCmd struct {
	Dir       string `arg:"" optional:"" type:"path" help:"A directory in the project to scan (default: the current directory)."`
	NoHistory bool   `help:"Scan the files of the working tree only, not the git history."`
	JSON      bool   `name:"json" help:"Print the findings as JSON."`
}

// Run scans, prints one line per finding and a summary, records when the project was scanned,
// and exits 1 when anything was found.
func (c ScanCmd) Run(ctx context.Context, s *session) error {
	uc, err := s.User()
	if err != nil {
		return err
	}
	var root string
	if c.Dir != "" {
		root, err = project.Root(c.Dir, s.where(uc))
	} else {
		root, _, err = project.Current(s.where(uc))
	}
	if err != nil {
		return err
	}
	res, err := sensitive.Scan(ctx, root, sensitive.ScanOptions{Config: uc.Sensitive, Person: uc.Person, NoHistory: c.NoHistory})
	if err != nil {
		return err
	}
	if c.JSON {
		if err := sensitive.WriteScanJSON(os.Stdout, res); err != nil {
			return err
		}
	} else {
		sensitive.WriteScan(os.Stdout, res)
	}
	if !c.NoHistory {
		if err := sensitive.RecordScan(uc.Path, root, uc.Person, time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "aishell: warning:", err)
		}
	}
	if len(res.Leaks) > 0 {
		return errs.Exit(errs.CodeError)
	}
	return nil
}

// checkSensitive is the sensitive-file check before a run in the project at root.
func checkSensitive(s *session, uc *userConfig, root string) error {
	return sensitive.Check(root, uc.Sensitive, sensitive.CheckOptions{
		TTY: term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stderr.Fd())),
		In:  os.Stdin, Out: os.Stderr, Unsafe: s.g.Unsafe, Person: uc.Person, ConfigPath: uc.Path,
	})
}
