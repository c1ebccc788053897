package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/run"
)

const startRuns = 30

// newStartEnv is the set-up of the start-latency benchmarks: a bench environment with claude and
// gemini built, and an empty git project (aishell-bench-<name>-*) to run in, which the caller
// removes.
func newStartEnv(name string) (*env, string, error) {
	e, err := newEnv()
	if err != nil {
		return nil, "", err
	}
	if _, _, err := e.aishell("build", "--with-claude", "--with-gemini", "--progress=quiet"); err != nil {
		e.close()
		return nil, "", err
	}
	proj, err := os.MkdirTemp("", "aishell-bench-"+name+"-")
	if err != nil {
		e.close()
		return nil, "", err
	}
	exec.Command("git", "init", "-q", proj).Run()
	return e, proj, nil
}

// benchStart measures the start latency of `true` in the foundation image: raw runc on a
// prepared bundle (the floor), ctr run --rm (with and without seccomp), nerdctl run --rm --net
// host, and aishell exec with
// two harness snapshots mounted, startRuns runs each after 2 warm-up runs.
func benchStart(ctx context.Context) error {
	e, proj, err := newStartEnv("start")
	if err != nil {
		return err
	}
	defer e.close()
	defer os.RemoveAll(proj)
	image := build.FoundationImage
	addr, ns := os.Getenv("CONTAINERD_ADDRESS"), e.ns

	type tool struct {
		name, shown string
		cmd         func(i int) []string
		skip        string
	}
	var tools []tool

	// runc on a bundle whose rootfs is the foundation, mounted once.
	bundle, err := os.MkdirTemp("", "aishell-bench-bundle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bundle)
	rootfs := filepath.Join(bundle, "rootfs")
	os.Mkdir(rootfs, 0o755)
	if _, _, err := e.run("ctr", "--address", addr, "-n", ns, "images", "mount", image, rootfs); err != nil {
		return err
	}
	defer exec.Command("ctr", "--address", addr, "-n", ns, "images", "unmount", "--rm", rootfs).Run()
	if err := writeBundleConfig(bundle); err != nil {
		return err
	}
	runcRoot := filepath.Join(bundle, "runc-root")
	tools = append(tools, tool{name: "runc run (prepared bundle, the floor)", shown: "runc --root R run -b BUNDLE ID",
		cmd: func(i int) []string {
			return []string{"runc", "--root", runcRoot, "run", "-b", bundle, fmt.Sprintf("bench-runc-%d", i)}
		}})
	tools = append(tools, tool{name: "ctr run --rm", shown: "ctr -n aishell run --rm IMAGE ID true",
		cmd: func(i int) []string {
			return []string{"ctr", "--address", addr, "-n", ns, "run", "--rm", image, fmt.Sprintf("bench-ctr-%d-%d", os.Getpid(), i), "true"}
		}})
	nerdctl, nerr := exec.Command("test/env/install-nerdctl.sh").Output()
	nerdTool := tool{name: "nerdctl run --rm --net host", shown: "nerdctl -n aishell run --rm --net host IMAGE true"}
	if nerr != nil {
		nerdTool.skip = "nerdctl could not be built from the module proxy here: " + nerr.Error()
	} else {
		bin := strings.TrimSpace(string(nerdctl))
		nerdTool.cmd = func(int) []string {
			return []string{bin, "--address", addr, "--namespace", ns, "run", "--rm", "--net", "host", image, "true"}
		}
	}
	tools = append(tools, nerdTool)
	// ctr with a seccomp profile, as every aishell run has (ctr applies none unless asked).
	ctrSeccomp := tool{name: "ctr run --rm --seccomp (containerd's default profile, for comparison)", shown: "ctr -n aishell run --rm --seccomp IMAGE ID true",
		cmd: func(i int) []string {
			return []string{"ctr", "--address", addr, "-n", ns, "run", "--rm", "--seccomp", image, fmt.Sprintf("bench-ctrs-%d-%d", os.Getpid(), i), "true"}
		}}
	tools = append(tools, ctrSeccomp)
	aishellTools := []tool{
		{name: "aishell exec true, network isolated (the default)", shown: "aishell exec true",
			cmd: func(int) []string { return []string{e.bin, "exec", "true"} }},
		{name: "aishell exec true, network none (ctr's: a namespace with loopback only)", shown: "aishell exec --network none true",
			cmd: func(int) []string { return []string{e.bin, "exec", "--network", "none", "true"} }},
		{name: "aishell exec true, network host (nerdctl's --net host)", shown: "aishell exec --network host true",
			cmd: func(int) []string { return []string{e.bin, "exec", "--network", "host", "true"} }},
		{name: "before: aishell exec true, network none, removing the run before it returns", shown: "AISHELL_SYNC_TEARDOWN=1 aishell exec --network none true",
			cmd: func(int) []string {
				return []string{"env", "AISHELL_SYNC_TEARDOWN=1", e.bin, "exec", "--network", "none", "true"}
			}},
	}
	tools = append(tools, aishellTools...)

	// Round robin, so that whatever else the machine does weighs on every tool alike. Before
	// each command the previous aishell run's reaper has finished removing it (untimed): each
	// command starts on an idle machine, as ctr's and nerdctl's do.
	samples := make([][]time.Duration, len(tools))
	for i := 0; i < startRuns+2; i++ {
		for ti, t := range tools {
			if t.skip != "" {
				continue
			}
			if err := e.waitRunsGone(proj); err != nil {
				return err
			}
			args := t.cmd(ti*1000 + i)
			d, _, err := e.runIn(proj, args[0], args[1:]...)
			if err != nil {
				return err
			}
			if i >= 2 {
				samples[ti] = append(samples[ti], d)
			}
		}
	}
	var rows []string
	medians := map[string]time.Duration{}
	for ti, t := range tools {
		if t.skip != "" {
			rows = append(rows, fmt.Sprintf("| %s | `%s` | not measured: %s | | |", t.name, t.shown, t.skip))
			continue
		}
		ds := samples[ti]
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
		medians[t.name] = med
		rows = append(rows, fmt.Sprintf("| %s | `%s` | %d ms | %d ms | %.2f |", t.name, t.shown, med.Milliseconds(), p90.Milliseconds(),
			med.Seconds()/medians[tools[0].name].Seconds()))
	}
	ctr, nerd := medians[tools[1].name], medians[tools[2].name]
	isolated, none, host, before := medians[aishellTools[0].name], medians[aishellTools[1].name], medians[aishellTools[2].name], medians[aishellTools[3].name]
	var b strings.Builder
	fmt.Fprintf(&b, "## Start latency (`make bench`)\n\nRun %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "`true` in %s, %d rounds after 2 warm-up rounds, each round running every command once in turn; wall time of the whole command; warm caches (images unpacked). "+
		"Every aishell run mounts two harness views (claude and gemini); ctr and nerdctl mount none. Before each command the previous aishell run's reaper has finished removing it (not timed), so each command starts on an idle machine.\n\n", image, startRuns)
	fmt.Fprintf(&b, "| what | command | median | p90 | x runc |\n|---|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	ratio := func(a, b time.Duration) string {
		if a == 0 || b == 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
	}
	fmt.Fprintf(&b, "- aishell (network none, as ctr's) / ctr run --rm = **%s** (goal ≤ 0.95); with the default isolated network: %s.\n", ratio(none, ctr), ratio(isolated, ctr))
	fmt.Fprintf(&b, "- aishell (network none) / ctr run --rm --seccomp (both with a seccomp profile; aishell's covers the native ABI only) = %s; with the default isolated network: %s.\n",
		ratio(none, medians[ctrSeccomp.name]), ratio(isolated, medians[ctrSeccomp.name]))
	fmt.Fprintf(&b, "- aishell (network host, as nerdctl's) / nerdctl run --rm --net host = **%s** (goal ≤ 0.5); with the default isolated network: %s.\n", ratio(host, nerd), ratio(isolated, nerd))
	fmt.Fprintf(&b, "- Before / after handing the removal to the reaper (network none): %d ms / %d ms.\n\n", before.Milliseconds(), none.Milliseconds())
	fmt.Fprintf(&b, "aishell does more per run than ctr: it reads the config, checks the project's extension and the harness snapshots, mounts two harness views (each made once, at install, and shared by every run) and the protected harness config (tens of binds), "+
		"writes passwd/group, applies a seccomp profile, "+
		"and has its run's reaper (a shell started with the run, which becomes a second aishell once the run has ended) remove the task, container, rootfs snapshot and lease once the exit code is out; ctr removes its container before it returns.\n\n")
	fmt.Print(b.String())
	return writeSection("start", b.String())
}

// waitRunsGone waits until the reapers of the aishell runs in the project proj have finished
// removing them: no aishell-reaper process for a run of proj is left (read from /proc, so it
// sees a rootless user's too).
func (e *env) waitRunsGone(proj string) error {
	prefix := "aishell-" + filepath.Base(proj) + "-"
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		busy := false
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			if cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline")); err == nil && run.IsReaperCmdline(cmdline, prefix) {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
	}
	return fmt.Errorf("the runs in %s were not removed within 30 s", proj)
}

// writeBundleConfig writes a runc config.json that runs `true` without a terminal.
func writeBundleConfig(bundle string) error {
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("runc spec wrote no process section")
	}
	proc["terminal"] = false
	proc["args"] = []string{"true"}
	raw, err = json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}
