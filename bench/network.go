package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// networkModes are measured beside host, in this order, one run of each in turn.
var networkModes = []string{"host", "isolated", "allow-list", "none"}

// benchNetwork measures `aishell exec true` in each network mode, startRuns runs each after 2 warm-up
// runs, the modes interleaved so that the machine's drift touches them alike.
func benchNetwork(ctx context.Context) error {
	e, proj, err := newStartEnv("network")
	if err != nil {
		return err
	}
	defer e.close()
	defer os.RemoveAll(proj)
	cfg := filepath.Join(e.xdg, "aishell", "config.yaml")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, "network:\n  allow: [harness, npm, github.com]\n"...), 0o644); err != nil {
		return err
	}
	runs := map[string][]time.Duration{}
	for i := 0; i < startRuns+2; i++ {
		for _, m := range networkModes {
			if err := e.waitRunsGone(proj); err != nil {
				return err
			}
			d, _, err := e.aishellIn(proj, "exec", "--network", m, "true")
			if err != nil {
				return err
			}
			if i >= 2 {
				runs[m] = append(runs[m], d)
			}
		}
	}
	host := median(runs["host"])
	var rows []string
	for _, m := range networkModes {
		med := median(runs[m])
		rows = append(rows, fmt.Sprintf("| %s | `aishell exec --network %s true` | %d ms | %+d ms |", m, m, med.Milliseconds(), (med-host).Milliseconds()))
	}
	var s strings.Builder
	fmt.Fprintf(&s, "## Network modes (`go run ./bench network`)\n\nRun %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&s, "`true` in the foundation with claude and gemini mounted, %d runs of each mode after 2 warm-up runs, interleaved. isolated starts slirp4netns and loads nft rules into the container's namespace; allow-list opens the proxy's socket in it; none adds nothing.\n\n", startRuns)
	fmt.Fprintf(&s, "| mode | command | median | vs host |\n|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	fmt.Print(s.String())
	return writeSection("network", s.String())
}
