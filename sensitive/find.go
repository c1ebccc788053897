package sensitive

import (
	"path/filepath"
	"sort"

	"github.com/aishell/aishell/config"
)

// Find walks the project at root and returns the files that hold secrets, by the built-in
// detectors and the user's patterns, less what the user allows; highest severity first, then
// by path. Unignored is not set: see markUnignored.
func Find(root string, cfg config.SensitiveConfig) ([]Finding, error) {
	r, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return find(root, r)
}

func find(root string, r rules) ([]Finding, error) {
	var found []Finding
	add := func(rel, kind string, sev Severity) {
		if !r.allowed(rel) {
			found = append(found, Finding{Path: rel, Kind: kind, Severity: sev})
		}
	}
	err := walk(root, func(rel, dir, name string) {
		for _, p := range r.patterns {
			if p.glob.match(rel) {
				add(rel, p.kind, p.severity)
				return
			}
		}
		d := classify(rel, dir, name)
		if d == nil || r.allowed(rel) {
			return
		}
		sev, kind := d.severity, d.kind
		if d.content != nil {
			head, err := readHead(filepath.Join(root, rel), headMax)
			if err != nil {
				return
			}
			var k string
			if sev, k = d.content(head); k != "" {
				kind = k
			}
		}
		if sev != 0 {
			add(rel, kind, sev)
		}
	})
	if err != nil {
		return nil, err
	}
	// The remote URLs in the project's own .git/config, which the walk does not enter.
	const gitConfig = ".git/config"
	if !r.allowed(gitConfig) {
		if head, err := readHead(filepath.Join(root, gitConfig), headMax); err == nil {
			if sev, _ := dGitRemote.content(head); sev != 0 {
				found = append(found, Finding{Path: gitConfig, Kind: dGitRemote.kind, Severity: sev})
			}
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Severity != found[j].Severity {
			return found[i].Severity > found[j].Severity
		}
		return found[i].Path < found[j].Path
	})
	return found, nil
}
