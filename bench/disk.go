package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
)

// benchDisk compares the bytes harnesses take for N projects: aishell stores each harness
// version once as a snapshot and mounts it into every project's container; the ancestor bakes
// the harnesses into an image per project (each project's image was built on its own base
// image build, so their harness layers are not shared).
func benchDisk(ctx context.Context) error {
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	if _, _, err := e.aishell(append([]string{"build", "--progress=quiet"}, allHarnessFlags()...)...); err != nil {
		return err
	}
	cfg, err := config.Load(filepath.Join(e.xdg, "aishell", "config.yaml"))
	if err != nil {
		return err
	}
	var total int64
	var parts []string
	for _, name := range cfg.HarnessNames() {
		h, err := harness.Lookup(name)
		if err != nil {
			return err
		}
		v := cfg.Harnesses[name].Resolved
		size := e.snapshotSize(h.ImageRef(v))
		total += size
		parts = append(parts, fmt.Sprintf("%s %s %s", name, v, mb(size)))
	}
	var rows []string
	for _, n := range []int64{1, 3, 10} {
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %.0fx |", n, mb(total), mb(n*total), float64(n)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Disk (`make bench`)\n\nRun %s. Harness snapshots measured with containerd's snapshot usage: %s; together %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.Join(parts, ", "), mb(total))
	fmt.Fprintf(&b, "| projects | aishell (snapshots shared) | ancestor (N baked images, harness layers not shared) | ratio |\n|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	fmt.Fprintf(&b, "The ancestor column is computed from the measured snapshot sizes (N x one copy). Projects whose images were built "+
		"on the same base build do share those layers; after every harness bump they drift apart until each has its own.\n\n")
	fmt.Print(b.String())
	return writeSection("disk", b.String())
}

func allHarnessFlags() []string {
	var flags []string
	for _, n := range harness.Names() {
		flags = append(flags, "--with-"+n)
	}
	return flags
}
