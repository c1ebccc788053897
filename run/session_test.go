package run

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"review", "a", "fix-42", "v1.2_x", strings.Repeat("a", maxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "x-", "a--b", "a b", "a/b", "../x", "x;y", strings.Repeat("a", maxNameLen+1), "ü", "exec-1a2b3c", "fix-abcdef"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}

func TestRunID(t *testing.T) {
	id1, n1 := runID("/home/a/My Project", "claude", "review")
	id2, _ := runID("/home/a/My Project", "shell", "review")
	id3, _ := runID("/home/b/My Project", "claude", "review")
	if n1 != "review" || id1 != id2 {
		t.Errorf("a named run's ID depends on the name and project only: %s %s", id1, id2)
	}
	if id1 == id3 {
		t.Errorf("two projects of one base name share an ID: %s", id1)
	}
	long := "/p/" + strings.Repeat("x", 80)
	if id, _ := runID(long, "claude", strings.Repeat("n", maxNameLen)); len(id) > 76 {
		t.Errorf("ID longer than containerd allows: %d %s", len(id), id)
	}
	a, na := runID("/p/proj", "exec", "")
	b, nb := runID("/p/proj", "exec", "")
	if a == b || na == nb || !strings.HasPrefix(na, "exec-") || !strings.HasSuffix(a, strings.TrimPrefix(na, "exec-")) {
		t.Errorf("unnamed runs: %s %s, %s %s", a, na, b, nb)
	}
}

func TestKeeperWriters(t *testing.T) {
	var out, errOut, log bytes.Buffer
	k := &Keeper{up: make(chan struct{})}
	k.logged.out = &log
	o, e := k.stdout(&out), k.stderr(&errOut)
	o.Write([]byte("before\n"))
	e.Write([]byte("start-up error\n"))
	e.Write([]byte(upMarker + "\n")) // only stdout's marker counts
	select {
	case <-k.up:
		t.Fatal("up before the marker")
	default:
	}
	o.Write([]byte("x\n" + upMarker + "\ny\n"))
	<-k.up
	o.Write([]byte("after \x1b]0;title\x07\n"))
	e.Write([]byte(strings.Repeat("z", logLimit)))
	if out.String() != "before\nx\n" || errOut.String() != "start-up error\n"+upMarker+"\n" {
		t.Errorf("before start-up: %q, %q", out.String(), errOut.String())
	}
	got := log.String()
	if !strings.HasPrefix(got, "y\nafter ?]0;title?\nzzz") || !strings.HasSuffix(got, "not kept]\n") || len(got) > logLimit+100 {
		t.Errorf("the log: %d bytes, %q...%q", len(got), got[:min(40, len(got))], got[max(0, len(got)-60):])
	}
}

// The detached script hands the process its arguments exactly, through the NUL-separated file
// (never as tmux's arguments); checked with a stand-in tmux that runs the session's command.
func TestDetachedArgs(t *testing.T) {
	dir := t.TempDir()
	tmux := dir + "/tmux"
	// new-session -d -s S -x C -y L CMD...: run CMD; wait-for: return; anything else: nothing.
	stand := `#!/bin/sh
[ "$1" = -f ] && shift 2
case "$1" in
new-session) shift 8; "$@" ;;
esac
exit 0
`
	if err := writeExec(tmux, stand); err != nil {
		t.Fatal(err)
	}
	args := detachedArgs([]string{"sh", "-c", `printf '[%s]' "$@"; exit 4`, "sh", "a b", ";", "$HOME", "q'uote", "new\nline"}, [2]int{80, 24})
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "TMPDIR=" + dir}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Errorf("exit: %v, want the process's code 4", err)
	}
	want := "[a b][;][$HOME][q'uote][new\nline]" + upMarker + "\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func writeExec(path, content string) error {
	return exec.Command("sh", "-c", `printf '%s' "$1" >"$2" && chmod +x "$2"`, "sh", content, path).Run()
}

// A killed run's reaper removes its own temporary directories only: not those of another run
// whose ID starts with its ID, nor a planted name that merely begins like one of its own.
func TestAssembledDirs(t *testing.T) {
	tmp := t.TempDir()
	id := "aishell-p-x-abc123"
	own := []string{id + "-etc-123", id + "-aishell-45", id + "-config-6789"}
	others := []string{id + "-etc-123-etc-456", id + "-config-x", id + "-etc-", "aishell-p-x-abc1234-etc-1", id + "-session.log"}
	for _, n := range append(append([]string{}, own...), others...) {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, d := range assembledDirs(tmp, id) {
		got = append(got, filepath.Base(d))
	}
	sort.Strings(got)
	want := append([]string{}, own...)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("assembledDirs = %q, want %q", got, want)
	}
}
