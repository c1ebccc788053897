package test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vmStandIn plays limactl and colima for the forwarder: `list --json` and `status` answer from
// STANDIN_* variables; `shell` and `ssh` record their argv (NUL-separated), working directory,
// environment and whether stdin is a terminal, copy the variables file the forwarder named, and
// then answer a probe (`true`), play the VM's doctor, wait for a signal, die by one, or exit
// with a given code.
const vmStandIn = `#!/bin/bash
d=$STANDIN_DIR
case "$(basename "$0") $1" in
"limactl list")
	if [ -n "$STANDIN_NO_INSTANCE" ]; then echo "WARN[0000] No instance matching $3 found." >&2; exit 1; fi
	printf '{"name":"%s","status":"%s","dir":"/x","config":{"mounts":[{"location":"~","writable":true}%s]}}\n' "$3" "${STANDIN_STATUS:-Running}" "$STANDIN_MORE_MOUNTS"
	exit 0 ;;
"colima status") exit "${STANDIN_COLIMA_STATUS:-0}" ;;
esac
echo "$(basename "$0") $*" >>"$d/calls"
printf '%s\0' "$(basename "$0")" "$@" >"$d/argv"
pwd >"$d/cwd"
env -0 >"$d/env"
if [ -t 0 ]; then echo yes >"$d/tty"; else echo no >"$d/tty"; fi
for a in "$@"; do case $a in AISHELL_VM_ENV_FILE=*) cp "${a#*=}" "$d/envfile" ;; esac; done
# STANDIN_REMOTE: do what limactl shell does with the command (cmd/limactl/shell.go: each
# argument through shellescape.Quote, joined, run by the guest's shell with -c after cd to the
# workdir), with the "VM"'s programs from $STANDIN_REMOTE first on PATH.
q() { case $1 in "") printf "''" ;; *[!A-Za-z0-9_@%+=:,./-]*) printf "'%s'" "${1//\'/\'\"\'\"\'}" ;; *) printf '%s' "$1" ;; esac; }
if [ -n "$STANDIN_REMOTE" ] && [ "$1" = shell ]; then
	wd=$3
	shift 4
	cmd=
	for a in "$@"; do cmd+="$(q "$a") "; done
	PATH=$STANDIN_REMOTE:$PATH exec /bin/sh -c "cd $(q "$wd") || exit 1 ; exec /bin/bash -c $(q "$cmd")"
fi
if [ "${*: -1}" = true ]; then exit 0; fi
if [ "${*: -2:1}" = aishell ] && [ "${*: -1}" = doctor ]; then echo "ok    containerd   (the VM's own doctor)"; exit "${STANDIN_DOCTOR_EXIT:-0}"; fi
if [ -n "$STANDIN_WAIT" ]; then
	trap 'echo TERM >"$d/signal"; exit 42' TERM
	trap 'echo INT >"$d/signal"; exit 43' INT
	trap 'echo HUP >"$d/signal"; exit 44' HUP
	touch "$d/ready"
	while :; do sleep 0.05; done
fi
if [ -n "$STANDIN_SIGNAL" ]; then kill -"$STANDIN_SIGNAL" $$; fi
exit "${STANDIN_EXIT:-0}"
`

// vmHost is a host with only the stand-ins: a home with a project in it, and the environment
// aishell gets (nothing of the test's own).
type vmHost struct {
	t                  *testing.T
	home, project, rec string
	env                []string
}

func newVMHost(t *testing.T) *vmHost {
	t.Helper()
	dir := t.TempDir()
	h := &vmHost{t: t, home: filepath.Join(dir, "home", "alice"), rec: filepath.Join(dir, "rec")}
	h.project = filepath.Join(h.home, "src", "my project")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{h.project, bin, h.rec} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"limactl", "colima"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(vmStandIn), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + h.home, "STANDIN_DIR=" + h.rec,
		"TERM=xterm-256color", "ANTHROPIC_API_KEY=sk-ant-secret-123", "AISHELL_TRACE=", "UNRELATED=nope"}
	return h
}

func (h *vmHost) cmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(aishellBin, args...)
	cmd.Dir = h.project
	cmd.Env = append(append([]string{}, h.env...), env...)
	return cmd
}

// run runs aishell and returns its exit code and stderr.
func (h *vmHost) run(env []string, args ...string) (int, string) {
	h.t.Helper()
	cmd := h.cmd(env, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func (h *vmHost) argv() []string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.rec, "argv"))
	if err != nil {
		h.t.Fatalf("the stand-in was not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func (h *vmHost) recorded(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.rec, name))
	return strings.TrimSpace(string(b))
}

// userArgs are arguments a shell would mangle if they were not quoted for it.
var userArgs = []string{"exec", "--", "printf", "%s|", "a b", "it's", `"q"`, "$HOME", "x;y", "`id`", "*", ""}

// On a host that asks for a Lima VM, aishell runs itself through `limactl shell --workdir`, in
// the project's directory, with its arguments untouched (limactl quotes them for the guest's
// shell), the API key in a private file rather than on any command line, and the exit code of
// what ran there.
func TestVMForwardLima(t *testing.T) {
	h := newVMHost(t)
	code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_EXIT=7"}, userArgs...)
	if code != 7 {
		t.Fatalf("exit %d, want the VM's 7; stderr: %s", code, stderr)
	}
	argv := h.argv()
	if len(argv) < 9 {
		t.Fatalf("argv %q", argv)
	}
	wantHead := []string{"limactl", "shell", "--workdir", h.project, "dev", "env", "AISHELL_IN_VM=1", "HOME=" + h.home}
	if strings.Join(argv[:len(wantHead)], "\x00") != strings.Join(wantHead, "\x00") {
		t.Errorf("argv starts %q, want %q", argv[:len(wantHead)], wantHead)
	}
	rest := argv[len(wantHead):]
	if !strings.HasPrefix(rest[0], "AISHELL_VM_ENV_FILE="+filepath.Join(h.home, ".cache", "aishell", "vm", "env-")) {
		t.Errorf("want the variables file under the home's cache, got %q", rest[0])
	}
	if got, want := strings.Join(rest[1:], "\x00"), strings.Join(append([]string{"aishell"}, userArgs...), "\x00"); got != want {
		t.Errorf("the command in the VM is %q, want %q", rest[1:], append([]string{"aishell"}, userArgs...))
	}
	if cwd := h.recorded("cwd"); cwd != h.project {
		t.Errorf("limactl ran in %q, want the project %q", cwd, h.project)
	}
	envfile := h.recorded("envfile")
	for _, want := range []string{"ANTHROPIC_API_KEY=sk-ant-secret-123", "TERM=xterm-256color"} {
		if !strings.Contains(envfile, want) {
			t.Errorf("the variables file lacks %s: %q", want, envfile)
		}
	}
	for _, not := range []string{"UNRELATED", "AISHELL_LIMA_INSTANCE", "PATH="} {
		if strings.Contains(envfile, not) {
			t.Errorf("the variables file passes %s: %q", not, envfile)
		}
	}
	if strings.Contains(strings.Join(argv, " "), "sk-ant-secret") || strings.Contains(h.recorded("calls"), "sk-ant-secret") {
		t.Error("the API key is on limactl's command line, visible in ps")
	}
	left, _ := filepath.Glob(filepath.Join(h.home, ".cache", "aishell", "vm", "env-*"))
	if len(left) > 0 {
		t.Errorf("the variables file is left behind: %v", left)
	}
	if fi, err := os.Stat(filepath.Join(h.home, ".cache", "aishell", "vm")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the variables directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}

// colima's containerd is rootful: aishell goes through `colima ssh -- sudo`, into the project's
// directory, and names the host's home for sudo mode, which ignores HOME.
func TestVMForwardColima(t *testing.T) {
	h := newVMHost(t)
	code, stderr := h.run([]string{"AISHELL_COLIMA_PROFILE=work"}, userArgs...)
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr)
	}
	argv := h.argv()
	wantHead := []string{"colima", "ssh", "--profile", "work", "--", "sudo", "sh", "-c", `cd "$1" || exit 1; shift; exec "$@"`, "aishell-cd", h.project,
		"env", "AISHELL_IN_VM=1", "AISHELL_VM_HOME=" + h.home}
	if len(argv) < len(wantHead)+2 || strings.Join(argv[:len(wantHead)], "\x00") != strings.Join(wantHead, "\x00") {
		t.Fatalf("argv %q, want it to start %q", argv, wantHead)
	}
	if got, want := strings.Join(argv[len(wantHead)+1:], "\x00"), strings.Join(append([]string{"aishell"}, userArgs...), "\x00"); got != want {
		t.Errorf("the command in the VM is %q", argv[len(wantHead)+1:])
	}
	// What sh -c makes of the command, run here: the directory, and every argument intact.
	sh := exec.Command("sh", append([]string{"-c", argv[8], argv[9], argv[10], "printf", "%s\\n", "$(pwd)"}, userArgs[3:]...)...)
	out, err := sh.Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(string(out), "\n"); lines[0] != "$(pwd)" || lines[1] != userArgs[3] || lines[2] != "a b" {
		t.Errorf("sh -c passed the arguments as %q", out)
	}
	if !strings.Contains(h.recorded("envfile"), "ANTHROPIC_API_KEY=sk-ant-secret-123") {
		t.Error("the API key did not reach the VM")
	}
}

// The VM's process dying by a signal ends aishell with 128+N; a signal sent to aishell reaches
// the forwarded process.
func TestVMForwardSignals(t *testing.T) {
	for _, c := range []struct {
		sig  string
		want int
	}{{"TERM", 128 + 15}, {"KILL", 128 + 9}, {"INT", 128 + 2}} {
		h := newVMHost(t)
		if code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_SIGNAL=" + c.sig}, "exec", "--", "sleep", "1"); code != c.want {
			t.Errorf("limactl died by SIG%s: exit %d, want %d (stderr %s)", c.sig, code, c.want, stderr)
		}
	}
	for _, c := range []struct {
		sig  syscall.Signal
		name string
		want int
	}{{syscall.SIGTERM, "TERM", 42}, {syscall.SIGINT, "INT", 43}, {syscall.SIGHUP, "HUP", 44}} {
		h := newVMHost(t)
		cmd := h.cmd([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_WAIT=1"}, "exec", "--", "sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for h.recorded("ready") == "" && time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(h.rec, "ready")); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(c.sig)
		cmd.Wait()
		if got := h.recorded("signal"); got != c.name {
			t.Errorf("SIG%s to aishell: the VM's process got %q", c.name, got)
		}
		if code := cmd.ProcessState.ExitCode(); code != c.want {
			t.Errorf("SIG%s: exit %d, want the VM process's %d", c.name, code, c.want)
		}
	}
}

// On a terminal, limactl gets the terminal itself as stdin (its ssh then does raw mode and
// window size changes); without one, it gets none.
func TestVMForwardTerminal(t *testing.T) {
	h := newVMHost(t)
	cmd := h.cmd([]string{"AISHELL_LIMA_INSTANCE=dev"}, "claude")
	ptmx, _ := onTerminal(t, cmd, 30, 100)
	defer ptmx.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("aishell did not end")
	}
	if got := h.recorded("tty"); got != "yes" {
		t.Errorf("on a terminal, limactl's stdin is a terminal: %q", got)
	}
	h2 := newVMHost(t)
	h2.run([]string{"AISHELL_LIMA_INSTANCE=dev"}, "claude")
	if got := h2.recorded("tty"); got != "no" {
		t.Errorf("without a terminal, limactl's stdin is one: %q", got)
	}
}

// A project the VM does not mount gets one line naming what the VM sees and how to add a
// mount; nothing runs in the VM.
func TestVMForwardOutsideMounts(t *testing.T) {
	h := newVMHost(t)
	outside := t.TempDir()
	cmd := h.cmd([]string{"AISHELL_LIMA_INSTANCE=dev"}, "exec", "--", "ls")
	cmd.Dir = outside
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) > 2 || !strings.Contains(lines[0], outside) || !strings.Contains(lines[0], h.home) {
		t.Errorf("want one line naming %s and what the VM sees (%s), and a hint; got:\n%s", outside, h.home, stderr.String())
	}
	if !strings.Contains(stderr.String(), "limactl edit dev --mount") {
		t.Errorf("no way to add a mount in: %s", stderr.String())
	}
	if h.recorded("argv") != "" {
		t.Error("limactl shell ran anyway")
	}
	// A second mount the instance has is seen.
	code, stderr2 := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", `STANDIN_MORE_MOUNTS=,{"location":"` + outside + `"}`}, "exec", "--", "ls")
	_ = code
	cmd = h.cmd([]string{"AISHELL_LIMA_INSTANCE=dev", `STANDIN_MORE_MOUNTS=,{"location":"` + outside + `"}`}, "exec", "--", "ls")
	cmd.Dir = outside
	if err := cmd.Run(); err != nil {
		t.Errorf("a project under the instance's second mount: %v (%s)", err, stderr2)
	}
}

// What needs no daemon runs on the host; inside the VM (the marker set) nothing forwards again;
// on Linux nothing forwards unless asked; a missing instance says how to create it.
func TestVMForwardWhen(t *testing.T) {
	h := newVMHost(t)
	if code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev"}, "version"); code != 0 || h.recorded("argv") != "" {
		t.Errorf("version: exit %d (%s), forwarded: %v", code, stderr, h.recorded("argv") != "")
	}
	h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "AISHELL_IN_VM=1", "CONTAINERD_ADDRESS=/nonexistent.sock"}, "exec", "--", "true")
	if h.recorded("argv") != "" {
		t.Error("forwarded again inside the VM")
	}
	h.run([]string{"CONTAINERD_ADDRESS=/nonexistent.sock"}, "exec", "--", "true")
	if h.recorded("argv") != "" {
		t.Error("forwarded on Linux without being asked")
	}
	code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_NO_INSTANCE=1"}, "exec", "--", "true")
	if code != 1 || !strings.Contains(stderr, "limactl start --name=dev ./lima.yaml") {
		t.Errorf("a missing instance: exit %d, stderr %s", code, stderr)
	}
	if code, stderr := h.run([]string{"AISHELL_VM=lima", "AISHELL_LIMA_INSTANCE=dev", "STANDIN_EXIT=3"}, "exec", "--", "ls"); code != 3 {
		t.Errorf("AISHELL_VM=lima: exit %d (%s)", code, stderr)
	}
	if code, _ := h.run([]string{"AISHELL_VM=qemu"}, "exec", "--", "ls"); code != 2 {
		t.Errorf("AISHELL_VM=qemu: exit %d, want 2 (usage)", code)
	}
}

// doctor on the host checks the VM: it runs, a command reaches it, and its own doctor passes.
func TestVMDoctor(t *testing.T) {
	h := newVMHost(t)
	cmd := h.cmd([]string{"AISHELL_LIMA_INSTANCE=dev"}, "doctor")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    vm ", "ok    vm shell", "ok    vm doctor", "the VM's own doctor"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor's report lacks %q:\n%s", want, out)
		}
	}
	calls := h.recorded("calls")
	if !strings.Contains(calls, "limactl shell --workdir / dev true") || !strings.Contains(calls, "limactl shell --workdir / dev env AISHELL_IN_VM=1 aishell doctor") {
		t.Errorf("the calls: %s", calls)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"STANDIN_DOCTOR_EXIT=1"}, "FAIL  vm doctor"},
		{[]string{"STANDIN_STATUS=Stopped"}, "FAIL  vm           Lima instance \"dev\" is not running (hint: limactl start dev)"},
		{[]string{"STANDIN_NO_INSTANCE=1"}, "FAIL  vm           Lima instance \"dev\" does not exist"},
	} {
		out, err := h.cmd(append([]string{"AISHELL_LIMA_INSTANCE=dev"}, c.env...), "doctor").CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: doctor %v, want %q in:\n%s", c.env, err, c.want, out)
		}
	}
}

// A stopped instance is named with the command that starts it, rather than left to limactl's
// question.
func TestVMForwardStopped(t *testing.T) {
	h := newVMHost(t)
	code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_STATUS=Stopped"}, "claude")
	if code != 1 || !strings.Contains(stderr, `Lima instance "dev" is stopped`) || !strings.Contains(stderr, "limactl start dev") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	if h.recorded("argv") != "" {
		t.Error("limactl shell ran anyway")
	}
}

// Through limactl's own quoting and the guest's shell (the stand-in does what limactl shell
// does), the VM's aishell gets exactly the arguments typed on the host, in the project's
// directory, with the host's HOME, and reads the variables file the host left.
func TestVMForwardThroughTheGuestShell(t *testing.T) {
	h := newVMHost(t)
	remote := filepath.Join(t.TempDir(), "vmbin")
	os.Mkdir(remote, 0o755)
	writeFile(t, filepath.Join(remote, "aishell"), `#!/bin/bash
printf '%s\0' "$@" >"$STANDIN_DIR/remote-argv"
pwd >"$STANDIN_DIR/remote-cwd"
echo "$HOME $AISHELL_IN_VM" >"$STANDIN_DIR/remote-home"
tr '\0' '\n' <"$AISHELL_VM_ENV_FILE" >"$STANDIN_DIR/remote-env"
exit 5
`)
	os.Chmod(filepath.Join(remote, "aishell"), 0o755)
	code, stderr := h.run([]string{"AISHELL_LIMA_INSTANCE=dev", "STANDIN_REMOTE=" + remote}, userArgs...)
	if code != 5 {
		t.Fatalf("exit %d, want the VM aishell's 5; stderr %s", code, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(h.rec, "remote-argv"))
	got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if strings.Join(got, "\x00") != strings.Join(userArgs, "\x00") {
		t.Errorf("the VM's aishell got %q, want %q", got, userArgs)
	}
	if cwd := h.recorded("remote-cwd"); cwd != h.project {
		t.Errorf("it ran in %q, want %q", cwd, h.project)
	}
	if home := h.recorded("remote-home"); home != h.home+" 1" {
		t.Errorf("HOME and the marker in the VM: %q", home)
	}
	if !strings.Contains(h.recorded("remote-env"), "ANTHROPIC_API_KEY=sk-ant-secret-123") {
		t.Errorf("the VM's aishell could not read the key: %q", h.recorded("remote-env"))
	}
}
