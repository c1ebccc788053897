// Package sensitive spots secrets in a project before an agent sees them. Two ways, for two
// moments:
//
//   - Check, before every run: a walk of the project's working tree that reports files which,
//     by their name, their place or a look at their first bytes, hold secrets (private keys,
//     .env files, cloud credentials, kubeconfigs, terraform state…), each with a severity. A
//     high one is asked about on a terminal and refused without one; medium and low ones are a
//     warning. It reads nothing but names and the first kilobytes of a few kinds of file, so it
//     costs milliseconds on a project of ten thousand files.
//   - Scan, for `aishell scan`: gitleaks' rules over the content of every file in the working
//     tree and every line ever added in the git history, with the secrets redacted in what is
//     shown. When it last ran is recorded per project, and Check reminds the person when that
//     was long ago.
//
// Both run on the host and read the project; neither runs anything from it. Git, when it is
// asked (which files git ignores, the history), runs with every setting of the project's own
// .git/config that could start a program switched off (see gitCommand). Only the user's
// config may add patterns or allow files: a project cannot vouch for its own secrets.
package sensitive

import (
	"fmt"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// Severity is how bad it is for the agent to read a file.
type Severity int

const (
	// Low files may hold a secret (a shell history, an encrypted store): a warning.
	Low Severity = iota + 1
	// Medium files often hold secrets, or protected ones (.env, *.tfvars, keystores): a warning.
	Medium
	// High files are secrets (private keys, cloud credentials, tokens): a run asks first.
	High
)

func (s Severity) String() string {
	switch s {
	case High:
		return "high"
	case Medium:
		return "medium"
	case Low:
		return "low"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity reads high, medium or low.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "high":
		return High, nil
	case "medium":
		return Medium, nil
	case "low":
		return Low, nil
	}
	return 0, fmt.Errorf("severity %q is not high, medium or low", s)
}

// Finding is one file the check reports.
type Finding struct {
	Path     string // relative to the project root, with / between names
	Kind     string // what the file is, e.g. "SSH private key"
	Severity Severity
	// Unignored is set when the project is a git work tree and git would not ignore the file:
	// it is tracked, or `git add .` would add it.
	Unignored bool
}

// userPattern is one of the user's sensitive.patterns, compiled.
type userPattern struct {
	glob     glob
	severity Severity
	kind     string
}

// rules are the user's patterns and allow list, compiled.
type rules struct {
	patterns []userPattern
	allow    []glob
}

// compile checks the user's sensitive section; a bad glob or severity is a config error.
func compile(cfg config.SensitiveConfig) (rules, error) {
	var r rules
	bad := func(err error) error {
		return errs.Usage(fmt.Errorf("config: sensitive: %w", err), "fix the sensitive section of ~/.config/aishell/config.yaml")
	}
	for i, p := range cfg.Patterns {
		g, err := compileGlob(p.Glob)
		if err != nil {
			return r, bad(fmt.Errorf("patterns[%d]: %w", i, err))
		}
		sev, err := ParseSeverity(p.Severity)
		if err != nil {
			return r, bad(fmt.Errorf("patterns[%d] (%s): %w", i, p.Glob, err))
		}
		kind := p.Description
		if kind == "" {
			kind = "matches " + p.Glob
		}
		r.patterns = append(r.patterns, userPattern{glob: g, severity: sev, kind: kind})
	}
	for i, a := range cfg.Allow {
		g, err := compileGlob(a)
		if err != nil {
			return r, bad(fmt.Errorf("allow[%d]: %w", i, err))
		}
		r.allow = append(r.allow, g)
	}
	return r, nil
}

// allowed reports whether the user's allow list covers rel.
func (r rules) allowed(rel string) bool {
	for _, g := range r.allow {
		if g.match(rel) {
			return true
		}
	}
	return false
}
