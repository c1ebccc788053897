package sensitive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// CheckOptions are how Check may talk to the person before a run.
type CheckOptions struct {
	// TTY is set when a person can be asked: the answer is read from In, on a terminal.
	TTY bool
	In  io.Reader
	// Out gets the report, the question and the reminder (aishell's stderr).
	Out io.Writer
	// Unsafe (--unsafe) lets a run go on past high-severity files without asking.
	Unsafe bool
	// Person runs git (under sudo, git runs as them) and owns the notice marks.
	Person config.Person
	// ConfigPath is the user's config file: the scan records and notices are beside it. When
	// empty, no reminder is shown.
	ConfigPath string
	// Now is the time the reminder compares the last scan with (zero: the current time).
	Now time.Time
}

// Check is the sensitive-file check before a run in the project at root. It reports the files
// that look like secrets (see Find), with the user's patterns and allow list from cfg. Medium
// and low ones are a warning; high ones are asked about on a terminal (default no), and
// without one the run is refused, unless opts.Unsafe. A run that goes on may get a reminder
// that the project's last `aishell scan` is old, or never was.
func Check(root string, cfg config.SensitiveConfig, opts CheckOptions) error {
	found, err := Find(root, cfg)
	if err != nil {
		return err
	}
	if err := decide(root, found, opts); err != nil {
		return err
	}
	if opts.TTY {
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		if line := reminder(opts.ConfigPath, root, opts.Person, now); line != "" {
			fmt.Fprintln(opts.Out, line)
		}
	}
	return nil
}

// decide reports the findings and applies the policy: nil when the run may go on.
func decide(root string, found []Finding, opts CheckOptions) error {
	if len(found) == 0 {
		return nil
	}
	markUnignored(context.Background(), root, opts.Person, found)
	var high []Finding
	for _, f := range found {
		if f.Severity == High {
			high = append(high, f)
		}
	}
	if len(high) == 0 {
		fmt.Fprintln(opts.Out, "aishell: warning: these files of the project may hold secrets, and the agent can read them:")
	} else {
		fmt.Fprintln(opts.Out, "aishell: these files of the project hold secrets, and the agent would be able to read them:")
	}
	writeReport(opts.Out, found)
	if len(high) == 0 {
		return nil
	}
	switch {
	case opts.Unsafe:
		fmt.Fprintln(opts.Out, "aishell: going on (--unsafe)")
		return nil
	case opts.TTY:
		fmt.Fprint(opts.Out, "continue? [y/N] ")
		answer, _ := bufio.NewReader(opts.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a == "y" || a == "yes" {
			return nil
		}
		return errs.WithHint(fmt.Errorf("not running: %s in the project", count(len(high), "high-severity secret file")), howToProceed(high, opts.ConfigPath))
	}
	return errs.WithHint(fmt.Errorf("refusing to run without a terminal to ask: %s in the project (listed above)", count(len(high), "high-severity secret file")), howToProceed(high, opts.ConfigPath))
}

// howToProceed is the hint of a refusal: the ways on, with the first file as the example.
func howToProceed(high []Finding, cfgPath string) string {
	if cfgPath == "" {
		cfgPath = "~/.config/aishell/config.yaml"
	}
	return fmt.Sprintf("move them out of the project, allow them in %s (sensitive: {allow: [%s]}), or run with --unsafe", cfgPath, high[0].Path)
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
