package sensitive

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// shortCommit is how many hex digits of a commit the scan's lines show.
const shortCommit = 12

// WriteScan writes one line per leak, `file:line: rule: match` in the working tree and
// `commit:file:line: rule: match` in the history, then a summary: how many, where, by rule.
func WriteScan(w io.Writer, res ScanResult) {
	for _, l := range res.Leaks {
		where := l.File
		if l.Line > 0 {
			where += ":" + fmt.Sprint(l.Line)
		}
		if l.Commit != "" {
			where = l.Commit[:min(shortCommit, len(l.Commit))] + ":" + where
		}
		fmt.Fprintf(w, "%s: %s: %s\n", where, l.Rule, l.Match)
	}
	read := count(res.Files, "file")
	if res.History {
		read += " and " + count(res.Commits, "commit")
	} else {
		read += " (not the git history)"
	}
	took := res.Took.Round(time.Millisecond)
	if len(res.Leaks) == 0 {
		fmt.Fprintf(w, "aishell scan: no secrets found in %s, in %s\n", read, took)
		return
	}
	tree, commits := 0, map[string]bool{}
	rules := map[string]int{}
	for _, l := range res.Leaks {
		if l.Commit == "" {
			tree++
		} else {
			commits[l.Commit] = true
		}
		rules[l.Rule]++
	}
	names := make([]string, 0, len(rules))
	for r := range rules {
		names = append(names, r)
	}
	sort.Slice(names, func(i, j int) bool {
		if rules[names[i]] != rules[names[j]] {
			return rules[names[i]] > rules[names[j]]
		}
		return names[i] < names[j]
	})
	var by []string
	for _, r := range names {
		by = append(by, fmt.Sprintf("%s %d", r, rules[r]))
	}
	fmt.Fprintf(w, "aishell scan: %s: %d in the working tree, %d in the history (%s); by rule: %s; read %s in %s\n",
		count(len(res.Leaks), "finding"), tree, len(res.Leaks)-tree, count(len(commits), "commit"), strings.Join(by, ", "), read, took)
}

// WriteScanJSON writes the result as one JSON object: leaks, files, commits, history.
func WriteScanJSON(w io.Writer, res ScanResult) error {
	if res.Leaks == nil {
		res.Leaks = []Leak{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
