package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
)

// The tests of this file each abuse one way an untrusted repository could reach the host, and
// each fails on an aishell without the protection.

// trust approves the project's extension as the user would, with `aishell ext trust`.
func trust(t *testing.T, proj string, env []string) {
	t.Helper()
	mustSucceed(t, aishell(t, proj, env, "ext", "trust"))
}

// A project's Dockerfile is neither built nor run before the user approved that exact content.
func TestExtensionNeedsApproval(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	marker := strconv.FormatInt(time.Now().UnixNano(), 10)
	proj := extProject(t, "extconsent", "FROM aishell:foundation\nRUN echo built-"+marker+" > /etc/consent\n")
	ref := build.ExtensionRef(proj)

	// No terminal: refused before any build, with the command that approves it.
	r := aishell(t, proj, env, "exec", "true")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != errs.CodeError || builds(r) != 0 || imageExists(c, ref) || len(lines) != 2 ||
		!strings.Contains(lines[0], "is not approved yet") || !strings.Contains(lines[1], "aishell ext trust") {
		t.Fatalf("unapproved: exit %d, stderr %q, image built %v", r.Code, r.Stderr, imageExists(c, ref))
	}
	if r := aishell(t, proj, env, "ext", "status"); r.Code != 0 || !strings.Contains(r.Stdout, "not approved (aishell ext trust)") {
		t.Errorf("ext status of an unapproved extension: exit %d %q", r.Code, r.Stdout)
	}
	// `aishell build` in the project is held to the same rule.
	if r := aishell(t, proj, env, "build", "--progress=plain"); r.Code != errs.CodeError || builds(r) != 0 {
		t.Errorf("build of an unapproved extension: exit %d %q", r.Code, r.Stderr)
	}
	// --trust approves for one command only.
	r = aishell(t, proj, env, "--trust", "exec", "cat", "/etc/consent")
	mustSucceed(t, r)
	if r.Stdout != "built-"+marker+"\n" {
		t.Errorf("trusted once: %q", r.Stdout)
	}
	if r := aishell(t, proj, env, "exec", "true"); r.Code != errs.CodeError {
		t.Error("--trust was remembered")
	}
	// ext trust shows it and records it; then it runs with no question.
	r = aishell(t, proj, env, "ext", "trust")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "RUN echo built-"+marker) || !strings.Contains(r.Stdout, "approved ") {
		t.Errorf("ext trust output: %q", r.Stdout)
	}
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	// A changed Dockerfile, or a changed file it copies, asks again.
	writeDockerfile(t, proj, "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY data /etc/data\n")
	os.WriteFile(filepath.Join(proj, ".aishell", "data"), []byte("v1\n"), 0o644)
	if r := aishell(t, proj, env, "exec", "true"); r.Code != errs.CodeError || !strings.Contains(r.Stderr, "changed since you approved it") {
		t.Errorf("changed Dockerfile: exit %d %q", r.Code, r.Stderr)
	}
	trust(t, proj, env)
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	os.WriteFile(filepath.Join(proj, ".aishell", "data"), []byte("v2 planted by the agent\n"), 0o644)
	if r := aishell(t, proj, env, "exec", "cat", "/etc/data"); r.Code != errs.CodeError || strings.Contains(r.Stdout, "planted") {
		t.Errorf("changed COPY source ran unapproved: exit %d %q", r.Code, r.Stdout)
	}
	// A # syntax= line is refused outright: another frontend would skip the checks.
	writeDockerfile(t, proj, "# syntax=docker/dockerfile:1\nFROM aishell:foundation\n")
	if r := aishell(t, proj, env, "--trust", "exec", "true"); r.Code != errs.CodeError || !strings.Contains(r.Stderr, "# syntax=") {
		t.Errorf("# syntax= line: exit %d %q", r.Code, r.Stderr)
	}
}

// On a terminal the Dockerfile is shown and the user asked; a no builds nothing, a yes builds
// and is remembered.
func TestExtensionApprovalPrompt(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extprompt", "FROM aishell:foundation\nRUN echo prompted > /etc/prompted\n")
	ask := func(answer string) (string, int) {
		cmd := aishellCmd(proj, env, "exec", "cat", "/etc/prompted")
		ptmx, s := onTerminal(t, cmd, 40, 120)
		defer ptmx.Close()
		s.waitFor(t, `Build and use this extension\? \[y/N\] `, 0)
		ptmx.Write([]byte(answer + "\r"))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("aishell did not finish after the answer")
		}
		return s.buf.String(), cmd.ProcessState.ExitCode()
	}
	out, code := ask("n")
	if code != errs.CodeError || !strings.Contains(out, "RUN echo prompted") || imageExists(c, build.ExtensionRef(proj)) {
		t.Fatalf("answered no: exit %d, built %v:\n%s", code, imageExists(c, build.ExtensionRef(proj)), out)
	}
	out, code = ask("y")
	if code != 0 || !strings.Contains(out, "prompted\r\n") {
		t.Fatalf("answered yes: exit %d:\n%s", code, out)
	}
	r := aishell(t, proj, env, "exec", "cat", "/etc/prompted") // no terminal: the yes was recorded
	mustSucceed(t, r)
}

// The agent cannot plant a hook or a config key that git on the host would run, and commits
// still work.
func TestGitControlFilesReadOnly(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "gitguard")
	script := `set -u
echo '#!/bin/sh' > .git/hooks/pre-commit 2>/dev/null && echo HOOK-WRITTEN
git config core.hooksPath /tmp/evil 2>/dev/null && echo CONFIG-WRITTEN
git config core.fsmonitor 'touch /tmp/pwned' 2>/dev/null && echo FSMONITOR-WRITTEN
echo hi > file && git add file && git commit -q -m "from the sandbox" && echo COMMITTED
echo /tmp/evil > .git/commondir; sleep 1; test -e .git/commondir && echo COMMONDIR-KEPT
mkdir .git/worktrees/planted 2>/dev/null && echo WORKTREE-WRITTEN
mv .git .git-aside 2>/dev/null && echo GIT-MOVED
true`
	r := aishell(t, proj, env, "exec", "sh", "-c", script)
	mustSucceed(t, r)
	for _, bad := range []string{"HOOK-WRITTEN", "CONFIG-WRITTEN", "FSMONITOR-WRITTEN", "COMMONDIR-KEPT", "WORKTREE-WRITTEN", "GIT-MOVED"} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("%s inside the sandbox:\n%s", bad, r.Stdout)
		}
	}
	if !strings.Contains(r.Stdout, "COMMITTED") {
		t.Errorf("a commit inside failed:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "removed "+filepath.Join(proj, ".git", "commondir")) {
		t.Errorf("no word of the removed commondir: %q", r.Stderr)
	}
	// On the host: the commit is there, no hook, no config key, no commondir.
	out, err := exec.Command("git", "-C", proj, "log", "--format=%s").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "from the sandbox" {
		t.Errorf("host git log: %q %v", out, err)
	}
	for _, f := range []string{".git/hooks/pre-commit", ".git/commondir"} {
		if _, err := os.Lstat(filepath.Join(proj, f)); err == nil {
			t.Errorf("%s exists on the host", f)
		}
	}
	if cfg, _ := os.ReadFile(filepath.Join(proj, ".git", "config")); strings.Contains(string(cfg), "hooksPath") || strings.Contains(string(cfg), "fsmonitor") {
		t.Errorf("host .git/config changed:\n%s", cfg)
	}
}

// exec and the shell run the project's code: they get no harness's API key unless asked.
func TestExecGetsNoKeysUnlessAsked(t *testing.T) {
	needEnv(t)
	env := append(runEnv(t), "ANTHROPIC_API_KEY=sk-ant-test", "OPENAI_API_KEY=sk-openai-test", "GEMINI_API_KEY=gem-test")
	proj := project(t, "nokeys")
	r := aishell(t, proj, env, "exec", "env")
	mustSucceed(t, r)
	for _, k := range []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"} {
		if strings.Contains(r.Stdout, k+"=") {
			t.Errorf("exec got %s", k)
		}
	}
	r = aishell(t, proj, env, "exec", "--keys", "claude", "env")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "ANTHROPIC_API_KEY=sk-ant-test\n") || strings.Contains(r.Stdout, "OPENAI_API_KEY=") {
		t.Errorf("exec --keys claude: %q", r.Stdout)
	}
	if r := aishell(t, proj, env, "exec", "--keys", "nosuch", "env"); r.Code != errs.CodeUsage {
		t.Errorf("--keys nosuch: exit %d", r.Code)
	}
}

// The home directory (or one above it) is not mounted as the project unless insisted on, and
// a dotfiles repository in the home does not make the home the project.
func TestHomeIsNotAProject(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	home := project(t, "home") // a git work tree: a dotfiles repository
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte("private\n"), 0o600)
	env = append(env, "HOME="+home)
	r := aishell(t, home, env, "exec", "true")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != errs.CodeError || len(lines) != 2 || !strings.Contains(lines[0], "refusing to mount") || !strings.Contains(lines[1], "--allow-home") {
		t.Errorf("home as the project: exit %d %q", r.Code, r.Stderr)
	}
	if r := aishell(t, filepath.Dir(home), env, "exec", "true"); r.Code != errs.CodeError || !strings.Contains(r.Stderr, "holds your home") {
		t.Errorf("above home: exit %d %q", r.Code, r.Stderr)
	}
	// A directory under the dotfiles home is its own project: ~/.ssh is not in it.
	r = aishell(t, filepath.Join(home, "sub"), env, "exec", "sh", "-c", "pwd; cat ~/.ssh/id_ed25519 2>/dev/null || echo no-key")
	mustSucceed(t, r)
	if r.Stdout != filepath.Join(home, "sub")+"\nno-key\n" {
		t.Errorf("under a dotfiles home: %q", r.Stdout)
	}
	r = aishell(t, home, env, "--allow-home", "--unsafe", "exec", "cat", filepath.Join(home, ".ssh", "id_ed25519"))
	mustSucceed(t, r)
}

// A run is bounded: processes, memory, the HOME tmpfs; and Node's file watchers get their
// open files. Mounts from the host honour no set-uid bit or device node.
func TestRunLimits(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	cfgPath := userConfigPath(env)
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	proj := project(t, "limits")
	// The defaults, read from the running container's spec and from inside it.
	cmd := aishellCmd(proj, env, "exec", "sh", "-c", `ulimit -n; ulimit -Hn; df -B1 --output=size "$HOME" | tail -1; grep " $PWD " /proc/self/mountinfo; exec sleep 20`)
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForProcess(t, c, proj, "sleep")
	ctrs, err := c.Containers(t.Context(), labels.Equals(labels.Project, strconv.Quote(proj)))
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("%d containers for %s", len(ctrs), proj)
	}
	spec, err := ctrs[0].Spec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var info syscall.Sysinfo_t
	syscall.Sysinfo(&info)
	r := spec.Linux.Resources
	if r == nil || r.Pids == nil || *r.Pids.Limit != 4096 || r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != int64(info.Totalram)*int64(info.Unit)/2 {
		t.Errorf("default cgroup limits %+v (want pids 4096, memory half of %d)", r, int64(info.Totalram)*int64(info.Unit))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	nofile := strconv.FormatUint(wantNoFile(t), 10)
	if len(got) != 4 || got[0] != nofile || got[1] != nofile || strings.TrimSpace(got[2]) != strconv.Itoa(4<<30) {
		t.Errorf("nofile soft and hard (want %s), HOME size:\n%s", nofile, out.String())
	}
	if !strings.Contains(got[len(got)-1], "nosuid") || !strings.Contains(got[len(got)-1], "nodev") {
		t.Errorf("project mount without nosuid,nodev: %s", got[len(got)-1])
	}

	// Configured: a fork bomb stops at the pids limit, memory beyond the limit is killed, and
	// the HOME tmpfs fills at its size.
	os.WriteFile(cfgPath, append(cfg, []byte("limits:\n  pids: 64\n  memory: 256m\n  home_size: 64m\n")...), 0o644)
	res := aishell(t, proj, env, "exec", "sh", "-c", `for i in $(seq 200); do sleep 30 & done; echo all-started`)
	if res.Code == 0 || strings.Contains(res.Stdout, "all-started") || !strings.Contains(res.Stderr, "fork") {
		t.Errorf("200 processes under a 64 pids limit: exit %d %q %q", res.Code, res.Stdout, res.Stderr)
	}
	res = aishell(t, proj, env, "exec", "python3", "-c", "b = bytearray(512 << 20); print('allocated')")
	if res.Code != signalCode(syscall.SIGKILL) || strings.Contains(res.Stdout, "allocated") {
		t.Errorf("512 MiB under a 256m limit: exit %d %q", res.Code, res.Stdout)
	}
	res = aishell(t, proj, env, "exec", "sh", "-c", `dd if=/dev/zero of=$HOME/big bs=1M count=100 2>/dev/null || echo home-full`)
	if !strings.Contains(res.Stdout, "home-full") {
		t.Errorf("100 MiB in a 64m HOME: %q", res.Stdout)
	}
	os.WriteFile(cfgPath, append(cfg, []byte("limits:\n  pids: lots\n")...), 0o644)
	if res := aishell(t, proj, env, "exec", "true"); res.Code != errs.CodeUsage || !strings.Contains(res.Stderr, "limits.pids") {
		t.Errorf("bad limit: exit %d %q", res.Code, res.Stderr)
	}
}

// wantNoFile is the NOFILE a run gets by default: 1048576, or the hard limit of a root that
// cannot raise it (no CAP_SYS_RESOURCE, as in some CI containers).
func wantNoFile(t *testing.T) uint64 {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			if caps, _ := strconv.ParseUint(strings.TrimSpace(hex), 16, 64); caps&(1<<24) != 0 {
				return 1 << 20
			}
		}
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	return min(l.Max, 1<<20)
}

// The sandbox takes system calls through the native ABI only: a 64-bit program that enters the
// kernel through the 32-bit one (int $0x80 on amd64, where the i386 compat entry points are an
// old attack surface) is killed by the seccomp filter, and the same program's native system calls
// work. Installs and runs share the profile (oci.WithSecurityDefaults).
func TestCompatSyscallsRefused(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the 32-bit entry point probed is amd64's")
	}
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "compat")
	src := `#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
	printf("native getpid %d\n", getpid());
	fflush(stdout);
	if (argc > 1) {
		long ret;
		__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); /* i386 getpid */
		printf("compat getpid %ld\n", ret);
	}
	return 0;
}
`
	if err := os.WriteFile(filepath.Join(proj, "compat.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := aishell(t, proj, env, "exec", "--network", "none", "sh", "-c", "gcc -o /tmp/compat compat.c && /tmp/compat && /tmp/compat int80")
	if r.Code != signalCode(syscall.SIGSYS) || !strings.Contains(r.Stdout, "native getpid") || strings.Contains(r.Stdout, "compat getpid") {
		t.Errorf("exit %d, stdout %q: want the native call to work and the int $0x80 one to be killed with SIGSYS (exit %d)", r.Code, r.Stdout, signalCode(syscall.SIGSYS))
	}
}

// aishell run from inside the project (developing aishell with aishell): the agent replaces the
// binary during the run. The run's reaper, which becomes aishell only once the run has ended,
// runs aishell's own binary (held open from the start), never the agent's file at that path:
// the file never runs on the host, and the run is removed as usual.
func TestReaperRunsNotTheReplacedBinary(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "selfhosted")
	bin := filepath.Join(proj, "aishell")
	raw, err := os.ReadFile(aishellBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran-on-the-host")
	planted := "#!/bin/sh\necho \"$@\" > " + marker + "\n"
	cmd := exec.Command(bin, "exec", "--network", "none", "--", "sh", "-c",
		`printf '%s' "$1" > aishell.new && chmod +x aishell.new && mv aishell.new aishell && echo replaced`, "sh", planted)
	cmd.Dir = proj
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "replaced") {
		t.Fatalf("the run: %v %s", err, out)
	}
	if got, _ := os.ReadFile(bin); string(got) != planted {
		t.Fatal("the agent's binary is not in place: the test proves nothing")
	}
	waitUntil(t, 15*time.Second, "the run to be removed", func() bool { return len(leftovers(t, c, "aishell-selfhosted-exec-")) == 0 })
	time.Sleep(500 * time.Millisecond)
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("the agent's file ran on the host: %q", b)
	}
}
