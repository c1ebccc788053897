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
	"path/filepath"
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

// envKeeper, in the keeper's environment, is the fd of its ready pipe.
const envKeeper = "AISHELL_KEEPER"

// TmuxSession is the name of the tmux session a detached run's process lives in.
const TmuxSession = "aishell"

// upMarker is the line the container's start-up script prints once the tmux session exists.
const upMarker = "aishell-session-up"

// logLimit bounds what of the container's output after start-up reaches the keeper's log: it
// has no reader but someone looking into why a session ended.
const logLimit = 16 << 10

// Started is what the keeper tells the starter once the session runs.
type Started struct {
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
	r, w, err := os.Pipe()
	if err != nil {
		return Started{}, fmt.Errorf("detach: %w", err)
	}
	// The keeper lives for hours: it gets the terminal and its ready pipe, and none of the
	// descriptors this aishell inherited from whatever started it.
	closeInheritedOnExec()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Env = append(os.Environ(), envKeeper+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
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
	code := cmd.ProcessState.ExitCode()
	if code <= 0 {
		code = errs.CodeError
	}
	return Started{}, errs.Exit(code)
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec (Go's own are already).
func closeInheritedOnExec() {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, f := range fds {
		if fd, err := strconv.Atoi(f.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// Keeper is the keeper's side of a detached session (nil in any other run).
type Keeper struct {
	ready   *os.File
	logPath string // <TMPDIR>/<run ID>-session.log, made once the session runs
	size    [2]int // the starter's terminal, columns and lines, for tmux's first size
	up      chan struct{}
	upOnce  sync.Once
	running bool   // the starter has heard the session runs
	name    string // the session's
	logged  cappedWriter
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
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	unix.CloseOnExec(fd) // not for the programs the keeper runs (git), which would hold it
	k := &Keeper{ready: os.NewFile(uintptr(fd), "ready"), size: [2]int{200, 50}, up: make(chan struct{})}
	if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil && w > 0 && h > 0 {
		k.size = [2]int{w, h}
	}
	return k
}

// logFor names the session's log after its run, so that whoever removes the run removes it.
func (k *Keeper) logFor(id string) { k.logPath = filepath.Join(os.TempDir(), id+"-session.log") }

// started makes the log, tells the starter that the session runs, then gives the keeper's
// standard streams to /dev/null and the log, so the terminal is let go.
func (k *Keeper) started(s Started) error {
	logf, err := os.OpenFile(k.logPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("detach: session log: %w", err)
	}
	defer logf.Close()
	s.Log = k.logPath
	b, _ := json.Marshal(s)
	fmt.Fprintf(k.ready, "ready %s\n", b)
	k.ready.Close()
	k.running, k.name = true, s.Name
	if null, err := os.Open(os.DevNull); err == nil {
		unix.Dup2(int(null.Fd()), 0)
		null.Close()
	}
	unix.Dup2(int(logf.Fd()), 1)
	unix.Dup2(int(logf.Fd()), 2)
	return nil
}

// End removes the session's log when nothing was written to it while the session ran (no
// warning, no error, no output of a process that failed), else adds how it ended.
func (k *Keeper) End(code int, err error) {
	_, said := errs.Code(err)
	if fi, serr := os.Stat(k.logPath); said && code == 0 && serr == nil && fi.Size() == 0 {
		os.Remove(k.logPath)
		return
	}
	if !said {
		fmt.Fprintf(os.Stderr, "aishell: session %s: %v\n", k.name, err)
	} else {
		fmt.Fprintf(os.Stderr, "aishell: session %s ended: exit code %d\n", k.name, code)
	}
}

// stdout and stderr wrap the container's output: until start-up is signalled it goes to the
// starter's terminal (the start-up script's errors), and stdout's marker closes up; after, the
// first logLimit bytes of it go to the log, with control characters made visible.
func (k *Keeper) stdout(w io.Writer) io.Writer { return &keeperWriter{w: w, k: k, marker: true} }
func (k *Keeper) stderr(w io.Writer) io.Writer { return &keeperWriter{w: w, k: k} }

type keeperWriter struct {
	w      io.Writer
	k      *Keeper
	marker bool
}

func (m *keeperWriter) Write(b []byte) (int, error) {
	select {
	case <-m.k.up:
		m.k.logged.Write(b)
		return len(b), nil
	default:
	}
	if i := bytes.Index(b, []byte(upMarker+"\n")); m.marker && i >= 0 {
		m.k.upOnce.Do(func() { close(m.k.up) })
		m.w.Write(b[:i])
		m.k.logged.Write(b[i+len(upMarker)+1:])
		return len(b), nil
	}
	m.w.Write(b)
	return len(b), nil
}

// cappedWriter writes to stderr (the keeper's log, once it runs) at most logLimit bytes, with
// control characters but newline and tab shown as "?", and says once that it stopped.
type cappedWriter struct {
	mu      sync.Mutex
	out     io.Writer // os.Stderr when nil
	n       int
	stopped bool
}

func (c *cappedWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return len(b), nil
	}
	if rest := logLimit - c.n; len(b) > rest {
		b, c.stopped = b[:rest], true
	}
	c.n += len(b)
	out := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= ' ' && r != 0x7f && !(r >= 0x80 && r < 0xa0)) {
			return r
		}
		return '?'
	}, b)
	w := c.out
	if w == nil {
		w = os.Stderr
	}
	w.Write(out)
	if c.stopped {
		fmt.Fprintf(w, "\n[aishell: the session's output after %d bytes is not kept]\n", logLimit)
	}
	return len(b), nil
}

// detachedScript starts the process in a detached tmux session (tmux reading no config file,
// so nothing in the image or the home decides how it behaves) and stays until the tmux server
// ends: `tmux wait-for` on a channel nobody signals returns when the server goes. The process's
// end ends the server, whatever other windows or sessions were opened meanwhile, after its exit
// code and, when that is not 0, its last screen were saved; the script prints that screen and
// exits with that code. SIGTERM, SIGHUP and SIGINT (tini passes them on) end the server, which
// hangs up the process. The process's arguments reach it NUL-separated through a file and
// xargs, never as tmux's own arguments (where a lone ";" would end a tmux command).
const detachedScript = `s=$1 cols=$2 lines=$3; shift 3
d=${TMPDIR:-/tmp} rc=${TMPDIR:-/tmp}/.aishell-exit-$s
command -v tmux >/dev/null || { echo "aishell: --detach needs tmux in the image" >&2; exit 127; }
printf '%s\0' "$@" >"$d/.aishell-argv-$s" || exit 125
tmux -f /dev/null new-session -d -s "$s" -x "$cols" -y "$lines" xargs -0 -a "$d/.aishell-argv-$s" sh -c '"$@"; c=$?; [ $c = 0 ] || tmux capture-pane -p -S -40 >"$0.screen" 2>/dev/null; echo $c >"$0"; tmux kill-server' "$rc" || exit 125
tmux set-option -g status-right " Ctrl-b d: detach " >/dev/null 2>&1
echo ` + upMarker + `
tmux wait-for "$s-never" 2>/dev/null & w=$!
trap 'tmux kill-server 2>/dev/null' TERM HUP INT
while kill -0 $w 2>/dev/null; do wait $w; done
code=$(cat "$rc" 2>/dev/null)
[ -s "$rc.screen" ] && cat "$rc.screen" >&2
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
			if err := k.started(s); err != nil {
				task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
				<-exitCh
				return 0, true, err
			}
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
