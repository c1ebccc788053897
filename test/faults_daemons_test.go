package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
)

// Faults of the daemons, each in a private containerd and buildkitd (privenv_test.go) that the
// test stops, restarts, kills or starves: aishell loses nothing, says what happened in one line,
// and leaves nothing behind that its cleanup or `aishell gc` does not remove.

// faultEnv is a test's own user config and temporary directory (where a run keeps its host files
// and its reaper its log), to be found empty afterwards.
func faultEnv(t *testing.T) ([]string, string) {
	t.Helper()
	tmp := t.TempDir()
	return append(userEnv(t), "TMPDIR="+tmp), tmp
}

// startAishell starts aishell in the private environment p in the background (started).
func startAishell(t *testing.T, p *privEnv, dir string, env []string, args ...string) *background {
	t.Helper()
	return started(t, p.cmd(dir, env, args...), "aishell "+strings.Join(args, " "))
}

// aishellLines are the lines aishell itself wrote on stderr (its messages and errors begin with
// "aishell:", a hint with "hint:").
func aishellLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "aishell:") || strings.HasPrefix(l, "hint:") {
			lines = append(lines, l)
		}
	}
	return lines
}

// noRunLeft checks that nothing of run id is left: no container, task, lease or snapshot in the
// private containerd (waitGone), no file in the run's temporary directory tmp (host files,
// reaper logs), and no FIFO directory or runc state in the environment's /run/containerd.
func noRunLeft(t *testing.T, p *privEnv, id, tmp string) {
	t.Helper()
	waitGone(t, p.C, id)
	// The reaper removes the host files once it has removed the run from containerd.
	for i := 0; i < 50 && len(dirEntries(t, tmp)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if left := dirEntries(t, tmp); len(left) > 0 {
		t.Errorf("files left in the run's temporary directory: %v", left)
	}
	if left := dirEntries(t, filepath.Join(p.dir, "run", "fifo")); len(left) > 0 {
		t.Errorf("FIFO directories left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "run", "runc", "aishell", id)); err == nil {
		t.Errorf("runc state of %s left", id)
	}
}

// A run outlives a containerd restart: the process goes on in its shim, aishell reconnects,
// the output and the exit code arrive, and the run is removed as usual, whether containerd
// comes back before the process exits or after, and a signal sent while containerd was away
// reaches the process once it is back.
func TestFaultContainerdRestartDuringRun(t *testing.T) {
	shared := needEnv(t)
	p := newPrivEnv(t, shared, privOptions{})

	t.Run("back before the exit", func(t *testing.T) {
		r := startAwayRun(t, p, "ctd-back", "sleep 5; echo done")
		stopped := p.stopContainerd(t)
		r.backAndExit(t, p, stopped, 0, "started\ndone\n")
	})

	// containerd deletes, as it starts, a task whose process exited while it was down (it takes
	// the shim for a leaked one), and the exit code goes with it: the output is all there, aishell
	// says in one line that the code is lost, and the run is removed.
	t.Run("exit while away", func(t *testing.T) {
		r := startAwayRun(t, p, "ctd-exit", "sleep 1; echo done; exit 7")
		p.stopContainerd(t)
		waitUntil(t, 10*time.Second, "the process's output while containerd is away", func() bool { return r.stdout.String() == "started\ndone\n" })
		time.Sleep(time.Second)
		if !r.running() {
			t.Fatalf("aishell ended while containerd was away: %q", r.stderr.String())
		}
		p.startContainerd(t)
		if code := r.code(t, time.Minute); code != errs.CodeError {
			t.Errorf("exit %d, want %d", code, errs.CodeError)
		}
		lines := aishellLines(r.stderr.String())
		if len(lines) != 2 || !strings.Contains(lines[0], "lost containerd") ||
			lines[1] != "aishell: the process ended while containerd was away, and containerd dropped its exit code when it came back" {
			t.Errorf("stderr %q: want the lost line, then one line saying the exit code is lost", r.stderr.String())
		}
		noRunLeft(t, p, r.id, r.tmp)
	})

	t.Run("signal while away", func(t *testing.T) {
		r := startAwayRun(t, p, "ctd-signal", `trap 'echo got TERM; exit 5' TERM; while :; do sleep 0.1; done`)
		stopped := p.stopContainerd(t)
		waitUntil(t, 10*time.Second, "aishell to notice", func() bool { return !r.stderr.when("lost containerd").IsZero() })
		r.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(time.Second)
		if !r.running() || strings.Contains(r.stdout.String(), "got TERM") {
			t.Fatalf("the signal was not held while containerd was away (aishell running: %v, stdout %q)", r.running(), r.stdout.String())
		}
		r.backAndExit(t, p, stopped, 5, "started\ngot TERM\n")
	})

	// containerd stays away beyond AISHELL_RECONNECT_TIMEOUT: aishell says so in one line and
	// exits 1, the process goes on and does its work, and gc removes the run once containerd is
	// back.
	t.Run("away too long", func(t *testing.T) {
		r := startAwayRun(t, p, "ctd-gone", "sleep 6; echo kept > kept-running", "AISHELL_RECONNECT_TIMEOUT=2s")
		marker := filepath.Join(r.proj, "kept-running")
		reaper := reaperOf(t, p.C, r.id)
		stopped := p.stopContainerd(t)
		if code := r.code(t, 30*time.Second); code != errs.CodeError {
			t.Errorf("exit %d, want %d", code, errs.CodeError)
		}
		t.Logf("aishell gave up %s after containerd was stopped", r.exitedAt.Sub(stopped).Round(time.Millisecond))
		lines := aishellLines(r.stderr.String())
		if len(lines) != 2 || !strings.Contains(lines[0], "lost containerd") ||
			!strings.Contains(lines[1], "did not come back within 2s") || !strings.Contains(lines[1], "aishell gc") {
			t.Errorf("stderr %q: want the lost line, then one line saying containerd did not come back and that aishell gc removes the run", r.stderr.String())
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the process finished before aishell gave up: the test proves nothing")
		}
		// The process goes on without containerd and without aishell.
		waitUntil(t, 20*time.Second, "the process to write "+marker, func() bool { _, err := os.Stat(marker); return err == nil })
		if fi, _ := os.Stat(marker); !fi.ModTime().After(r.exitedAt) {
			t.Errorf("%s written at %s, before aishell gave up at %s", marker, fi.ModTime(), r.exitedAt)
		}
		waitUntil(t, 5*time.Second, "the reaper to exit", func() bool { return syscall.Kill(reaper, 0) != nil })
		if left := dirEntries(t, r.tmp); len(left) == 0 || strings.Contains(strings.Join(left, " "), "reaper.log") {
			t.Errorf("the run's temporary directory: %v; want its host files, and no reaper log (the reaper was told to remove nothing)", left)
		}
		p.startContainerd(t)
		left := leftovers(t, p.C, r.id)
		t.Logf("left for gc once containerd is back: %v", left)
		// The task is not among them: its process exited while containerd was away (above).
		if len(left) != 3 {
			t.Errorf("left %v: want the container, its lease and its snapshot kept for gc", left)
		}
		gc := p.aishell(t, "", r.env, "gc")
		mustSucceed(t, gc)
		if !strings.Contains(lineWith(gc.Stdout, r.id), "removed leftover") {
			t.Errorf("gc did not report removing %s", r.id)
		}
		noRunLeft(t, p, r.id, r.tmp)
	})
}

// awayRun is an `aishell exec -- sh -c SCRIPT` in a project of its own in a private environment,
// for a test that makes containerd go away under it.
type awayRun struct {
	*background
	id, proj, tmp string
	env           []string
}

// startAwayRun starts script, after an echo started, with env over the test's own (faultEnv), and
// returns once the process has said started.
func startAwayRun(t *testing.T, p *privEnv, name, script string, env ...string) *awayRun {
	t.Helper()
	r := &awayRun{proj: project(t, name)}
	r.env, r.tmp = faultEnv(t)
	r.env = append(r.env, env...)
	r.background = startAishell(t, p, r.proj, r.env, "exec", "--", "sh", "-c", "echo started; "+script)
	waitUntil(t, 30*time.Second, "the process to start", func() bool { return strings.HasPrefix(r.stdout.String(), "started\n") })
	r.id = runningID(t, p.C, r.proj)
	return r
}

// backAndExit starts containerd again (it was stopped at stopped) and checks that the run ends
// with code and stdout, having said once that it lost containerd and once that it is back, and
// that nothing of it is left.
func (r *awayRun) backAndExit(t *testing.T, p *privEnv, stopped time.Time, code int, stdout string) {
	t.Helper()
	p.startContainerd(t)
	ready := time.Now()
	if got := r.code(t, time.Minute); got != code {
		t.Errorf("exit %d, want the process's %d", got, code)
	}
	if got := r.stdout.String(); got != stdout {
		t.Errorf("stdout %q, want %q", got, stdout)
	}
	checkReconnected(t, r.background, stopped, ready)
	noRunLeft(t, p, r.id, r.tmp)
}

// checkReconnected checks what aishell said about a containerd stopped at stopped and answering
// again at ready: one lost line, one back line, nothing else of its own; and logs how long it
// took to notice and to reconnect.
func checkReconnected(t *testing.T, a *background, stopped, ready time.Time) {
	t.Helper()
	lines := aishellLines(a.stderr.String())
	if len(lines) != 2 || !strings.Contains(lines[0], "lost containerd") || !strings.Contains(lines[0], "the process keeps running, reconnecting") ||
		!strings.Contains(lines[1], "containerd is back") {
		t.Errorf("stderr %q: want one lost line and one back line", a.stderr.String())
		return
	}
	t.Logf("aishell noticed the drop %s after SIGTERM, and was back %s after containerd answered",
		a.stderr.when("lost containerd").Sub(stopped).Round(time.Millisecond), a.stderr.when("containerd is back").Sub(ready).Round(time.Millisecond))
}

// Versions of openspec only the buildkitd fault test builds, in its private environment.
const (
	openspecFaultOld = "1.12.0"
	openspecFaultNew = "1.13.2"
)

// buildkitdDied checks a build that failed because buildkitd was killed during it: exit 1 and
// one line (and a hint) naming the build, the buildkitd and that nothing changed; the images and
// their targets as they were (before), no temporary tag.
func buildkitdDied(t *testing.T, p *privEnv, a *background, what string, before map[string]string) {
	t.Helper()
	if code := a.code(t, 2*time.Minute); code != errs.CodeError {
		t.Errorf("exit %d, want %d", code, errs.CodeError)
	}
	lines := aishellLines(a.stderr.String())
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "aishell: build "+what+" failed: buildkitd at "+p.BuildkitHost()+" stopped answering during the build; nothing was changed") ||
		!strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], "run the same command again") {
		t.Errorf("aishell said %q: want one line saying buildkitd stopped answering during the build of %s, and a hint", lines, what)
	}
	sameImages(t, p, before)
	t.Logf("left in the namespace after buildkitd died: %s", inventory(t, p.C))
}

// imageTargets are the images of c's namespace with the digests of their targets.
func imageTargets(t *testing.T, c *containerd.Client) map[string]string {
	t.Helper()
	imgs, err := c.ImageService().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, img := range imgs {
		m[img.Name] = img.Target.Digest.String()
	}
	return m
}

// sameImages checks that the private environment's images are before's, on the same targets: no
// image lost or moved, no temporary tag left.
func sameImages(t *testing.T, p *privEnv, before map[string]string) {
	t.Helper()
	after := imageTargets(t, p.C)
	for name, target := range before {
		if after[name] != target {
			t.Errorf("%s: %q after the failed build, was %s", name, after[name], target)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s appeared with the failed build", name)
		}
	}
	if tags := tempTags(t, p.C); len(tags) > 0 {
		t.Errorf("temporary tags left: %v", tags)
	}
}

// killBuildkitdDuringStep starts aishell, waits until the progress shows step (a RUN step's
// line, #N [...] RUN ...) started, kills buildkitd and checks that the step had not ended.
func killBuildkitdDuringStep(t *testing.T, p *privEnv, a *background, step *regexp.Regexp) {
	t.Helper()
	var n string
	waitUntil(t, 5*time.Minute, "the progress to show "+step.String(), func() bool {
		if m := step.FindStringSubmatch(a.stderr.String()); m != nil {
			n = m[1]
			return true
		}
		return !a.running()
	})
	p.killBuildkitd()
	killed := time.Now()
	if regexp.MustCompile(`(?m)^#` + n + ` (DONE|CACHED)`).MatchString(a.stderr.String()) {
		t.Fatal("the step ended before buildkitd was killed: the test proves nothing")
	}
	t.Logf("buildkitd killed during step #%s", n)
	a.code(t, 2*time.Minute)
	t.Logf("aishell ended %s after buildkitd was killed", a.exitedAt.Sub(killed).Round(time.Millisecond))
}

// containerd stopped while a harness update's npm runs (installs run in containerd, not in
// buildkitd): one line, the harness's previous image and the config's version as they were;
// once containerd is back, gc removes what the install left (its container, task, lease and
// snapshots), and the same command succeeds.
func TestFaultContainerdStoppedDuringInstall(t *testing.T) {
	shared := needEnv(t)
	p := newPrivEnv(t, shared, privOptions{})
	env, tmp := faultEnv(t)
	mustSucceed(t, p.aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+openspecFaultOld, "--progress=plain"))
	before := imageTargets(t, p.C)
	old := harnessRef("openspec", openspecFaultOld)
	if _, ok := before[old]; !ok {
		t.Fatalf("%s not built", old)
	}

	update := []string{"update", "--openspec-version=" + openspecFaultNew, "--progress=plain"}
	a := startAishell(t, p, "", env, update...)
	waitUntil(t, 5*time.Minute, "npm to start", func() bool {
		return strings.Contains(a.stderr.String(), "[harness openspec] npm install --global") || !a.running()
	})
	stopped := p.stopContainerd(t)
	if strings.Contains(a.stderr.String(), "npm install done") {
		t.Fatal("npm ended before containerd stopped: the test proves nothing")
	}
	newRef := harnessRef("openspec", openspecFaultNew)
	if code := a.code(t, 2*time.Minute); code != errs.CodeError {
		t.Errorf("exit %d, want %d", code, errs.CodeError)
	}
	t.Logf("aishell ended %s after containerd stopped", a.exitedAt.Sub(stopped).Round(time.Millisecond))
	lines := aishellLines(a.stderr.String())
	if len(lines) != 2 || lines[0] != "aishell: build "+newRef+" failed: containerd stopped answering during the build; nothing was changed" ||
		lines[1] != "hint: start containerd again, then run the same command again" {
		t.Errorf("aishell said %q: want one line saying containerd stopped answering during the build of %s, and a hint", lines, newRef)
	}
	p.startContainerd(t)
	sameImages(t, p, before)
	if got := loadUserConfig(t, env).Harnesses["openspec"].Resolved; got != openspecFaultOld {
		t.Errorf("the config records openspec %s after the failed update, want %s", got, openspecFaultOld)
	}
	if left := leftovers(t, p.C, installPrefix); len(left) == 0 {
		t.Fatal("the install left nothing with containerd gone: the test proves nothing of gc")
	}
	gc := p.aishell(t, "", env, "gc")
	mustSucceed(t, gc)
	if left := leftovers(t, p.C, installPrefix); len(left) > 0 || !strings.Contains(gc.Stdout, "leftover run "+installPrefix) {
		t.Errorf("after gc (%q): left %v", gc.Stdout, left)
	}

	mustSucceed(t, p.aishell(t, "", env, update...))
	if got := loadUserConfig(t, env).Harnesses["openspec"].Resolved; got != openspecFaultNew {
		t.Errorf("the config records openspec %s after the update, want %s", got, openspecFaultNew)
	}
	if !imageExists(p.C, newRef) || imageTarget(t, p.C, old) != before[old] {
		t.Errorf("after the retry: %s built %v, %s kept as it was", newRef, imageExists(p.C, newRef), old)
	}
	noBuildLeft(t, p, tmp)
}

// The disk fills while npm installs claude (a private containerd on a tmpfs with 64 MiB free):
// one line saying so, with the hint; the images as they were; the person's npm cache emptied
// and the space back; nothing of the install left. npm itself only warns when it cannot write
// an optional dependency's files (claude's native binary) and exits 0: that install is not
// whole, and must not be tagged.
func TestFaultDiskFullDuringInstall(t *testing.T) {
	shared := needEnv(t)
	p := newPrivEnv(t, shared, privOptions{DiskMB: 4096})
	env, tmp := faultEnv(t)
	mustSucceed(t, p.aishell(t, "", env, "build", "--progress=plain"))
	before := imageTargets(t, p.C)
	p.limitDisk(t, 64)
	ref := harnessRef("claude", claudeV2)
	r := p.aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV2, "--progress=plain")
	saidDiskFull(t, r, ref, "containerd keeps its data",
		"free space there (`aishell gc` removes unused images; your npm cache was emptied), then run the same command again")
	sameImages(t, p, before)
	if left := leftovers(t, p.C, installPrefix); len(left) > 0 {
		t.Errorf("left by the install: %v", left)
	}
	spaceBack(t, p, 60)
	noBuildLeft(t, p, tmp)
}

// buildkitd killed while an extension's RUN step runs: one line, the extension's tag on its
// previous image, no temporary tag; once buildkitd is back, the same command builds it.
func TestFaultBuildkitdKilledDuringExtensionBuild(t *testing.T) {
	shared := needEnv(t)
	p := newPrivEnv(t, shared, privOptions{})
	proj, env, tmp := extensionV1(t, p, "bk-ext")
	ref := build.ExtensionRef(proj)
	before := imageTargets(t, p.C)
	t.Logf("in the namespace before: %s", inventory(t, p.C))

	approve(t, p, proj, env, "FROM aishell:base\nRUN echo started; sleep 5; echo v2 > /etc/fault-version\n")
	a := startAishell(t, p, proj, env, "build", "--progress=plain")
	killBuildkitdDuringStep(t, p, a, regexp.MustCompile(`(?m)^#(\d+) \[\d+/\d+\] RUN echo started`))
	buildkitdDied(t, p, a, ref, before)

	p.startBuildkitd(t)
	mustSucceed(t, p.aishell(t, proj, env, "build", "--progress=plain"))
	r := p.aishell(t, proj, append(env, missingSocket(t)), "exec", "cat", "/etc/fault-version")
	mustSucceed(t, r)
	if r.Stdout != "v2\n" {
		t.Errorf("the extension after the retry has %q, want v2", r.Stdout)
	}
	noBuildLeft(t, p, tmp)
	stepsReaped(t, p, env)
}

// stepsReaped checks that the RUN step's container a killed buildkitd left is there (its process
// may still run, blocked writing to the buildkitd that is gone), that `aishell gc` removes it
// while the restarted buildkitd builds nothing, and that no container or task is left in p's
// namespace after it.
func stepsReaped(t *testing.T, p *privEnv, env []string) {
	t.Helper()
	ctx := context.Background()
	ctrs, _ := p.C.Containers(ctx)
	steps := 0
	for _, ctr := range ctrs {
		if info, err := ctr.Info(ctx); err == nil && len(info.Labels) == 0 && info.Image == "" {
			steps++
		}
	}
	if steps == 0 {
		t.Fatal("the killed buildkitd left no step container: the test proves nothing of gc")
	}
	r := p.aishell(t, "", env, "gc")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "build step container") {
		t.Errorf("gc did not say it removed the step container: %q", r.Stdout)
	}
	ctrs, _ = p.C.Containers(ctx)
	tasks, _ := p.C.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if len(ctrs) != 0 || (tasks != nil && len(tasks.Tasks) != 0) {
		t.Errorf("left after gc: %s", inventory(t, p.C))
	}
	t.Logf("after gc: %s", inventory(t, p.C))
}

// extensionV1 makes a project whose extension (RUN echo v1 > /etc/fault-version) is approved and
// built in p, and returns it with the test's environment and temporary directory (faultEnv).
func extensionV1(t *testing.T, p *privEnv, name string) (proj string, env []string, tmp string) {
	t.Helper()
	proj = project(t, name)
	env, tmp = faultEnv(t)
	approve(t, p, proj, env, "FROM aishell:base\nRUN echo v1 > /etc/fault-version\n")
	mustSucceed(t, p.aishell(t, proj, env, "build", "--progress=plain"))
	return proj, env, tmp
}

// approve gives the project this .aishell/Dockerfile, approved.
func approve(t *testing.T, p *privEnv, proj string, env []string, dockerfile string) {
	t.Helper()
	writeDockerfile(t, proj, dockerfile)
	mustSucceed(t, p.aishell(t, proj, env, "ext", "trust"))
}

// noBuildLeft checks that no temporary tag is left in p and, once the reaper of the last run has
// removed its host files, nothing in the temporary directory tmp.
func noBuildLeft(t *testing.T, p *privEnv, tmp string) {
	t.Helper()
	if tags := tempTags(t, p.C); len(tags) > 0 {
		t.Errorf("temporary tags left: %v", tags)
	}
	waitUntil(t, 10*time.Second, "an empty temporary directory", func() bool { return len(dirEntries(t, tmp)) == 0 })
	t.Logf("left in the namespace: %s", inventory(t, p.C))
}

// A disk that fills up during a build: containerd's and buildkitd's roots on a small tmpfs, an
// extension whose RUN step writes more than fits (BuildKit's error names only the step's exit
// code; the ENOSPC is in its log), then one whose step fits but whose export does not. Each time:
// one line saying the disk is full, with the hint; the images as they were (the extension's tag
// on its previous image), no temporary tag; once there is room again (after what the hint says,
// when the step's result is in buildkitd's cache), a run on the previous extension works.
func TestFaultDiskFullDuringBuild(t *testing.T) {
	shared := needEnv(t)
	p := newPrivEnv(t, shared, privOptions{DiskMB: 4096})
	proj, env, tmp := extensionV1(t, p, "disk-full")
	ref := build.ExtensionRef(proj)
	before := imageTargets(t, p.C)
	t.Logf("in the namespace before: %s", inventory(t, p.C))
	p.limitDisk(t, 64)

	for _, tc := range []struct {
		name, run string
		// prune: the step succeeded, and buildkitd keeps its result in its build cache until
		// `buildctl prune --all`, as the hint says (a plain prune leaves it: shared).
		prune bool
	}{
		{"RUN step", "dd if=/dev/zero of=/fill bs=1M count=256", false},
		{"export", "head -c 40M /dev/urandom > /fill", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spaceBack(t, p, 60)
			approve(t, p, proj, env, "FROM aishell:base\nRUN "+tc.run+"\n")
			r := p.aishell(t, proj, env, "build", "--progress=plain")
			saidDiskFull(t, r, ref, "containerd and buildkitd keep their data",
				"free space there (`aishell gc` removes unused images, `buildctl prune --all` buildkitd's build cache), then run the same command again")
			sameImages(t, p, before)
			if tc.prune {
				spaceBack(t, p, 8) // buildkitd writes its database as it prunes
				if out, err := exec.Command("buildctl", "--addr", p.BuildkitHost(), "prune", "--all").CombinedOutput(); err != nil {
					t.Fatalf("buildctl prune --all: %v %s", err, out)
				}
			}
			spaceBack(t, p, 60)
			r = p.aishell(t, proj, append(env, missingSocket(t)), "exec", "--no-rebuild", "cat", "/etc/fault-version")
			mustSucceed(t, r)
			if r.Stdout != "v1\n" {
				t.Errorf("a run on the previous extension reads %q, want v1", r.Stdout)
			}
			noBuildLeft(t, p, tmp)
		})
	}
}

// saidDiskFull checks a build of ref that failed because the disk filled: exit 1, one line saying
// so, naming where the data is kept and what could not be written, and the hint.
func saidDiskFull(t *testing.T, r result, ref, where, hint string) {
	t.Helper()
	if r.Code != errs.CodeError {
		t.Errorf("exit %d, want %d", r.Code, errs.CodeError)
	}
	lines := aishellLines(r.Stderr)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "aishell: build "+ref+" failed: disk full where "+where+" (") ||
		!strings.HasSuffix(lines[0], "); nothing was changed") || lines[1] != "hint: "+hint {
		t.Errorf("aishell said %q: want one line saying the disk is full, and the hint", lines)
	}
}

// spaceBack waits until the disk of p has mb MiB free again: containerd removes what a failed
// build wrote with its garbage collection, which it paces, some time after the failure.
func spaceBack(t *testing.T, p *privEnv, mb int) {
	t.Helper()
	start := time.Now()
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d MiB free", mb), func() bool { _, free := p.disk(t); return free >= mb })
	t.Logf("the space was back after %s", time.Since(start).Round(100*time.Millisecond))
}

// inventory counts what is in c's namespace: containers, tasks, leases, active snapshots,
// temporary tags.
func inventory(t *testing.T, c *containerd.Client) string {
	t.Helper()
	ctx := context.Background()
	ctrs, _ := c.Containers(ctx)
	tasks, _ := c.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	ls, _ := c.LeasesService().List(ctx)
	active := 0
	c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, info snapshotInfo) error {
		if info.Kind == snapshots.KindActive {
			active++
		}
		return nil
	})
	ntasks := 0
	if tasks != nil {
		ntasks = len(tasks.Tasks)
	}
	return fmt.Sprintf("%d containers, %d tasks, %d leases, %d active snapshots, %d temporary tags",
		len(ctrs), ntasks, len(ls), active, len(tempTags(t, c)))
}
