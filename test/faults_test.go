package test

// Faults that lose nothing (issue 15): gc racing runs and builds, two builds at once, aishell
// killed before its container exists, a live run of another person, two people sharing one
// namespace. Each test pauses aishell at a named point (package testpoint) to make the race
// certain rather than a matter of milliseconds, and checks the outcome in containerd.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/snapshot"
	"github.com/aishell/aishell/testpoint"
)

// Versions of openspec (small: a few MB) only these tests build.
const (
	openspecA = "1.10.0"
	openspecB = "1.11.0"
	openspecC = "1.12.0"
)

// pauseAt makes the aishell started with the returned variable stop at point, and returns the
// file that says it did (it holds aishell's pid) and that lets it go on when removed.
func pauseAt(t *testing.T, point string) (env, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "pause-"+point)
	return testpoint.Env + "=" + point + "=" + file, file
}

// waitPaused waits until the aishell bg, paused with file, reached its point, and returns its pid.
func waitPaused(t *testing.T, file string, bg *background) int {
	t.Helper()
	var pid int
	waitUntil(t, 3*time.Minute, "aishell to reach "+filepath.Base(file), func() bool {
		if !bg.running() {
			t.Fatalf("aishell exited before it reached %s", filepath.Base(file))
		}
		b, err := os.ReadFile(file)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// keptBy are the config files whose labels.KeptBy label the image ref carries.
func keptBy(t *testing.T, ref string) []string {
	t.Helper()
	img, err := needEnv(t).ImageService().Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("image %s: %v", ref, err)
	}
	var out []string
	for k, v := range img.Labels {
		if labels.IsKeptBy(k) {
			out = append(out, v)
		}
	}
	return out
}

// liveKeepers are the config files that keep ref and still exist: what makes gc keep it.
func liveKeepers(t *testing.T, ref string) []string {
	var out []string
	for _, p := range keptBy(t, ref) {
		if config.Present(p) {
			out = append(out, p)
		}
	}
	return out
}

func configPath(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_CONFIG_HOME="); ok {
			return filepath.Join(v, "aishell", "config.yaml")
		}
	}
	return ""
}

func recorded(t *testing.T, env []string, name string) string {
	t.Helper()
	f, err := config.Load(configPath(env))
	if err != nil {
		t.Fatalf("the config: %v", err)
	}
	return f.Harnesses[name].Resolved
}

// Scenario 3: `aishell gc` while a run starts, and while a build is tagging.
func TestFaultGCWhileRunStarts(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	refA := harnessRef("openspec", openspecA)
	mustSucceed(t, aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+openspecA, "--progress=plain"))
	proj := project(t, "gcstart")

	// The run has looked at its images (openspec A is the configured one) and is about to mount
	// them when the person moves to B and a gc runs.
	pause, file := pauseAt(t, "prepared")
	run := started(t, aishellCmd(proj, append(env, pause), "exec", "--network", "none", "--", "openspec", "--version"), "the paused run")
	waitPaused(t, file, run)
	mustSucceed(t, aishell(t, "", env, "update", "--openspec-version="+openspecB, "--progress=plain"))
	if k := liveKeepers(t, refA); len(k) != 0 {
		t.Fatalf("openspec %s is still kept by %v: gc would keep it anyway, the test proves nothing", openspecA, k)
	}
	gc := aishell(t, "", env, "gc")
	mustSucceed(t, gc)
	if !imageExists(c, refA) || strings.Contains(gc.Stdout, refA) {
		t.Fatalf("gc removed %s, which a starting run had found and is about to mount", refA)
	}
	os.Remove(file)
	r := run.wait(t)
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != openspecA {
		t.Errorf("the run printed %q, want openspec %s", r.Stdout, openspecA)
	}
	// Once that run is gone, nothing keeps A: gc removes it (so it would have before).
	waitUntil(t, 10*time.Second, "the run's lease to go", func() bool { return len(leftovers(t, c, "aishell-"+filepath.Base(proj))) == 0 })
	gc = aishell(t, "", env, "gc")
	mustSucceed(t, gc)
	if imageExists(c, refA) || !strings.Contains(gc.Stdout, refA) {
		t.Errorf("gc left %s, which nothing uses or keeps any more", refA)
	}
}

// The shared view of a harness is held by the harness image alone until the run's container
// holds it: an image removed by hand in that moment takes the view with it. The run then fails
// with one line that says so, plus a hint, and leaves nothing behind.
func TestFaultHarnessRemovedWhileRunStarts(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	const version = "1.9.0" // an openspec no other test builds: this one removes it
	ref := harnessRef("openspec", version)
	mustSucceed(t, aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+version, "--progress=plain"))
	ctx := context.Background()
	chain, err := snapshot.ChainID(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	proj := project(t, "viewgone")
	pause, file := pauseAt(t, "assembled")
	run := started(t, aishellCmd(proj, append(env, pause), "exec", "--network", "none", "--", "openspec", "--version"), "the paused run")
	waitPaused(t, file, run)
	if err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SnapshotService("overlayfs").Stat(ctx, labels.SharedViewKey(chain)); !errdefs.IsNotFound(err) {
		t.Fatalf("the view is still there after its image went (%v): the test proves nothing", err)
	}
	os.Remove(file)
	r := run.wait(t)
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != 1 || len(lines) != 2 || !strings.Contains(lines[0], "the snapshot of harness openspec was removed while the run started") ||
		lines[1] != "hint: run the command again" {
		t.Errorf("exit %d, stderr %q: want one line naming openspec, then the hint", r.Code, r.Stderr)
	}
	waitGone(t, c, "aishell-viewgone-")
}

func TestFaultGCWhileBuildTags(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t) // a person whose first build this is: no config file yet
	other := userEnv(t)
	refA, refC := harnessRef("openspec", openspecA), harnessRef("openspec", openspecC)
	c.ImageService().Delete(context.Background(), refC) // built now, by the build below
	mustSucceed(t, aishell(t, "", other, "build", "--with-openspec", "--openspec-version="+openspecA, "--progress=plain"))

	// The first build has built and tagged C; no config file names it yet when the gcs run.
	pause, file := pauseAt(t, "built")
	first := started(t, aishellCmd("", append(env, pause), "build", "--with-openspec", "--openspec-version="+openspecC, "--progress=plain"), "the paused first build")
	waitPaused(t, file, first)
	if _, err := os.Stat(configPath(env)); err == nil || !imageExists(c, refC) {
		t.Fatalf("at the pause no config file should exist yet (%v) and %s be tagged", err, refC)
	}
	for _, who := range [][]string{other, env} {
		gc := aishell(t, "", who, "gc")
		mustSucceed(t, gc)
		if !imageExists(c, refC) || !strings.Contains(gc.Stdout, "a build is under way") {
			t.Fatalf("gc removed what a build had just made (%s), or did not say a build is under way", refC)
		}
	}
	os.Remove(file)
	mustSucceed(t, first.wait(t))
	if got := recorded(t, env, "openspec"); got != openspecC {
		t.Errorf("the config records openspec %s, want %s", got, openspecC)
	}

	// An update that finds the version it moves to built already, and kept by nobody.
	mustSucceed(t, aishell(t, "", other, "update", "--openspec-version="+openspecB, "--progress=plain"))
	if k := liveKeepers(t, refA); len(k) != 0 {
		t.Fatalf("openspec %s is still kept by %v: the test proves nothing", openspecA, k)
	}
	pause, file = pauseAt(t, "built")
	update := started(t, aishellCmd("", append(env, pause), "update", "--openspec-version="+openspecA, "--progress=plain"), "the paused update")
	waitPaused(t, file, update)
	gc := aishell(t, "", other, "gc")
	mustSucceed(t, gc)
	if !imageExists(c, refA) {
		t.Fatalf("gc removed %s, which an update had found and is about to record", refA)
	}
	os.Remove(file)
	mustSucceed(t, update.wait(t))
	r := aishell(t, project(t, "gcbuild"), env, "exec", "--network", "none", "--", "openspec", "--version")
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != openspecA || strings.Contains(r.Stderr, "rebuilding") {
		t.Errorf("openspec --version %q (%q), want %s as built", r.Stdout, r.Stderr, openspecA)
	}
	// C is no longer the person's: their mark moved to A.
	if k := keptBy(t, refC); contains(k, configPath(env)) {
		t.Errorf("%s still carries the mark of a config that moved on: %v", refC, k)
	}
	if k := keptBy(t, refA); !contains(k, configPath(env)) {
		t.Errorf("%s lacks the mark of the config that names it: %v", refA, k)
	}
}

// A run or a build that starts while a gc removes waits for it; a second gc waits for the first.
func TestFaultGCLock(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	pause, file := pauseAt(t, "gc-locked")
	gc := started(t, aishellCmd("", append(env, pause), "gc"), "the paused gc")
	waitPaused(t, file, gc)
	run := started(t, aishellCmd(project(t, "aftergc"), env, "exec", "--", "echo", "ran"), "a run during gc")
	second := started(t, aishellCmd("", env, "gc"), "a second gc")
	build := started(t, aishellCmd("", env, "build", "--progress=plain"), "a build during gc")
	run.said(t, "waiting for aishell gc")
	second.said(t, "waiting for another aishell gc")
	build.said(t, "waiting for aishell gc")
	if !run.running() {
		t.Fatal("the run ended while the gc held the lock")
	}
	os.Remove(file)
	mustSucceed(t, gc.wait(t))
	r := run.wait(t)
	mustSucceed(t, r)
	if r.Stdout != "ran\n" {
		t.Errorf("the run printed %q", r.Stdout)
	}
	mustSucceed(t, second.wait(t))
	mustSucceed(t, build.wait(t))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Scenario 4: two `aishell update`s of one person at once, and a config change meanwhile.
func TestFaultTwoUpdatesAtOnce(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	refC := harnessRef("openspec", openspecC)
	mustSucceed(t, aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+openspecA, "--progress=plain"))
	c.ImageService().Delete(context.Background(), refC)

	// The first update holds the person's build lock (paused after its build, before it saves);
	// the second starts meanwhile, and so does a change to the config from another command.
	pause, file := pauseAt(t, "built")
	first := started(t, aishellCmd("", append(env, pause), "update", "--openspec-version="+openspecC, "--json"), "the first update")
	waitPaused(t, file, first)
	second := started(t, aishellCmd("", env, "update", "--openspec-version="+openspecC, "--json"), "the second update")
	proj := project(t, "twoupdates")
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	os.WriteFile(filepath.Join(proj, ".aishell", "config.yaml"), []byte("env:\n  A: b\n"), 0o644)
	mustSucceed(t, aishell(t, proj, env, "config", "trust"))
	second.said(t, "waiting for another aishell of yours")
	os.Remove(file)
	r1, r2 := first.wait(t), second.wait(t)
	mustSucceed(t, r1)
	mustSucceed(t, r2)
	var d1, d2 struct {
		Builds    int `json:"builds"`
		Harnesses []struct {
			Version string `json:"version"`
		} `json:"harnesses"`
	}
	if err := json.Unmarshal([]byte(r1.Stdout), &d1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r2.Stdout), &d2); err != nil {
		t.Fatal(err)
	}
	if d1.Builds != 1 || d2.Builds != 0 {
		t.Errorf("builds: %d and %d, want 1 and 0 (the second finds the first's)", d1.Builds, d2.Builds)
	}
	if !strings.Contains(r2.Stderr, "waiting for another aishell of yours") {
		t.Errorf("the second update did not say it waits: %q", r2.Stderr)
	}
	if len(d1.Harnesses) != 1 || len(d2.Harnesses) != 1 || d1.Harnesses[0].Version != openspecC || d2.Harnesses[0].Version != openspecC {
		t.Errorf("the two ended with %+v and %+v, want openspec %s both", d1.Harnesses, d2.Harnesses, openspecC)
	}
	f, err := config.Load(configPath(env))
	if err != nil {
		t.Fatal(err)
	}
	if f.Harnesses["openspec"].Resolved != openspecC || len(f.TrustedProjects) != 1 {
		t.Errorf("the config lost a write: openspec %q, trusted %q", f.Harnesses["openspec"].Resolved, f.TrustedProjects)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(configPath(env)), ".config-*")); len(tmp) > 0 {
		t.Errorf("half-written config files left: %v", tmp)
	}
}

// runLease is the lease of the run of the project proj, once it exists.
func runLease(t *testing.T, proj string) leases.Lease {
	t.Helper()
	c := needEnv(t)
	var found leases.Lease
	waitUntil(t, 30*time.Second, "the lease of a run in "+proj, func() bool {
		ls, _ := c.LeasesService().List(context.Background(), labels.HasKey(labels.PID))
		for _, l := range ls {
			if strings.HasPrefix(l.ID, "aishell-"+filepath.Base(proj)+"-") {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// A run's host directories whose run containerd no longer knows (its lease expired before anybody
// reaped it) are removed by a later run's reaper; a young one, one of a run that exists, and
// anything not named as a run's are left alone.
func TestFaultOrphanDirsRemoved(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	tmp := os.TempDir()
	old := time.Now().Add(-10 * time.Minute)
	mk := func(name string, when time.Time) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(d, when, when)
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	orphan := mk("aishell-orphantest-exec-0a0b0c-etc-1234567", old)
	orphanCfg := mk("aishell-orphantest-exec-0a0b0c-config-7654321", old)
	young := mk("aishell-orphantest-exec-1a1b1c-etc-1234567", time.Now())
	notOurs := mk("aishell-orphantest-exec-2a2b2c-etc-12x4567", old)
	// A link planted under an orphan's name: never followed, never removed.
	target := t.TempDir()
	os.WriteFile(filepath.Join(target, "keep"), nil, 0o600)
	link := filepath.Join(tmp, "aishell-orphantest-exec-4a4b4c-etc-1234567")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	tv := unix.NsecToTimeval(old.UnixNano())
	unix.Lutimes(link, []unix.Timeval{tv, tv})
	// One of a run that containerd knows: a lease under its ID.
	known := mk("aishell-orphantest-exec-3a3b3c-etc-1234567", old)
	l, err := c.LeasesService().Create(context.Background(), leases.WithID("aishell-orphantest-exec-3a3b3c"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.LeasesService().Delete(context.Background(), l)

	mustSucceed(t, aishell(t, project(t, "orphans"), env, "exec", "--", "true"))
	waitUntil(t, 15*time.Second, "the orphaned directories to be removed", func() bool {
		_, e1 := os.Stat(orphan)
		_, e2 := os.Stat(orphanCfg)
		return os.IsNotExist(e1) && os.IsNotExist(e2)
	})
	for _, d := range []string{young, notOurs, known, link, filepath.Join(target, "keep")} {
		if _, err := os.Lstat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}

// Scenario 5: aishell killed before its container exists.
func TestFaultKilledBeforeContainer(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	for _, tc := range []struct {
		name       string
		killReaper bool
	}{{"aishell", false}, {"aishell-and-reaper", true}} {
		t.Run(tc.name, func(t *testing.T) {
			proj := project(t, "early"+strings.ReplaceAll(tc.name, "-", ""))
			pause, file := pauseAt(t, "assembled")
			cmd := aishellCmd(proj, append(env, pause), "exec", "--", "true")
			run := started(t, cmd, "the paused run")
			pid := waitPaused(t, file, run)
			l := runLease(t, proj)
			id := l.ID
			if exp, err := time.Parse(time.RFC3339, l.Labels["containerd.io/gc.expire"]); err != nil || time.Until(exp) > time.Hour {
				t.Errorf("the run's lease expires at %q (%v): it would hold its snapshots for more than an hour", l.Labels["containerd.io/gc.expire"], err)
			}
			if _, err := c.LoadContainer(context.Background(), id); err == nil {
				t.Fatal("the container exists at the pause: the test proves nothing")
			}
			if len(hostFiles(id)) == 0 || len(leftovers(t, c, id)) < 2 {
				t.Fatalf("the run had made no host files or snapshots yet (%v, %v): the test proves nothing", hostFiles(id), leftovers(t, c, id))
			}
			reaper, _ := strconv.Atoi(l.Labels[labels.ReaperPID])
			if tc.killReaper {
				syscall.Kill(reaper, syscall.SIGKILL)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			run.wait(t)
			if tc.killReaper {
				time.Sleep(time.Second)
				if left := leftovers(t, c, id); len(left) == 0 {
					t.Fatal("with aishell and its reaper dead, something removed the run: the test proves nothing")
				}
				// The person's next run removes it, with no gc.
				mustSucceed(t, aishell(t, project(t, "next"), env, "exec", "--", "true"))
			}
			waitUntil(t, 15*time.Second, "the killed run to be removed", func() bool { return len(leftovers(t, c, id)) == 0 && len(hostFiles(id)) == 0 })
		})
	}
}

// Scenario 7: a live run of another person, or of an aishell in another pid namespace, is
// never removed by anybody's gc or by the reaper of anybody's run; a dead run of another
// person is left to that person's next run (or gc), not taken by the reaper of this one's.
func TestFaultOthersLiveRunsKept(t *testing.T) {
	c := needEnv(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	u, _ := needRootless(t) // its user is another person, through sudo, on this containerd
	env := runEnv(t)
	sudo := sudoEnv(u, t.TempDir(), "XDG_CONFIG_HOME="+u.dir(t, "faultcfg"))
	mustSucceed(t, runCmd(t, sudoCmd("", sudo, "build", "--with-gemini", "--gemini-version="+geminiV, "--progress=plain"), "sudo aishell build"))

	// An aishell in a pid namespace of its own (as in a container sharing the host's
	// containerd): nobody outside can tell whether it lives.
	projNS := project(t, "otherns")
	nsCmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", aishellBin, "exec", "--network", "none", "--", "sh", "-c", "sleep 6; echo alive-ns")
	nsCmd.Dir, nsCmd.Env = projNS, append(os.Environ(), env...)
	inNS := started(t, nsCmd, "aishell in another pid namespace")
	// Another person's live run, through sudo.
	projOther := u.project(t, "otherperson")
	other := started(t, sudoCmd(projOther, sudo, "exec", "--", "sh", "-c", "sleep 6; echo alive-other"), "another person's aishell")
	// And a dead run of this person's: aishell and reaper killed.
	projDead := project(t, "deadmine")
	dead := started(t, aishellCmd(projDead, env, "exec", "--", "sleep", "100"), "a run to kill")
	idNS, idOther, idDead := runningID(t, c, projNS), runningID(t, c, projOther), runningID(t, c, projDead)
	syscall.Kill(reaperOf(t, c, idDead), syscall.SIGKILL)
	dead.cmd.Process.Kill()
	dead.wait(t)

	// The other person's run ends: its reaper reaps that person's dead runs, not this one's.
	mustSucceed(t, runCmd(t, sudoCmd(u.project(t, "otherend"), sudo, "exec", "--", "true"), "sudo aishell exec true"))
	time.Sleep(2 * time.Second)
	if len(leftovers(t, c, idDead)) == 0 {
		t.Error("another person's run's reaper removed this person's dead run")
	}
	// This person's runs (whose reapers reap their dead runs) and gc.
	mustSucceed(t, aishell(t, project(t, "mine"), env, "exec", "--", "true"))
	waitGone(t, c, idDead)
	gc := aishell(t, "", env, "gc")
	mustSucceed(t, gc)
	if strings.Contains(gc.Stdout, idNS) || strings.Contains(gc.Stdout, idOther) {
		t.Errorf("gc reaped a live run: %s", gc.Stdout)
	}
	for bg, want := range map[*background]string{inNS: "alive-ns", other: "alive-other"} {
		r := bg.wait(t)
		mustSucceed(t, r)
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("%s ended without its output: %q", bg.what, r.Stdout)
		}
	}
}

// Scenario 8: two people share one namespace (sudo aishell on a shared host). What one's config
// names, the other's gc leaves alone; what nobody's names, gc removes.
func TestFaultTwoPeopleShareNamespace(t *testing.T) {
	c := needEnv(t)
	a, b := userEnv(t), userEnv(t)
	refA, refB := harnessRef("openspec", openspecA), harnessRef("openspec", openspecB)
	mustSucceed(t, aishell(t, "", a, "build", "--with-openspec", "--openspec-version="+openspecA, "--progress=plain"))
	mustSucceed(t, aishell(t, "", b, "build", "--with-openspec", "--openspec-version="+openspecB, "--progress=plain"))

	if k := liveKeepers(t, refA); len(k) != 1 || k[0] != configPath(a) {
		t.Fatalf("%s is kept by %v, not by A's config alone: the test proves nothing", refA, k)
	}
	// B's gc keeps A's harness: A's config names it.
	gc := aishell(t, "", b, "gc")
	mustSucceed(t, gc)
	if !imageExists(c, refA) {
		t.Fatalf("B's gc removed %s, which A's config names", refA)
	}
	r := aishell(t, project(t, "pa"), a, "exec", "--network", "none", "--", "openspec", "--version")
	mustSucceed(t, r)
	if strings.TrimSpace(r.Stdout) != openspecA || strings.Contains(r.Stderr, "rebuilding") {
		t.Errorf("A's next run: %q / %q, want openspec %s as it was", r.Stdout, r.Stderr, openspecA)
	}
	waitGone(t, c, "aishell-pa-") // its reaper has removed it: it uses nothing any more
	// harness ls shows B that another person keeps A.
	ls := aishell(t, "", b, "harness", "ls")
	mustSucceed(t, ls)
	if row := lineWith(ls.Stdout, openspecA); !strings.Contains(row, "other person") {
		t.Errorf("harness ls row of %s: %q, want it kept by another person's config", openspecA, row)
	}
	// A moves to B's version: now nobody keeps A's old one, and B's gc removes it.
	mustSucceed(t, aishell(t, "", a, "update", "--openspec-version="+openspecB, "--progress=plain"))
	gc = aishell(t, "", b, "gc")
	mustSucceed(t, gc)
	if imageExists(c, refA) || !imageExists(c, refB) {
		t.Errorf("after A moved on, gc should remove %s (nobody keeps it) and keep %s", refA, refB)
	}
}
