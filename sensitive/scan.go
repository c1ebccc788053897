package sensitive

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
	"github.com/zricethezav/gitleaks/v8/report"

	"github.com/aishell/aishell/config"
)

// ScanOptions are what Scan reads and as whom.
type ScanOptions struct {
	// Config is the user's sensitive section: findings in allowed paths are not reported.
	Config config.SensitiveConfig
	// Person runs git (under sudo, git runs as them).
	Person config.Person
	// NoHistory scans the working tree only.
	NoHistory bool
}

// Leak is one secret Scan found.
type Leak struct {
	Commit      string `json:"commit,omitempty"` // "" in the working tree
	File        string `json:"file"`             // relative to the project root
	Line        int    `json:"line"`             // 1-based; 0 for a rule on the file's name alone
	Rule        string `json:"rule"`             // gitleaks' rule id, e.g. aws-access-token
	Description string `json:"description"`
	Match       string `json:"match"` // what matched, with the secret redacted
}

// ScanResult is what Scan found and what it read.
type ScanResult struct {
	Leaks   []Leak        `json:"leaks"`
	Files   int           `json:"files"`   // files of the working tree read
	Commits int           `json:"commits"` // commits whose changes were read
	History bool          `json:"history"` // the history was scanned (a git work tree)
	Took    time.Duration `json:"-"`
}

// maxFileBytes bounds what is read of one file of the working tree; larger files are scanned
// by name only (as binary files are).
const maxFileBytes = 10 << 20

// newDetector is gitleaks' detector with its default rules, as `gitleaks git` and `gitleaks
// dir` run them, except that `gitleaks:allow` comments in the project are not obeyed: only
// the user's allow list may silence a finding. gitleaks' own log lines are switched off.
func newDetector() (*detect.Detector, error) {
	logging.Logger = logging.Logger.Level(zerolog.Disabled)
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		return nil, fmt.Errorf("gitleaks rules: %w", err)
	}
	d.MaxDecodeDepth = 5
	d.IgnoreGitleaksAllow = true
	return d, nil
}

// fragment is a piece of text to look for secrets in: a file, or the lines a commit added to
// one. lines maps the text's lines (0-based) to the file's (nil: the text starts at line 1).
type fragment struct {
	commit, file string
	text         string
	lines        []int
}

// Scan looks for secrets with gitleaks' rules in every file of the working tree of the
// project at root (the directories the check skips aside: see walk), and, in a git work tree,
// in every line any commit of any ref added. Project files tell it nothing: a .gitleaks.toml,
// .gitleaksignore or gitleaks:allow comment is not obeyed.
func Scan(ctx context.Context, root string, opts ScanOptions) (ScanResult, error) {
	start := time.Now()
	var res ScanResult
	r, err := compile(opts.Config)
	if err != nil {
		return res, err
	}
	d, err := newDetector()
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	frags := make(chan fragment, 64)
	var (
		mu    sync.Mutex
		leaks []Leak
		seen  = map[Leak]bool{}
		wg    sync.WaitGroup
	)
	for i := 0; i < runtime.NumCPU(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range frags {
				found := d.DetectContext(ctx, detect.Fragment{Raw: f.text, FilePath: f.file, CommitSHA: f.commit})
				mu.Lock()
				for _, l := range toLeaks(f, found) {
					if !seen[l] && !r.allowed(l.File) {
						seen[l] = true
						leaks = append(leaks, l)
					}
				}
				mu.Unlock()
			}
		}()
	}

	produce := func() error {
		defer close(frags)
		files, err := treeFragments(ctx, root, r, frags)
		res.Files = files
		if err != nil || opts.NoHistory || !isGitRepo(root) {
			return err
		}
		res.History = true
		res.Commits, err = historyFragments(ctx, root, opts.Person, frags)
		return err
	}
	err = produce()
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return res, err
	}
	sort.Slice(leaks, func(i, j int) bool {
		a, b := leaks[i], leaks[j]
		if (a.Commit == "") != (b.Commit == "") {
			return a.Commit == ""
		}
		if a.Commit != b.Commit {
			return a.Commit < b.Commit
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Rule < b.Rule
	})
	res.Leaks = leaks
	res.Took = time.Since(start)
	return res, nil
}

// toLeaks turns gitleaks' findings in f into leaks, with f's line numbers and redacted matches.
func toLeaks(f fragment, found []report.Finding) []Leak {
	var out []Leak
	for _, x := range found {
		line := 0
		if x.Secret != "" || x.StartLine != 0 { // a rule on the name alone has no line
			line = x.StartLine + 1
			if f.lines != nil && x.StartLine >= 0 && x.StartLine < len(f.lines) {
				line = f.lines[x.StartLine]
			}
		}
		out = append(out, Leak{Commit: f.commit, File: f.file, Line: line, Rule: x.RuleID, Description: x.Description,
			Match: redactMatch(x.Match, x.Secret)})
	}
	return out
}

// treeFragments sends every file of the working tree that the user does not allow to out,
// binary and very large files by name only, and returns how many it read.
func treeFragments(ctx context.Context, root string, r rules, out chan<- fragment) (int, error) {
	n := 0
	err := walk(root, func(rel, _, _ string) {
		if ctx.Err() != nil || r.allowed(rel) {
			return
		}
		b, err := readHead(filepath.Join(root, rel), maxFileBytes+1)
		if err != nil {
			return
		}
		n++
		text := string(b)
		if len(b) > maxFileBytes || bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			text = "" // binary, or too large: its name may still tell
		}
		select {
		case out <- fragment{file: rel, text: text}:
		case <-ctx.Done():
		}
	})
	return n, err
}
