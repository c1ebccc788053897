package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	aisrun "github.com/aishell/aishell/run"
	"github.com/aishell/aishell/snapshot"
	"github.com/containerd/errdefs"
)

// runEnv builds the harness set once for the run tests and returns the user env for it.
func runEnv(t *testing.T) []string {
	t.Helper()
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV2, "--with-gemini", "--gemini-version="+geminiV, "--progress=plain"))
	return env
}

// project makes a git work tree with its own user.email and returns its resolved path.
func project(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "agent-test@example.com"}, {"config", "user.name", "Agent Test"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	dir, _ = filepath.EvalSymlinks(dir)
	return dir
}

func TestExecIdentityAndProject(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "ident")
	r := aishell(t, filepath.Join(proj, "sub"), env, "exec", "--", "sh", "-c", "id -u; id -g; pwd; echo $HOME; git config user.email; whoami; touch ~/w && echo home-writable")
	mustSucceed(t, r)
	home, _ := os.UserHomeDir()
	if h := os.Getenv("HOME"); h != "" {
		home = h
	}
	want := fmt.Sprintf("%d\n%d\n%s\n%s\nagent-test@example.com\n", os.Getuid(), os.Getgid(), filepath.Join(proj, "sub"), home)
	if !strings.HasPrefix(r.Stdout, want) || !strings.Contains(r.Stdout, "home-writable") {
		t.Errorf("got\n%s\nwant it to start with\n%s", r.Stdout, want)
	}
}

func TestExecHarnessesReadOnly(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "harn")
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "claude --version && gemini --version")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, claudeV2) || !strings.Contains(r.Stdout, geminiV) {
		t.Errorf("versions: %q", r.Stdout)
	}
	r = aishell(t, proj, env, "exec", "--", "touch", "/opt/harness/claude/x")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Errorf("writing the harness snapshot: exit %d %q, want EROFS", r.Code, r.Stderr)
	}
	r = aishell(t, proj, env, "claude", "--version")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, claudeV2) {
		t.Errorf("aishell claude --version: %q", r.Stdout)
	}
}

func TestExecExitCodeAndStdin(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "exit")
	if r := aishell(t, proj, env, "exec", "--", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("exit %d, want 7", r.Code)
	}
	cmd := aishellCmd(proj, env, "exec", "--", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("piped input\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "PIPED INPUT\n" {
		t.Errorf("stdin through exec: %q, %v", out, err)
	}
}

func TestExecEnvironmentFilter(t *testing.T) {
	needEnv(t)
	env := append(runEnv(t), "AWS_SECRET_ACCESS_KEY=leak", "ANTHROPIC_API_KEY=sk-test-123", "SOME_HOST_VAR=x")
	proj := project(t, "envf")
	r := aishell(t, proj, env, "exec", "--", "env")
	mustSucceed(t, r)
	if strings.Contains(r.Stdout, "AWS_SECRET_ACCESS_KEY") || strings.Contains(r.Stdout, "SOME_HOST_VAR") {
		t.Error("a host variable not on the list reached the container")
	}
	if strings.Contains(r.Stdout, "ANTHROPIC_API_KEY") {
		t.Error("exec got a harness's key nobody asked for (TestExecGetsNoKeysUnlessAsked covers --keys)")
	}
	// The wrappers of the harness defaults first (defaults_test.go), then the harnesses' bins.
	if !strings.Contains(r.Stdout, "PATH=/opt/aishell/bin:/opt/harness/claude/bin:/opt/harness/gemini/bin:") {
		t.Errorf("harness bins not first on PATH")
	}

	// The user's config can pass more variables.
	cfgPath := userConfigPath(env)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PassEnv = []string{"SOME_HOST_VAR", "ANTHROPIC_API_KEY"}
	if err := config.Save(cfgPath, cfg, config.Person{Mode: config.ModeRoot}); err != nil {
		t.Fatal(err)
	}
	r = aishell(t, proj, env, "exec", "--", "env")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "SOME_HOST_VAR=x\n") || !strings.Contains(r.Stdout, "ANTHROPIC_API_KEY=sk-test-123\n") || strings.Contains(r.Stdout, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("pass_env from the config: want SOME_HOST_VAR and ANTHROPIC_API_KEY only:\n%s", r.Stdout)
	}
}

// leftovers lists what a run with this container name prefix left in the namespace.
func leftovers(t *testing.T, c *containerd.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	ctrs, _ := c.Containers(ctx)
	for _, x := range ctrs {
		if strings.HasPrefix(x.ID(), prefix) {
			left = append(left, "container "+x.ID())
		}
	}
	tasks, _ := c.TaskService().List(ctx, nil)
	if tasks != nil {
		for _, x := range tasks.Tasks {
			if strings.HasPrefix(x.ID, prefix) {
				left = append(left, "task "+x.ID)
			}
		}
	}
	ls, _ := c.LeasesService().List(ctx)
	for _, l := range ls {
		if strings.HasPrefix(l.ID, prefix) {
			left = append(left, "lease "+l.ID)
		}
	}
	c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, info snapshotInfo) error {
		if strings.HasPrefix(info.Name, prefix) {
			left = append(left, "snapshot "+info.Name)
		}
		return nil
	})
	return left
}

func waitGone(t *testing.T, c *containerd.Client, prefix string) {
	t.Helper()
	var left []string
	for i := 0; i < 50; i++ {
		if left = leftovers(t, c, prefix); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left behind: %v", left)
}

// projectTasks are the running tasks of the containers aishell started for the project proj
// (the project label of the container, so another test's or another run's containers never count).
func projectTasks(c *containerd.Client, proj string) []containerd.Task {
	ctx := context.Background()
	ctrs, _ := c.Containers(ctx, labels.Equals(labels.Project, strconv.Quote(proj)))
	var running []containerd.Task
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		if st, err := task.Status(ctx); err == nil && st.Status == containerd.Running {
			running = append(running, task)
		}
	}
	return running
}

// waitForProcess waits until a process called name (its comm) runs in the container of the
// project proj: the container's command has started, and its init (tini) forwards signals by
// then. It looks for name among the descendants of the task's init in /proc: the pids are the
// host's (neither environment has a pid namespace of its own around containerd), and the
// rootless containerd has no cgroups for task.Pids to read.
func waitForProcess(t *testing.T, c *containerd.Client, proj, name string) {
	t.Helper()
	waitUntil(t, 30*time.Second, "a "+name+" process in the container of "+proj, func() bool {
		for _, task := range projectTasks(c, proj) {
			for _, pid := range descendants(int(task.Pid())) {
				if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == name {
					return true
				}
			}
		}
		return false
	})
}

// descendants are the pids of the processes under pid, from the parent pids in /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, so after the last ")".
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// runningID waits until a container of the project proj runs and returns its ID.
func runningID(t *testing.T, c *containerd.Client, proj string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		if tasks := projectTasks(c, proj); len(tasks) > 0 {
			return tasks[0].ID()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no running container for the project %s", proj)
	return ""
}

// waitUntil polls cond until it holds, and fails the test when it still does not after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A command for the container that runs until the file release appears in the project (the
// working directory), so that a test decides when it ends, and fails if that never happens.
const untilReleased = "for i in $(seq 3000); do [ -e release ] && exit 0; sleep 0.1; done; echo never released >&2; exit 1"

// release lets the untilReleased commands in the project proj end.
func release(t *testing.T, proj string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(proj, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCleanupOnExitInterruptAndTerm(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	for _, tc := range []struct {
		name string
		sig  os.Signal
		code int
	}{
		{"exit", nil, errs.CodeOK},
		{"ctrlc", os.Interrupt, signalCode(syscall.SIGINT)},
		{"sigterm", syscall.SIGTERM, signalCode(syscall.SIGTERM)},
		{"sighup", syscall.SIGHUP, signalCode(syscall.SIGHUP)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proj := project(t, "clean"+tc.name)
			args := []string{"exec", "--", "sleep", "100"}
			if tc.sig == nil {
				args = []string{"exec", "--", "sh", "-c", untilReleased}
			}
			cmd := aishellCmd(proj, env, args...)
			var se syncBuffer
			cmd.Stderr = &se
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			id := runningID(t, c, proj)
			if tc.sig != nil {
				waitForProcess(t, c, proj, "sleep")
				cmd.Process.Signal(tc.sig)
			} else {
				release(t, proj)
			}
			start := time.Now()
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, se.String())
			}
			if tc.sig != nil && time.Since(start) > 12*time.Second {
				t.Errorf("took %s to stop", time.Since(start))
			}
			waitGone(t, c, id)
		})
	}
}

func TestTwoRunsSideBySide(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "twin")
	// As for a harness installed before its view was shared: the runs make its view, both at
	// once if they meet there.
	ctx := context.Background()
	sn := c.SnapshotService("overlayfs")
	hold := labels.GCRefSharedView("overlayfs")
	for _, ref := range []string{harnessRef("claude", claudeV2), harnessRef("gemini", geminiV)} {
		chain, err := snapshot.ChainID(ctx, c, ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := sn.Remove(ctx, labels.SharedViewKey(chain)); err != nil && !errdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		if _, err := sn.Update(ctx, snapshots.Info{Name: chain}, "labels."+hold); err != nil {
			t.Fatal(err)
		}
	}
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd := aishellCmd(proj, env, "exec", "--", "sh", "-c", untilReleased)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// Both run at once before either may end.
	waitUntil(t, 2*time.Minute, "two containers of "+proj+" running", func() bool { return len(projectTasks(c, proj)) == 2 })
	views := sharedViewsOfRuns(t, c, proj)
	release(t, proj)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	waitGone(t, c, "aishell-twin-")
	// The runs made no view of their own, and left the shared ones for the next.
	for _, key := range views {
		if _, err := sn.Stat(ctx, key); err != nil {
			t.Errorf("shared view %s after the runs: %v", key, err)
		}
	}
}

// sharedViewsOfRuns checks that the running containers of proj hold the same view of each
// harness snapshot, its shared one: a view of the harness image's committed snapshot, which
// that snapshot holds by a label. It returns their keys.
func sharedViewsOfRuns(t *testing.T, c *containerd.Client, proj string) []string {
	t.Helper()
	ctx := context.Background()
	sn := c.SnapshotService("overlayfs")
	var first []string
	for i, task := range projectTasks(c, proj) {
		ctr, err := c.LoadContainer(ctx, task.ID())
		if err != nil {
			t.Fatal(err)
		}
		l, err := ctr.Labels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys := labels.RefSnapshots(l)
		slices.Sort(keys)
		if len(keys) != 2 {
			t.Fatalf("container %s holds views %v, want claude's and gemini's", task.ID(), keys)
		}
		if i == 0 {
			first = keys
		} else if !slices.Equal(keys, first) {
			t.Errorf("two runs hold different views: %v and %v", first, keys)
		}
	}
	for _, key := range first {
		info, err := sn.Stat(ctx, key)
		if err != nil {
			t.Fatalf("view %s: %v", key, err)
		}
		parent, err := sn.Stat(ctx, info.Parent)
		if info.Kind != snapshots.KindView || err != nil || parent.Kind != snapshots.KindCommitted || !labels.IsSharedView(key) ||
			parent.Labels[labels.GCRefSharedView("overlayfs")] != key {
			t.Errorf("view %s (%v, parent %s %v %v): want the shared view of a committed snapshot that holds it", key, info.Kind, info.Parent, parent.Labels, err)
		}
	}
	return first
}

func TestRunErrors(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "errs")
	check := func(r result, code int, want string) {
		t.Helper()
		if r.Code != code {
			t.Errorf("exit %d, want %d", r.Code, code)
		}
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if len(lines) > 2 || !strings.Contains(lines[0], want) {
			t.Errorf("stderr %q: want one line with %q (and a hint)", r.Stderr, want)
		}
	}
	// A namespace with nothing built in it.
	empty := append(env, fmt.Sprintf("CONTAINERD_NAMESPACE=aishell-empty-%d", time.Now().UnixNano()))
	check(aishell(t, proj, empty, "exec", "true"), errs.CodeError, "no foundation image yet")
	check(aishell(t, proj, env, "codex"), errs.CodeError, "codex is not built")
	check(aishell(t, proj, append(env, "CONTAINERD_ADDRESS=/nonexistent/containerd.sock"), "exec", "true"), errs.CodeError, "cannot reach containerd at /nonexistent/containerd.sock")
	check(aishell(t, "/", env, "exec", "true"), errs.CodeError, "cannot mount / as the project")
	check(aishell(t, proj, env, "exec"), errs.CodeUsage, "exec needs a command")
}

// A reader that goes away ends the process as outside a container, and nothing is left.
func TestExecBrokenPipe(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "bpipe")
	cmd := exec.Command("sh", "-c", fmt.Sprintf("%s exec -- yes | head -n 1; echo status=${PIPESTATUS:-n/a}", aishellBin))
	cmd.Dir, cmd.Env = proj, append(os.Environ(), env...)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("aishell exec yes | head -1 did not end")
	}
	if !strings.HasPrefix(string(out), "y\n") {
		t.Errorf("output %q", out)
	}
	waitGone(t, c, "aishell-bpipe-")
}

// A run whose aishell was killed with SIGKILL cannot clean up; gc removes what it left.
func TestGCReapsRunsOfKilledAishell(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "reaped")
	cmd := aishellCmd(proj, env, "exec", "--", "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := runningID(t, c, proj)
	// Both aishell and its reaper die, as when the machine's OOM killer or a kill -9 of every
	// aishell takes them: what is left is gc's to remove.
	syscall.Kill(reaperOf(t, c, id), syscall.SIGKILL)
	cmd.Process.Kill()
	cmd.Wait()
	if left := leftovers(t, c, id); len(left) == 0 {
		t.Fatal("SIGKILL left nothing behind: the test proves nothing")
	}
	r := aishell(t, "", env, "gc")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "removed leftover run "+id) {
		t.Errorf("gc did not report reaping %s", id)
	}
	waitGone(t, c, id)
}

// reaperOf is the pid of the reaper that the labels of run id name.
func reaperOf(t *testing.T, c *containerd.Client, id string) int {
	t.Helper()
	ctr, err := c.LoadContainer(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctr.Labels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(l[labels.ReaperPID])
	if err != nil || pid <= 0 {
		t.Fatalf("run %s names no reaper: %v", id, l)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !aisrun.IsReaperCmdline(cmdline, id) {
		t.Fatalf("pid %d is not a reaper: %q", pid, cmdline)
	}
	return pid
}

// hostFiles are the files and directories in the temporary directory named after run id.
func hostFiles(id string) []string {
	files, _ := filepath.Glob(filepath.Join(os.TempDir(), id+"-*"))
	return files
}

// When aishell is killed (SIGKILL: nothing of it runs any more), its reaper removes the run at
// once: task, container, snapshots, views, lease and the run's host files, with no gc.
func TestReaperRemovesRunOfKilledAishell(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "reaper-kill")
	cmd := aishellCmd(proj, append(env, "ANTHROPIC_API_KEY=sk-reaper-test"), "exec", "--keys", "claude", "--", "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := runningID(t, c, proj)
	reaper := reaperOf(t, c, id)
	// The reaper outlives aishell: it holds none of the keys aishell was given.
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", reaper)); err != nil || bytes.Contains(environ, []byte("sk-reaper-test")) {
		t.Errorf("the reaper's environment holds the API key (or is unreadable: %v)", err)
	}
	if len(hostFiles(id)) == 0 {
		t.Fatal("the run made no host files: the test proves nothing about them")
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, c, id)
	if left := hostFiles(id); len(left) > 0 {
		t.Errorf("host files left: %v", left)
	}
	waitUntil(t, 5*time.Second, "the reaper to exit", func() bool { return syscall.Kill(reaper, 0) != nil })
}

// A run whose reaper was killed is removed by aishell itself before it returns: nothing is
// left the moment it exits.
func TestRunWithoutReaper(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "reaper-gone")
	cmd := aishellCmd(proj, env, "exec", "--", "sh", "-c", "("+untilReleased+"); echo released")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := runningID(t, c, proj)
	reaper := reaperOf(t, c, id)
	syscall.Kill(reaper, syscall.SIGKILL)
	waitUntil(t, 5*time.Second, "the reaper to die", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", reaper))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
	release(t, proj)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aishell: %v", err)
	}
	if left := leftovers(t, c, id); len(left) > 0 {
		t.Errorf("left when aishell returned: %v", left)
	}
	if left := hostFiles(id); len(left) > 0 {
		t.Errorf("host files left when aishell returned: %v", left)
	}
	if !strings.Contains(out.String(), "released") {
		t.Errorf("output lost: %q", out.String())
	}
}

// A named run is removed by its reaper after aishell returns; the next run of that name, on
// the script's next line, waits for that instead of finding the name taken.
func TestNamedRunsBackToBack(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "back2back")
	for i := 0; i < 4; i++ {
		r := aishell(t, proj, env, "exec", "--name", "seq", "--", "echo", strconv.Itoa(i))
		mustSucceed(t, r)
		if strings.TrimSpace(r.Stdout) != strconv.Itoa(i) {
			t.Errorf("run %d printed %q", i, r.Stdout)
		}
	}
	ls, _ := c.LeasesService().List(context.Background())
	for _, l := range ls {
		if strings.Contains(l.ID, "back2back-seq-") {
			waitGone(t, c, l.ID)
		}
	}
}

// A harness's config directory on the host is mounted read-write at the same path.
func TestHarnessConfigMounted(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".claude"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, ".claude", "settings.json"), []byte(`{"theme":"dark"}`), 0o644)
	proj := project(t, "cfgdir")
	r := aishell(t, proj, append(env, "HOME="+home), "exec", "--", "sh", "-c",
		`cat "$HOME/.claude/settings.json" && echo written > "$HOME/.claude/from-container" && test ! -e "$HOME/.codex"`)
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, `{"theme":"dark"}`) {
		t.Errorf("~/.claude not visible: %q", r.Stdout)
	}
	b, err := os.ReadFile(filepath.Join(home, ".claude", "from-container"))
	if err != nil || string(b) != "written\n" {
		t.Errorf("write through the config mount: %q, %v", b, err)
	}
}
