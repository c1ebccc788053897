package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/run"
)

// currentProject is the project of the current directory, or "" outside one when there need
// not be one; else err says why there is none, with hint.
func currentProject(s *session, needed bool, hint string) (string, error) {
	uc, err := s.User()
	if err != nil {
		return "", err
	}
	root, _, err := project.Current(s.where(uc))
	if err != nil {
		if !needed {
			return "", nil
		}
		return "", errs.WithHint(err, hint)
	}
	return root, nil
}

// PsCmd lists running sessions.
type PsCmd struct {
	All bool `help:"The sessions of every project, not only this one's."`
	JSONOutput
}

// psDoc is ps's JSON document.
type psDoc struct {
	Sessions []psSession `json:"sessions"`
}

type psSession struct {
	run.Session
	UptimeSeconds int64 `json:"uptime_seconds"`
}

// Run prints one line per session: name, project, harness and version, started, uptime,
// state and owner pid.
func (c PsCmd) Run(ctx context.Context, s *session) error {
	root, err := currentProject(s, !c.All, "aishell ps --all lists the sessions of every project")
	if err != nil {
		return err
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	if c.All {
		root = ""
	}
	list, err := run.Sessions(ctx, cc, root)
	if err != nil {
		return err
	}
	now := time.Now()
	doc := psDoc{Sessions: []psSession{}}
	for _, x := range list {
		doc.Sessions = append(doc.Sessions, psSession{Session: x, UptimeSeconds: int64(x.Uptime(now).Seconds())})
	}
	return c.print(doc, func(w io.Writer) error { return psText(w, doc, root == "") })
}

// psText is ps's table.
func psText(w io.Writer, doc psDoc, all bool) error {
	if len(doc.Sessions) == 0 {
		if all {
			_, err := fmt.Fprintln(w, "no running sessions")
			return err
		}
		_, err := fmt.Fprintln(w, "no running sessions in this project (aishell ps --all for every project)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROJECT\tHARNESS\tVERSION\tSTARTED\tUPTIME\tSTATE\tPID")
	for _, x := range doc.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", x.Name, x.Project, x.Purpose, dash(x.Version),
			x.Started.Local().Format("2006-01-02 15:04:05"), time.Duration(x.UptimeSeconds)*time.Second, stateText(x.Session), x.OwnerPID)
	}
	return tw.Flush()
}

// stateText is the task's state, with detached and a dead owner said.
func stateText(x run.Session) string {
	st := x.State
	if x.Detached {
		st += ",detached"
	}
	if !x.OwnerAlive {
		st += ",owner-gone"
	}
	return st
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// AttachCmd runs a process in a running session.
type AttachCmd struct {
	Name    string   `arg:"" help:"The session's name (aishell ps shows it): this project's, else the one other project's that has it; or its container ID."`
	Command []string `arg:"" optional:"" passthrough:"" help:"The command to run (after --); default: the session's own screen for a detached session, else bash."`
}

// Run starts the process as the session's own runs, and exits with its code.
func (c AttachCmd) Run(ctx context.Context, s *session, hub *run.SignalHub) error {
	root, _ := currentProject(s, false, "")
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	sess, err := run.Find(ctx, cc, root, c.Name, true)
	if err != nil {
		return err
	}
	code, err := run.Attach(ctx, cc, sess, run.AttachOptions{
		Args: dropDashes(c.Command), TTY: run.IsTerminal(), Runtime: run.DetectRuntime(s.host),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Signals: hub.Forward(),
	})
	if err != nil {
		return err
	}
	return errs.Exit(code)
}

// StopCmd ends sessions.
type StopCmd struct {
	Names []string      `arg:"" optional:"" help:"The sessions' names in this project (aishell ps shows them), or container IDs (any project)."`
	All   bool          `help:"Stop every session of this project (ps --all lists every project's; stop --all never reaches beyond this one)."`
	Time  time.Duration `default:"10s" help:"How long the process gets after SIGTERM before SIGKILL."`
}

// Run stops the sessions and removes what they hold, and says which.
func (c StopCmd) Run(ctx context.Context, s *session) error {
	if c.All == (len(c.Names) > 0) {
		return errs.Usage(fmt.Errorf("stop needs session names, or --all"), "aishell stop NAME (aishell ps lists them), or aishell stop --all")
	}
	root, err := currentProject(s, c.All, "run aishell stop --all in the project whose sessions to stop")
	if err != nil {
		return err
	}
	cc, err := s.Containerd(ctx)
	if err != nil {
		return err
	}
	var targets []run.Session
	if c.All {
		if targets, err = run.Sessions(ctx, cc, root); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, name := range c.Names {
		x, err := run.Find(ctx, cc, root, name, false) // never another project's by a name alone
		if err != nil {
			return err
		}
		if !seen[x.ID] {
			seen[x.ID] = true
			targets = append(targets, x)
		}
	}
	var failed []string
	for _, x := range targets {
		if err := run.Stop(ctx, cc, s.Endpoints().Snapshotter, x, c.Time); err != nil {
			fmt.Fprintln(os.Stderr, "aishell:", err)
			failed = append(failed, x.Name)
			continue
		}
		fmt.Printf("stopped %s\n", x.Name)
	}
	if len(failed) > 0 {
		return errs.WithHint(fmt.Errorf("%d session(s) not stopped: %s", len(failed), strings.Join(failed, ", ")), "aishell gc removes what they left once their aishell is gone")
	}
	if len(targets) == 0 {
		fmt.Println("no running sessions in this project")
	}
	return nil
}
