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

func TestInteractiveTerminal(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "tty")
	cmd := exec.Command(aishellBin) // the default command: an interactive shell
	cmd.Dir = proj
	cmd.Env = append(os.Environ(), append(env, "TERM=xterm")...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var s screen
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
	type_ := func(text string) { ptmx.Write([]byte(text)) }

	pos := s.waitFor(t, `[$#] $|[$#] \x1b`, 0) // a prompt
	type_("stty size\r")
	pos = s.waitFor(t, `40 120\s`, pos)

	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // SIGWINCH -> resize
	type_("stty size\r")
	pos = s.waitFor(t, `50 100\s`, pos)

	type_("sleep 100; echo sleep-ended-$?\r")
	time.Sleep(time.Second)
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
