package sensitive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/labels"
)

// remindAfter is how old the last scan of a project may be before a run reminds the person.
const remindAfter = 7 * 24 * time.Hour

// recordPath is the file beside the user's config at cfgPath that records when the project
// at root was last scanned: scans/<hash12 of the path>.
func recordPath(cfgPath, root string) string {
	return filepath.Join(filepath.Dir(cfgPath), "scans", labels.ProjectKey(root))
}

// LastScan is when `aishell scan` last completed for the project at root, if ever.
func LastScan(cfgPath, root string) (time.Time, bool) {
	b, err := os.ReadFile(recordPath(cfgPath, root))
	if err != nil {
		return time.Time{}, false
	}
	first, rest, _ := strings.Cut(string(b), "\n")
	t, err := time.Parse(time.RFC3339, first)
	if err != nil || strings.TrimSpace(rest) != root { // not this project's (or not a record)
		return time.Time{}, false
	}
	return t, true
}

// RecordScan records that a scan of the project at root completed at t: the time, then the
// path, in a file the person owns (as the directories made for it).
func RecordScan(cfgPath, root string, p config.Person, t time.Time) error {
	path := recordPath(cfgPath, root)
	if err := p.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("record the scan: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t.UTC().Format(time.RFC3339)+"\n"+root+"\n"), 0o644); err != nil {
		return fmt.Errorf("record the scan: %w", err)
	}
	if err := p.Own(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("record the scan: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("record the scan: %w", err)
	}
	return nil
}

// reminder is the line a run shows about the project's last scan, or "": when it is older
// than remindAfter, every time; when there was none, once per project (a notice).
func reminder(cfgPath, root string, p config.Person, now time.Time) string {
	if cfgPath == "" {
		return ""
	}
	last, ok := LastScan(cfgPath, root)
	switch {
	case !ok:
		if config.NoticeOnce(cfgPath, p, "scan-"+labels.ProjectKey(root)) {
			return "aishell: this project was never scanned for secrets: `aishell scan` reads its files and its git history (shown once)"
		}
	case now.Sub(last) > remindAfter:
		return fmt.Sprintf("aishell: the last `aishell scan` of this project was %d days ago: run it again to look for new secrets", int(now.Sub(last).Hours()/24))
	}
	return ""
}
