package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aishell/aishell/build"
)

// rootlessEnvFile is where test/env/rootless-up.sh describes the rootless environment.
func rootlessEnvFile() string {
	dir := os.Getenv("AISHELL_TEST_DIR")
	if dir == "" {
		dir = "/tmp/aishell-test-env"
	}
	return filepath.Join(dir, "rootless", "env")
}

// benchRootless measures start latency in rootless mode beside root mode, in one run: aishell
// exec true as the rootless environment's user (claude and gemini mounted) and as root, and
// ctr run --rm in each (rootless: ctr inside rootlesskit's namespaces, no cgroup, as
// containerd-rootless-setuptool.sh nsenter runs it).
func benchRootless(ctx context.Context) error {
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	vars, err := readVars(rootlessEnvFile())
	if err != nil {
		return fmt.Errorf("rootless environment: %w (make env-up-rootless)", err)
	}
	u, err := user.Lookup(vars["AISHELL_ROOTLESS_USER"])
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	runtimeDir := vars["AISHELL_ROOTLESS_RUNTIME_DIR"]
	work, err := os.MkdirTemp(u.HomeDir, "aishell-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	os.Chown(work, uid, gid)
	// The binary where the user can run it.
	bin := filepath.Join(work, "bin", "aishell")
	if out, err := exec.Command("install", "-D", "-m", "0755", e.bin, bin).CombinedOutput(); err != nil {
		return fmt.Errorf("copy aishell: %v %s", err, out)
	}
	asUser := func(dir string, args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "XDG_RUNTIME_DIR=" + runtimeDir, "XDG_CONFIG_HOME=" + work,
			"PATH=" + vars["AISHELL_ROOTLESS_BIN"] + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return cmd
	}
	timeCmd := func(cmd *exec.Cmd) (time.Duration, error) {
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, tail(out.String(), 20))
		}
		return time.Since(start), nil
	}
	if _, err := timeCmd(asUser(work, bin, "build", "--with-claude", "--with-gemini", "--progress=quiet")); err != nil {
		return err
	}
	if _, _, err := e.aishell("build", "--with-claude", "--with-gemini", "--progress=quiet"); err != nil {
		return err
	}
	proj := filepath.Join(work, "proj")
	os.Mkdir(proj, 0o755)
	os.Chown(proj, uid, gid)
	asUser(proj, "git", "init", "-q").Run()
	childPID, err := os.ReadFile(filepath.Join(runtimeDir, "containerd-rootless", "child_pid"))
	if err != nil {
		return err
	}
	addr, ns := os.Getenv("CONTAINERD_ADDRESS"), e.ns

	type row struct {
		name, shown string
		cmd         func(i int) *exec.Cmd
	}
	rows := []row{
		{"aishell exec true, root", "aishell exec true", func(int) *exec.Cmd {
			cmd := exec.Command(e.bin, "exec", "true")
			cmd.Dir, cmd.Env = proj, append(os.Environ(), "XDG_CONFIG_HOME="+e.xdg)
			return cmd
		}},
		{"aishell exec true, rootless", "aishell exec true (as the user)", func(int) *exec.Cmd { return asUser(proj, bin, "exec", "true") }},
		{"ctr run --rm, root", "ctr run --rm IMAGE ID true", func(i int) *exec.Cmd {
			return exec.Command("ctr", "--address", addr, "-n", ns, "run", "--rm", build.FoundationImage, fmt.Sprintf("bench-rl-ctr-%d-%d", os.Getpid(), i), "true")
		}},
		{"ctr run --rm, rootless", "nsenter -U -m -t CHILD ctr run --rm --cgroup \"\" --cpu-shares 0 IMAGE ID true", func(i int) *exec.Cmd {
			return asUser(proj, "nsenter", "-U", "--preserve-credentials", "-m", "-t", strings.TrimSpace(string(childPID)), "--",
				"ctr", "--address", "/run/containerd/containerd.sock", "-n", ns, "run", "--rm", "--cgroup", "", "--cpu-shares", "0",
				build.FoundationImage, fmt.Sprintf("bench-rl-ctr-rootless-%d-%d", os.Getpid(), i), "true")
		}},
	}
	medians := map[string]time.Duration{}
	var lines []string
	for ri, r := range rows {
		var ds []time.Duration
		for i := 0; i < startRuns+2; i++ {
			fmt.Fprintf(os.Stderr, "$ %s (%d)\n", r.shown, i+1)
			if err := e.waitRunsGone(proj); err != nil {
				return err
			}
			d, err := timeCmd(r.cmd(ri*1000 + i))
			if err != nil {
				return err
			}
			if i >= 2 {
				ds = append(ds, d)
			}
		}
		med := median(ds)
		medians[r.name] = med
		lines = append(lines, fmt.Sprintf("| %s | `%s` | %d ms |", r.name, r.shown, med.Milliseconds()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Rootless beside root (`make bench`)\n\nRun %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "`true` in the foundation, %d runs each after 2 warm-up runs. Rootless: the test environment's rootlesskit (--net=host, cgroup v1, so no cgroups) with containerd and buildkitd as an unprivileged user; aishell finds it by its defaults and re-executes itself inside rootlesskit's namespaces through nsenter.\n\n", startRuns)
	fmt.Fprintf(&b, "| what | command | median |\n|---|---|---|\n%s\n\n", strings.Join(lines, "\n"))
	fmt.Fprintf(&b, "rootless/root: aishell %.2f, ctr %.2f. aishell/ctr rootless = %.2f.\n\n",
		medians["aishell exec true, rootless"].Seconds()/medians["aishell exec true, root"].Seconds(),
		medians["ctr run --rm, rootless"].Seconds()/medians["ctr run --rm, root"].Seconds(),
		medians["aishell exec true, rootless"].Seconds()/medians["ctr run --rm, rootless"].Seconds())
	fmt.Print(b.String())
	return writeSection("rootless", b.String())
}

func readVars(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "="); ok {
			vars[k] = v
		}
	}
	return vars, nil
}
