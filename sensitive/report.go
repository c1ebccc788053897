package sensitive

import (
	"fmt"
	"io"
	"strings"
)

// groupOver is how many files of one kind are listed one a line; more are shown as one line
// with their count and the first groupExamples.
const (
	groupOver     = 3
	groupExamples = 3
)

// group is the files of one kind and severity.
type group struct {
	severity Severity
	kind     string
	files    []Finding
}

// groups gathers findings (in Find's order) by severity and kind, in the order they first come.
func groups(found []Finding) []group {
	var gs []group
	at := map[string]int{}
	for _, f := range found {
		key := f.Severity.String() + "\x00" + f.Kind
		i, ok := at[key]
		if !ok {
			i = len(gs)
			at[key] = i
			gs = append(gs, group{severity: f.Severity, kind: f.Kind})
		}
		gs[i].files = append(gs[i].files, f)
	}
	return gs
}

const notIgnored = "not in .gitignore"

// writeReport writes one line per file, `  high    SSH private key: deploy/id_rsa (not in
// .gitignore)`, or per kind when it has more than groupOver files: `  medium  environment
// file (.env): 12 files, e.g. a/.env, b/.env, c/.env (9 not in .gitignore)`.
func writeReport(w io.Writer, found []Finding) {
	for _, g := range groups(found) {
		if len(g.files) <= groupOver {
			for _, f := range g.files {
				note := ""
				if f.Unignored {
					note = " (" + notIgnored + ")"
				}
				fmt.Fprintf(w, "  %-7s %s: %s%s\n", g.severity, g.kind, f.Path, note)
			}
			continue
		}
		var ex []string
		unignored := 0
		for i, f := range g.files {
			if i < groupExamples {
				ex = append(ex, f.Path)
			}
			if f.Unignored {
				unignored++
			}
		}
		note := ""
		if unignored > 0 {
			note = fmt.Sprintf(" (%d %s)", unignored, notIgnored)
		}
		fmt.Fprintf(w, "  %-7s %s: %d files, e.g. %s, …%s\n", g.severity, g.kind, len(g.files), strings.Join(ex, ", "), note)
	}
}
