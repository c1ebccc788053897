package test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// screen collects what the terminal shows and waits for text to appear.
type screen struct {
	buf syncBuffer
}

func (s *screen) waitFor(t *testing.T, re string, from int) int {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := s.buf.String()
		if loc := rx.FindStringIndex(out[from:]); loc != nil {
			return from + loc[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("terminal never showed %q; it shows:\n%s", re, s.buf.String()[from:])
	return 0
}

// onTerminal starts cmd on a new terminal of rows x cols and collects what it shows.
func onTerminal(t *testing.T, cmd *exec.Cmd, rows, cols uint16) (*os.File, *screen) {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.buf.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return ptmx, s
}

func TestInteractiveTerminal(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "tty")
	cmd := aishellCmd(proj, append(env, "TERM=xterm")) // the default command: an interactive shell
	ptmx, s := onTerminal(t, cmd, 40, 120)
	defer ptmx.Close()
	type_ := func(text string) { ptmx.Write([]byte(text)) }

	pos := s.waitFor(t, `[$#] $|[$#] \x1b`, 0) // a prompt
	type_("stty size\r")
	pos = s.waitFor(t, `40 120\s`, pos)
	// TERM is set once, to the host's (tini, PID 1, has the spec's environment as it is).
	type_(`echo "terms-$(tr '\0' '\n' < /proc/1/environ | grep -c '^TERM=')-$(tr '\0' '\n' < /proc/1/environ | grep '^TERM=')"` + "\r")
	pos = s.waitFor(t, `terms-1-TERM=xterm\s`, pos)

	// A process in the container that reports the size it sees when SIGWINCH reaches it. (The
	// markers are computed, so the terminal's echo of the typed line never matches them.)
	type_(`sh -c 'w() { echo "winch-$((1+1)): $(stty size)"; exit; }; trap w WINCH; echo waiting-$((1+1)); while :; do sleep 0.1; done'` + "\r")
	pos = s.waitFor(t, `waiting-2\s`, pos)
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	pos = s.waitFor(t, `winch-2: 50 100\s`, pos)
	type_("stty size\r")
	pos = s.waitFor(t, `50 100\s`, pos)

	type_("sleep 100; echo sleep-ended-$?\r")
	waitForProcess(t, c, proj, "sleep")
	start := time.Now()
	type_("\x03") // Ctrl-C
	pos = s.waitFor(t, `sleep-ended-130|\^C`, pos)
	if time.Since(start) > 5*time.Second {
		t.Errorf("Ctrl-C took %s to interrupt sleep", time.Since(start))
	}
	type_("echo alive-$((40+2))\r")
	pos = s.waitFor(t, `alive-42`, pos)
	type_("exit 3\r")

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("aishell did not exit after `exit 3`")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if out := s.buf.String(); strings.Contains(out, "panic") {
		t.Errorf("terminal shows a panic:\n%s", out)
	}
}
