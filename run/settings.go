package run

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// PreStartLog is where pre_start's output goes, inside the container.
const PreStartLog = "/tmp/pre-start.log"

// applySettings adds the run settings of the merged config to the run: its mounts (a missing
// source is said and skipped; links in a source are followed here, so the container gets what
// was checked), its env (over what passed through) and its pre_start.
func applySettings(o *Options, req Request, lookup func(string) (string, bool)) error {
	for _, spec := range req.Config.Mounts {
		m, err := config.ParseMount(spec, req.Person.Home, req.Project, lookup)
		if err != nil {
			return errs.Usage(fmt.Errorf("config: %w", err), "fix the mounts of "+req.ConfigPath)
		}
		src, err := filepath.EvalSymlinks(m.Source)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(req.Warn, "aishell: mounts: %s does not exist; skipped\n", m.Source)
			continue
		}
		if err != nil {
			return fmt.Errorf("mounts: %s: %w", spec, err)
		}
		m.Source = src
		o.Mounts = append(o.Mounts, m)
	}
	o.Env = append(o.Env, req.Config.Env.Values(lookup)...)
	if o.PreStart = req.Config.PreStart.Script(); o.PreStart != "" {
		fmt.Fprintf(req.Warn, "aishell: pre_start runs in the background; its output is in %s inside the sandbox\n", PreStartLog)
	}
	return nil
}

// preStartArgs starts script in the background (detached from the process, its output in
// PreStartLog, no stdin), then execs args: the script is an argument of sh, never spliced into
// its command line.
func preStartArgs(script string, args []string) []string {
	return append([]string{"/bin/sh", "-c", `(/bin/sh -c "$1" </dev/null >` + PreStartLog + ` 2>&1 &); shift; exec "$@"`, "aishell-pre-start", script}, args...)
}
