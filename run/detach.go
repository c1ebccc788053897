package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/aishell/aishell/errs"
)

// A detached session outlives the terminal and the aishell that started it. The starter runs
// the same command again as the session's keeper: a child in a session of its own (no
// controlling terminal, so closing the terminal does not hang it up) that at first shares the
// starter's terminal, so the sensitive-file check, approvals and build progress work as in any
// run. The keeper creates the container as usual, with the process inside a tmux session; once
// tmux is up it tells the starter (which prints how to attach and exits), moves its own output
// to a log file and releases the terminal. It then waits for the process to end and removes
// everything, as any run does. Its pid is the run's owner: while it lives, gc leaves the
// session alone; once it is gone, `aishell stop` or `aishell gc` removes what is left.

// Environment of the keeper: the fds of its ready pipe and its log file, and the log's path.
const (
	envKeeper    = "AISHELL_KEEPER"
	envKeeperLog = "AISHELL_KEEPER_LOG"
)

// TmuxSession is the name of the tmux session a detached run's process lives in.
const TmuxSession = "aishell"

// upMarker is the line the container's start-up script prints once the tmux session exists.
const upMarker = "aishell-session-up"

// Started is what the keeper tells the starter once the session runs.
type Started struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Log  string `json:"log"`
}

// Detach starts this command again as the keeper of a detached session, forwards signals to it
// while it prepares the run, and returns once the session runs. When the keeper fails first,
// it has said why on the terminal, and the error carries its exit code.
func Detach(signals <-chan os.Signal) (Started, error) {
	exe, err := os.Executable()
	if err != nil {
		return Started{}, fmt.Errorf("detach: find aishell's own executable: %w", err)
	}
	logf, err := os.CreateTemp("", "aishell-session-*.log")
	if err != nil {
		return Started{}, fmt.Errorf("detach: session log: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		logf.Close()
		os.Remove(logf.Name())
		return Started{}, fmt.Errorf("detach: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w, logf} // fds 3 and 4
	cmd.Env = append(os.Environ(), envKeeper+"=3,4", envKeeperLog+"="+logf.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	logf.Close()
	if err != nil {
		r.Close()
		os.Remove(logf.Name())
		return Started{}, fmt.Errorf("detach: start the session's keeper: %w", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case sig := <-signals:
				cmd.Process.Signal(sig)
			case <-stop:
				return
			}
		}
	}()
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if rest, ok := strings.CutPrefix(line, "ready "); ok {
		var s Started
		if err := json.Unmarshal([]byte(rest), &s); err == nil {
			cmd.Process.Release()
			return s, nil
		}
	}
	// The keeper ended before the session ran, having said why.
	cmd.Wait()
	os.Remove(logf.Name())
	code := cmd.ProcessState.ExitCode()
	if code <= 0 {
		code = errs.CodeError
	}
	return Started{}, errs.Exit(code)
}

// Keeper is the keeper's side of a detached session (nil in any other run).
type Keeper struct {
	ready   *os.File
	log     *os.File
	logPath string
	size    [2]int // the starter's terminal, columns and lines, for tmux's first size
	up      chan struct{}
	upOnce  sync.Once
	running bool   // the starter has heard the session runs
	name    string // the session's
}

// Running reports whether the session ran: before, the keeper's errors are the starter's, on
// the terminal; after, they are the log's (End).
func (k *Keeper) Running() bool { return k.running }

// KeeperFromEnv is this process's keeper side when it was started by Detach, else nil.
func KeeperFromEnv() *Keeper {
	v := os.Getenv(envKeeper)
	if v == "" {
		return nil
	}
	os.Unsetenv(envKeeper)
	fds := strings.Split(v, ",")
	if len(fds) != 2 {
		return nil
	}
	rfd, err1 := strconv.Atoi(fds[0])
	lfd, err2 := strconv.Atoi(fds[1])
	if err1 != nil || err2 != nil {
		return nil
	}
	unix.CloseOnExec(rfd) // not for the programs the keeper runs (git), which would hold them
	unix.CloseOnExec(lfd)
	k := &Keeper{ready: os.NewFile(uintptr(rfd), "ready"), log: os.NewFile(uintptr(lfd), "log"),
		logPath: os.Getenv(envKeeperLog), size: [2]int{200, 50}, up: make(chan struct{})}
	if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil && w > 0 && h > 0 {
		k.size = [2]int{w, h}
	}
	return k
}

// started tells the starter that the session runs, then gives the keeper's standard streams
// to /dev/null and the log, so the terminal is let go.
func (k *Keeper) started(s Started) {
	s.Log = k.logPath
	b, _ := json.Marshal(s)
	fmt.Fprintf(k.ready, "ready %s\n", b)
	k.ready.Close()
	k.running, k.name = true, s.Name
	if null, err := os.Open(os.DevNull); err == nil {
		unix.Dup2(int(null.Fd()), 0)
		null.Close()
	}
	unix.Dup2(int(k.log.Fd()), 1)
	unix.Dup2(int(k.log.Fd()), 2)
	k.log.Close()
}

// End removes the session's log when nothing was written to it while the session ran (no
// warning, no error: how the process exited is nobody's to read), else adds how it ended.
func (k *Keeper) End(code int, err error) {
	name := k.name
	if fi, serr := os.Stat(k.logPath); err == nil && serr == nil && fi.Size() == 0 {
		os.Remove(k.logPath)
		return
	}
	if _, said := errs.Code(err); !said {
		fmt.Fprintf(os.Stderr, "aishell: session %s: %v\n", name, err)
	} else {
		fmt.Fprintf(os.Stderr, "aishell: session %s ended: exit code %d\n", name, code)
	}
}

// stdout wraps the container's standard output: the start-up script's marker closes up and is
// not written.
func (k *Keeper) stdout(w io.Writer) io.Writer { return &markerWriter{w: w, k: k} }

type markerWriter struct {
	w io.Writer
	k *Keeper
}

func (m *markerWriter) Write(b []byte) (int, error) {
	if i := bytes.Index(b, []byte(upMarker+"\n")); i >= 0 {
		m.k.upOnce.Do(func() { close(m.k.up) })
		rest := append(append([]byte{}, b[:i]...), b[i+len(upMarker)+1:]...)
		if _, err := m.w.Write(rest); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return m.w.Write(b)
}

// detachedScript starts the process in a detached tmux session and stays until the tmux server
// ends (its last session closed, since exit-empty is on): `tmux wait-for` on a channel nobody
// signals returns when the server goes. It exits with the process's exit code. SIGTERM, SIGHUP
// and SIGINT (tini passes them on) end the tmux server, which hangs up the process. The
// process's arguments reach it NUL-separated through a file and xargs, never as tmux's own
// arguments (where a lone ";" would end a tmux command).
const detachedScript = `s=$1 cols=$2 lines=$3; shift 3
rc=${TMPDIR:-/tmp}/.aishell-exit-$s argv=${TMPDIR:-/tmp}/.aishell-argv-$s
command -v tmux >/dev/null || { echo "aishell: --detach needs tmux in the image" >&2; exit 127; }
printf '%s\0' "$@" >"$argv" || exit 125
tmux new-session -d -s "$s" -x "$cols" -y "$lines" xargs -0 -a "$argv" sh -c '"$@"; echo $? >"$0"' "$rc" || exit 125
tmux set-option -g status-right " Ctrl-b d: detach " >/dev/null 2>&1
echo ` + upMarker + `
tmux wait-for "$s-never" & w=$!
trap 'tmux kill-server 2>/dev/null' TERM HUP INT
while kill -0 $w 2>/dev/null; do wait $w; done
code=$(cat "$rc" 2>/dev/null)
exit "${code:-129}"`

// detachedArgs is the process of a detached run: args inside tmux, by detachedScript.
func detachedArgs(args []string, size [2]int) []string {
	return append([]string{"sh", "-c", detachedScript, "aishell-session", TmuxSession, strconv.Itoa(size[0]), strconv.Itoa(size[1])}, args...)
}

// await waits for the detached session's tmux to be up, then tells the starter and lets the
// terminal go. When the process ends first, the run ends with it (ended) and the starter hears
// nothing but the keeper's exit; a signal from the starter (Ctrl-C while it waits) kills it.
func (k *Keeper) await(ctx context.Context, task containerd.Task, exitCh <-chan containerd.ExitStatus, signals <-chan os.Signal, s Started) (code int, ended bool, err error) {
	for {
		select {
		case <-k.up:
			k.started(s)
			return 0, false, nil
		case status := <-exitCh:
			drain(task)
			code := int(status.ExitCode())
			return code, true, fmt.Errorf("the detached session ended before it was up (exit code %d)", code)
		case <-signals:
			task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		}
	}
}
