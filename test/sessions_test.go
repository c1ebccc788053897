package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// psSession is one session of `aishell ps --json`.
type psSession struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Project       string    `json:"project"`
	Purpose       string    `json:"purpose"`
	Version       string    `json:"version"`
	User          string    `json:"user"`
	Started       time.Time `json:"started"`
	State         string    `json:"state"`
	Detached      bool      `json:"detached"`
	OwnerPID      int       `json:"owner_pid"`
	OwnerAlive    bool      `json:"owner_alive"`
	UptimeSeconds int64     `json:"uptime_seconds"`
}

// psJSON runs `aishell ps --json` (with args) in dir and returns its sessions by name.
func psJSON(t *testing.T, dir string, env []string, args ...string) map[string]psSession {
	t.Helper()
	r := aishell(t, dir, env, append([]string{"ps", "--json"}, args...)...)
	mustSucceed(t, r)
	var doc struct {
		Sessions []psSession `json:"sessions"`
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("ps --json: %v\n%s", err, r.Stdout)
	}
	out := map[string]psSession{}
	for _, s := range doc.Sessions {
		out[s.Name] = s
	}
	return out
}

// startSession starts `aishell exec --name NAME -- sh -c script NAME` in proj in the background.
func startSession(t *testing.T, proj string, env []string, name, script string) *exec.Cmd {
	t.Helper()
	cmd := aishellCmd(proj, env, "exec", "--name", name, "--", "sh", "-c", script, name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// waitSessions waits until the project has n running sessions.
func waitSessions(t *testing.T, c *containerd.Client, proj string, n int) {
	t.Helper()
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d running sessions in %s", n, proj), func() bool { return len(projectTasks(c, proj)) == n })
}

// Named sessions in two projects: ps lists this project's (and --all every project's, in
// JSON as in text), a second session of a name is refused, attach runs a command inside with
// the session's user, directory and files, and stop ends one (its aishell exits as on SIGTERM)
// leaving nothing in containerd.
func TestSessionsPsAttachStop(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	a, b := project(t, "sess-a"), project(t, "sess-b")
	script := "echo state-of-$0 >/tmp/state; " + untilReleased
	one := startSession(t, a, env, "one", script)
	startSession(t, a, env, "two", script)
	startSession(t, b, env, "three", script)
	waitSessions(t, c, a, 2)
	waitSessions(t, c, b, 1)

	dup := aishell(t, a, env, "exec", "--name", "one", "--", "true")
	if dup.Code != 1 || !strings.Contains(dup.Stderr, "a session named one is already running in this project") || !strings.Contains(dup.Stderr, "aishell attach one") {
		t.Errorf("a second session named one: exit %d %q", dup.Code, dup.Stderr)
	}
	// The same name in another project is another session.
	if r := aishell(t, b, env, "exec", "--name", "one", "--", "true"); r.Code != 0 {
		t.Errorf("the name one in another project: exit %d %q", r.Code, r.Stderr)
	}

	here := aishell(t, a, env, "ps")
	mustSucceed(t, here)
	for _, n := range []string{"one", "two"} {
		if line := lineWith(here.Stdout, n+" "); !strings.Contains(line, a) || !strings.Contains(line, "exec") || !strings.Contains(line, "running") {
			t.Errorf("ps in %s: no running line for %s:\n%s", a, n, here.Stdout)
		}
	}
	if strings.Contains(here.Stdout, "three") {
		t.Errorf("ps lists another project's session:\n%s", here.Stdout)
	}
	all := psJSON(t, a, env, "--all")
	text := aishell(t, a, env, "ps", "--all")
	for name, proj := range map[string]string{"one": a, "two": a, "three": b} {
		s, ok := all[name]
		if !ok {
			t.Errorf("ps --all --json has no %s: %v", name, all)
			continue
		}
		if s.Project != proj || s.Purpose != "exec" || s.State != "running" || s.Detached || !s.OwnerAlive || s.OwnerPID <= 0 || s.Started.IsZero() {
			t.Errorf("ps --all --json, %s: %+v", name, s)
		}
		line := lineWith(text.Stdout, name+" ")
		for _, want := range []string{proj, s.Purpose, s.State, fmt.Sprint(s.OwnerPID)} {
			if !strings.Contains(line, want) {
				t.Errorf("ps --all text line of %s %q lacks %q (JSON %+v)", name, line, want, s)
			}
		}
	}
	if all["one"].OwnerPID != one.Process.Pid {
		t.Errorf("owner pid of one: %d, want the aishell that started it, %d", all["one"].OwnerPID, one.Process.Pid)
	}

	// attach: inside the running session, as it runs.
	r := aishell(t, a, env, "attach", "one", "--", "sh", "-c", "cat /tmp/state; id -u; pwd")
	mustSucceed(t, r)
	if want := fmt.Sprintf("state-of-one\n%d\n%s\n", os.Getuid(), a); r.Stdout != want {
		t.Errorf("attach one: %q, want %q", r.Stdout, want)
	}
	if r := aishell(t, a, env, "attach", "two", "--", "sh", "-c", "cat /tmp/state && echo $IS_SANDBOX"); r.Stdout != "state-of-two\n1\n" {
		t.Errorf("attach two: %q", r.Stdout)
	}
	if r := aishell(t, a, env, "attach", "one", "--", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("attach's exit code: %d, want 7", r.Code)
	}
	if r := aishell(t, a, env, "attach", "nosuch", "--", "true"); r.Code != 1 || !strings.Contains(r.Stderr, "no session named nosuch") {
		t.Errorf("attach to a missing session: exit %d %q", r.Code, r.Stderr)
	}
	// The session goes on after the attached processes end.
	waitSessions(t, c, a, 2)

	// stop one: its aishell ends as on SIGTERM, and the run is gone.
	st := aishell(t, a, env, "stop", "one")
	mustSucceed(t, st)
	one.Wait()
	if code := one.ProcessState.ExitCode(); code != signalCode(syscall.SIGTERM) {
		t.Errorf("the stopped session's aishell exited %d, want %d", code, signalCode(syscall.SIGTERM))
	}
	waitGone(t, c, all["one"].ID)
	if _, ok := psJSON(t, a, env)["one"]; ok {
		t.Error("ps still lists one after stop")
	}
	// stop --all: this project's sessions only; another project's by its name from here.
	mustSucceed(t, aishell(t, a, env, "stop", "--all", "--time", "2s"))
	waitGone(t, c, all["two"].ID)
	if len(projectTasks(c, b)) != 1 {
		t.Error("stop --all in one project stopped another's session")
	}
	// Another project's session is not stopped by its name alone: by its ID it is.
	if r := aishell(t, a, env, "stop", "three"); r.Code != 1 || !strings.Contains(r.Stderr, "three runs in "+b) {
		t.Errorf("stop of another project's session by name: exit %d %q", r.Code, r.Stderr)
	}
	if len(projectTasks(c, b)) != 1 {
		t.Fatal("stop by name reached another project's session")
	}
	mustSucceed(t, aishell(t, a, env, "stop", all["three"].ID))
	waitGone(t, c, all["three"].ID)
	if r := aishell(t, a, env, "stop"); r.Code != 2 {
		t.Errorf("stop without names or --all: exit %d, want 2", r.Code)
	}
}

// The stand-in of a harness's TUI: it draws its screen, echoes what is typed, and exits 3 on
// "quit".
const standInTUI = `#!/bin/sh
clear
echo "STAND-IN TUI ready in $(pwd)"
while read -r line; do echo "got: $line"; [ "$line" = quit ] && exit 3; done
`

// hostTmux is a tmux server of the test's own on the host: the terminal a person attaches from.
type hostTmux struct {
	t    *testing.T
	sock string
}

func newHostTmux(t *testing.T) *hostTmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if required() {
			t.Fatal("tmux is needed on the host for this test (test/env/install.sh installs it)")
		}
		t.Skip("no tmux on the host")
	}
	h := &hostTmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { exec.Command("tmux", "-S", h.sock, "kill-server").Run() })
	return h
}

func (h *hostTmux) run(args ...string) string {
	h.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", h.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("tmux %v: %v %s", args, err, out)
	}
	return string(out)
}

// window opens a window running the command (in dir, with env) on a 100x30 terminal; the
// window stays after it ends, to be read.
func (h *hostTmux) window(name, dir string, env []string, args ...string) {
	h.t.Helper()
	cmd := []string{"env"}
	cmd = append(cmd, env...)
	cmd = append(cmd, args...)
	if _, err := os.Stat(h.sock); err != nil {
		h.run(append([]string{"new-session", "-d", "-s", "host", "-n", name, "-x", "100", "-y", "30", "-c", dir}, cmd...)...)
		h.run("set-option", "-g", "remain-on-exit", "on")
		return
	}
	h.run(append([]string{"new-window", "-d", "-t", "host", "-n", name, "-c", dir}, cmd...)...)
}

// screen is what the window shows now.
func (h *hostTmux) screen(name string) string { return h.run("capture-pane", "-p", "-t", "host:"+name) }

// waitScreen waits until the window shows s.
func (h *hostTmux) waitScreen(name, s string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.screen(name), s) {
		if time.Now().After(deadline) {
			h.t.Fatalf("window %s never showed %q; it shows:\n%s", name, s, h.screen(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// paneDead reports whether the window's command has ended.
func (h *hostTmux) paneDead(name string) bool {
	return strings.TrimSpace(h.run("display-message", "-p", "-t", "host:"+name, "#{pane_dead}")) == "1"
}

// A detached session: its starter returns at once and the TUI keeps running without it; gc
// leaves it alone; attach (on a terminal) shows the TUI's screen, keys reach it, detaching
// leaves it running, a second attach finds the screen as it was; when the TUI exits, the
// container, its lease, snapshots and host directories are gone, and so is its keeper.
func TestSessionsDetached(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	h := newHostTmux(t)
	proj := project(t, "sess-detached")
	writeFile(t, filepath.Join(proj, "tui.sh"), standInTUI)
	os.Chmod(filepath.Join(proj, "tui.sh"), 0o755)

	start := aishell(t, proj, env, "exec", "--detach", "--name", "tui", "--", "./tui.sh")
	mustSucceed(t, start)
	if !strings.Contains(start.Stdout, "aishell attach tui") {
		t.Errorf("the starter does not say how to attach: %q", start.Stdout)
	}
	s := psJSON(t, proj, env)["tui"]
	if s.State != "running" || !s.Detached || !s.OwnerAlive {
		t.Fatalf("after its starter exited, the detached session is %+v", s)
	}
	if r := aishell(t, proj, env, "ps"); !strings.Contains(lineWith(r.Stdout, "tui "), "running,detached") {
		t.Errorf("ps does not show tui as running detached:\n%s", r.Stdout)
	}
	mustSucceed(t, aishell(t, "", env, "gc"))
	if s2 := psJSON(t, proj, env)["tui"]; s2.State != "running" || s2.ID != s.ID {
		t.Fatalf("gc touched the live detached session: %+v", s2)
	}

	h.window("first", proj, env, aishellBin, "attach", "tui")
	h.waitScreen("first", "STAND-IN TUI ready in "+proj)
	h.run("send-keys", "-t", "host:first", "hello from the test", "Enter")
	h.waitScreen("first", "got: hello from the test")
	h.run("send-keys", "-t", "host:first", "C-b", "d") // tmux's own detach, inside
	waitUntil(t, 10*time.Second, "attach to end after detaching", func() bool { return h.paneDead("first") })
	if s2 := psJSON(t, proj, env)["tui"]; s2.State != "running" {
		t.Fatalf("detaching ended the session: %+v", s2)
	}

	h.window("second", proj, env, aishellBin, "attach", "tui")
	h.waitScreen("second", "got: hello from the test") // the screen as it was left
	if !strings.Contains(h.screen("second"), "STAND-IN TUI ready") {
		t.Errorf("the reattached screen lost its first line:\n%s", h.screen("second"))
	}
	// What the container writes to its own output reaches the keeper's log bounded, its
	// control characters made harmless.
	mustSucceed(t, aishell(t, proj, env, "attach", "tui", "--", "sh", "-c", `printf '\033]0;owned\007\n' >/proc/1/fd/1; head -c 1000000 /dev/zero | tr '\0' x >/proc/1/fd/2`))
	h.run("send-keys", "-t", "host:second", "quit", "Enter")
	waitGone(t, c, s.ID)
	waitUntil(t, 10*time.Second, "the keeper to exit", func() bool { return syscall.Kill(s.OwnerPID, 0) != nil })
	// The TUI exited 3, after the flood: the log is bounded, says so, and ends with the exit code.
	logPath := filepath.Join(os.TempDir(), s.ID+"-session.log")
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("the log of a session that ended with exit code 3: %v", err)
	}
	if !strings.Contains(string(log), "is not kept]") || !strings.HasSuffix(string(log), "ended: exit code 3\n") ||
		strings.Contains(string(log), "\033") || len(log) > 20<<10 {
		t.Errorf("the session's log (%d bytes): %q", len(log), string(log[:min(300, len(log))]))
	}
	os.Remove(logPath)
	if dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), s.ID+"-*")); len(dirs) > 0 {
		t.Errorf("host directories left: %v", dirs)
	}

	// The process's end ends the session, whatever else was opened in its tmux meanwhile; the
	// starter of one that fails at once has said "runs detached", and the log tells why it ended.
	mustSucceed(t, aishell(t, proj, env, "exec", "--detach", "--name", "windows", "--", "sh", "-c", `tmux new-window -d "sleep 1000"; echo fatal error; sleep 1; exit 2`))
	w := psJSON(t, proj, env)["windows"]
	waitGone(t, c, w.ID)
	wlog := filepath.Join(os.TempDir(), w.ID+"-session.log")
	if b, err := os.ReadFile(wlog); err != nil || !strings.Contains(string(b), "fatal error") || !strings.Contains(string(b), "ended: exit code 2") {
		t.Errorf("the log of a session that failed: %q %v", b, err)
	}
	os.Remove(wlog)
	if _, ok := psJSON(t, proj, env)["tui"]; ok {
		t.Error("ps lists the session after its TUI exited")
	}

	// A real harness, detached (Claude Code waits at its first screen without a login): ps
	// names it with its version; stop ends it.
	mustSucceed(t, aishell(t, proj, env, "claude", "--detach", "--name", "agent"))
	cs := psJSON(t, proj, env)["agent"]
	if cs.Purpose != "claude" || cs.Version != claudeV2 || !cs.Detached || cs.State != "running" {
		t.Errorf("ps of a detached claude: %+v", cs)
	}
	mustSucceed(t, aishell(t, proj, env, "stop", "agent", "--time", "2s"))
	waitGone(t, c, cs.ID)
}

// A detached session whose keeper was killed: ps says its owner is gone, stop removes it all
// (container, lease, snapshots, and every host file named after the run), and the name is free
// again.
func TestSessionsStopWithoutOwner(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "sess-orphan")
	mustSucceed(t, aishell(t, proj, env, "exec", "--detach", "--name", "orphan", "--", "sleep", "300"))
	s := psJSON(t, proj, env)["orphan"]
	if s.ID == "" {
		t.Fatal("no session orphan")
	}
	syscall.Kill(s.OwnerPID, syscall.SIGKILL)
	waitUntil(t, 10*time.Second, "the keeper to die", func() bool { return !psJSON(t, proj, env)["orphan"].OwnerAlive })
	if left := leftovers(t, c, s.ID); len(left) == 0 {
		t.Fatal("nothing left after killing the keeper: the test proves nothing")
	}
	// Its passwd/group files, its wrappers, its private harness config copies (what the
	// container wrote there is lost with its keeper) and its log.
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), s.ID+"-*"))
	for _, kind := range []string{"-etc-", "-aishell-", "-config-", "-session.log"} {
		if !strings.Contains(strings.Join(dirs, " "), s.ID+kind) {
			t.Fatalf("the run made no %s (%v): the test proves nothing about removing it", kind, dirs)
		}
	}
	if r := aishell(t, proj, env, "ps"); !strings.Contains(lineWith(r.Stdout, "orphan "), "owner-gone") {
		t.Errorf("ps does not say the owner is gone:\n%s", r.Stdout)
	}
	mustSucceed(t, aishell(t, proj, env, "stop", "orphan", "--time", "1s"))
	waitGone(t, c, s.ID)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("host directory left: %s", d)
		}
	}
	// The name is free: a new session of it runs.
	mustSucceed(t, aishell(t, proj, env, "exec", "--name", "orphan", "--", "true"))
}

// Rootless: a detached session outlives its starter, attach runs inside it, stop removes it.
func TestRootlessSessions(t *testing.T) {
	u, c := needRootless(t)
	cfg := u.dir(t, "cfg")
	xdg := []string{"XDG_CONFIG_HOME=" + cfg}
	rlBuild(t, u, cfg, "--with-claude", "--claude-version="+claudeV2)
	proj := u.project(t, "rlsess")
	mustSucceed(t, u.aishell(t, proj, xdg, "exec", "--detach", "--name", "bg", "--", "sh", "-c", "echo rootless-state >/tmp/state; sleep 300"))
	id := runningID(t, c, proj)
	r := u.aishell(t, proj, xdg, "attach", "bg", "--", "sh", "-c", "cat /tmp/state; id -u")
	mustSucceed(t, r)
	if r.Stdout != "rootless-state\n0\n" {
		t.Errorf("attach, rootless: %q", r.Stdout)
	}
	ps := u.aishell(t, proj, xdg, "ps")
	if !strings.Contains(lineWith(ps.Stdout, "bg "), "running,detached") {
		t.Errorf("ps, rootless:\n%s", ps.Stdout)
	}
	mustSucceed(t, u.aishell(t, proj, xdg, "stop", "bg", "--time", "2s"))
	waitGone(t, c, id)
}
