package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
)

// A foreground run's reaper is a second aishell process, started (in a session of its own)
// before anything of the run exists and named in the run's labels. It waits on a pipe from
// aishell. When aishell has the process's exit code it writes the harness config back and
// returns the code at once, and the reaper removes the task, container, rootfs snapshot, lease
// and host files meanwhile: the user does not wait for that (a task delete alone takes 25-30
// ms). When aishell dies (SIGKILL), the pipe ends the same way and the reaper removes the run
// at once. While the reaper lives, nobody else removes the run; if it is killed too, the run
// is as any run whose aishell died: the reaper of the person's next foreground run, `aishell
// gc`, or the next run of its name removes it. Each reaper, once its own run is removed, reaps
// its person's dead runs (and their host directories that containerd no longer knows of).
//
// The reaper never holds aishell's stdout or stderr, so `$(aishell exec ...)` and pipes end
// when aishell does. What it could not remove it reports in $TMPDIR/<id>-reaper.log.

// Environment of the reaper process: the run's ID, and the containerd it lives in.
const (
	reaperEnv       = "AISHELL_REAPER"
	reaperAddrEnv   = "AISHELL_REAPER_ADDRESS"
	reaperNSEnv     = "AISHELL_REAPER_NAMESPACE"
	reaperSnapEnv   = "AISHELL_REAPER_SNAPSHOTTER"
	reaperFIFOEnv   = "AISHELL_REAPER_FIFO_ROOT" // where the task FIFOs are
	reaperUserEnv   = "AISHELL_REAPER_USER"      // the person whose dead runs it reaps afterwards
	syncTeardownEnv = "AISHELL_SYNC_TEARDOWN"    // set: aishell removes its runs itself before it returns
	reaperSkip      = 'x'                        // written by aishell: the run is removed already
	reaperSkipEnv   = "AISHELL_REAPER_SKIP"      // what the waiting shell read: reaperSkip, or nothing
	reaperLogSuffix = "-reaper.log"
)

// reaper is aishell's side of a run's reaper.
type reaper struct {
	pid   int
	start string   // its start time, as ownerLabels records it
	w     *os.File // the pipe's write end; the reaper acts when it closes
	done  bool     // released or cancelled
	// watcher is the git guard's inotify instance, which the reaper holds too (fd 4): its
	// last close, slow, is the reaper's (newWatcher). Nil without inotify; taken by the run.
	watcher *os.File
}

// takeWatcher hands the run the inotify instance the reaper holds too (nil for none, or when
// there is no reaper).
func (rp *reaper) takeWatcher() *os.File {
	if rp == nil {
		return nil
	}
	w := rp.watcher
	rp.watcher = nil
	return w
}

// startReaper starts the reaper of run id, begun as b says: it is told the containerd the run
// lives in, where its task's FIFOs are, and the person whose dead runs it reaps after removing
// this one. It returns nil when the run has none: a detached session (its keeper removes it),
// AISHELL_SYNC_TEARDOWN set, no containerd address to give it, or a reaper that could not be
// started (the run then removes everything itself).
func startReaper(b Begin, id string) *reaper {
	// As PID 1 (aishell as a container's process, in CI) everything left when aishell exits is
	// killed with it, its reaper too: the run is removed before aishell returns.
	if b.Keeper != nil || os.Getenv(syncTeardownEnv) != "" || b.Address == "" || os.Getpid() == 1 {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return nil
	}
	defer null.Close()
	// Until aishell closes the pipe (or dies), the reaper is a shell that waits on it: the 6 ms
	// of CPU a Go process spends starting are spent once the run has ended, not while it starts
	// on a machine whose cores it keeps busy. The shell then becomes aishell's reaper, with the
	// same pid and start time (ownerLabels), by executing this very binary, held open as fd 5
	// from now on: not whatever file is at its path by then (the binary may lie in the project
	// the agent writes to, be upgraded meanwhile, or be gone, as with go run). Both have
	// "\x00reaper\x00<id>" in their command line (IsReaperCmdline).
	cmd := exec.Command(self, "reaper", id)
	cmd.Args[0] = "aishell-reaper"
	watcher := newWatcher()
	cmd.ExtraFiles = []*os.File{r, watcher} // fd 3, and fd 4 held until the reaper exits (nil: none)
	if exe, err := os.Open("/proc/self/exe"); err == nil {
		defer exe.Close()
		if sh, err := exec.LookPath("/bin/sh"); err == nil {
			cmd = exec.Command(sh, "-c", `IFS= read -r skip <&3; exec 3<&-; `+reaperSkipEnv+`=$skip; export `+reaperSkipEnv+`; exec /proc/self/fd/5 "$1" "$2"`,
				"aishell-reaper", "reaper", id)
			cmd.ExtraFiles = []*os.File{r, watcher, exe} // fd 5
		}
	}
	// Only what it needs: none of the API keys and settings aishell was given.
	cmd.Env = []string{reaperEnv + "=" + id, reaperAddrEnv + "=" + b.Address, reaperNSEnv + "=" + b.Namespace,
		reaperSnapEnv + "=" + b.Snapshotter, reaperFIFOEnv + "=" + b.Runtime.FIFORoot(), reaperUserEnv + "=" + b.Owner}
	for _, k := range []string{"PATH", "TMPDIR", "XDG_RUNTIME_DIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		if watcher != nil {
			watcher.Close()
		}
		return nil
	}
	rp := &reaper{pid: cmd.Process.Pid, start: owner.StartTime(cmd.Process.Pid), w: w, watcher: watcher}
	go cmd.Wait() // aishell usually exits first; if not, the reaper is not left a zombie
	return rp
}

// release hands the run to the reaper: it removes what is left of it. It reports false when
// the reaper is gone, and the caller must remove the run itself.
func (rp *reaper) release() bool {
	if rp == nil || rp.done {
		return false
	}
	rp.done = true
	alive := !owner.ProcessGone(strconv.Itoa(rp.pid), rp.start)
	rp.w.Close()
	return alive
}

// cancel tells the reaper that the run is removed already: it exits without a look.
func (rp *reaper) cancel() {
	if rp == nil || rp.done {
		return
	}
	rp.done = true
	rp.w.Write([]byte{reaperSkip})
	rp.w.Close()
}

// IsReaperCmdline reports whether a process's command line (/proc/PID/cmdline) is that of the
// reaper of a run whose ID starts with prefix, waiting or reaping.
func IsReaperCmdline(cmdline []byte, prefix string) bool {
	return strings.Contains(string(cmdline), "\x00reaper\x00"+prefix)
}

// IsReaper reports whether this process is a run's reaper (started by startReaper).
func IsReaper() bool {
	return os.Getenv(reaperEnv) != "" && len(os.Args) == 3 && os.Args[1] == "reaper"
}

// Reaper is the reaper's whole life: it waits until aishell closes the pipe or dies, then
// removes the run (when the run is still its own), then the runs of its person whose aishell
// died without a reaper to remove them, and exits.
func Reaper() int {
	id := os.Getenv(reaperEnv)
	skip, waited := os.LookupEnv(reaperSkipEnv) // the shell waited on the pipe (startReaper)
	if !waited {
		pipe := os.NewFile(3, "reaper")
		buf := make([]byte, 1)
		n, _ := pipe.Read(buf)
		skip = string(buf[:n])
		pipe.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	c, err := containerd.New(os.Getenv(reaperAddrEnv), containerd.WithDefaultNamespace(os.Getenv(reaperNSEnv)),
		containerd.WithTimeout(5*time.Second))
	if err != nil {
		if skip != string(reaperSkip) {
			logReaper(id, fmt.Errorf("connect to containerd: %w", err))
			return 1
		}
		return 0
	}
	defer c.Close()
	code := 0
	if skip != string(reaperSkip) {
		if err := reap(ctx, c, id); err != nil {
			logReaper(id, err)
			code = 1
		}
	}
	// A run of the person's whose aishell and reaper were both killed is removed now, by their
	// next run, rather than by a gc nobody may run.
	if person := os.Getenv(reaperUserEnv); person != "" {
		Reap(ctx, c, os.Getenv(reaperSnapEnv), person, false)
		removeOrphanDirs(ctx, c)
	}
	return code
}

// reap removes run id when its labels name this process as its reaper.
func reap(ctx context.Context, c *containerd.Client, id string) error {
	snapshotter := os.Getenv(reaperSnapEnv)
	me, start := strconv.Itoa(os.Getpid()), owner.StartTime(os.Getpid())
	ctr, lease, l, err := findRun(ctx, c, id)
	switch {
	case err != nil: // not knowing what is there, it removes nothing: gc does later
		return fmt.Errorf("look up the run: %w", err)
	case l[labels.ReaperPID] != me || l[labels.ReaperStart] != start:
		return nil // gone, or another run's under the same ID
	case ctr != nil:
		err = removeRun(ctx, c, snapshotter, ctr, l)
	default: // no container: aishell died while the run was assembled; its lease holds the snapshots
		err = removeAssembled(ctx, c, snapshotter, *lease)
	}
	removeFIFOs(id)
	return err
}

// removeAssembled removes what a run whose container never existed made: the snapshots under
// its lease, its host files (named after its ID, in the temporary directory), the lease. A lease
// that is gone, or is another owner's now (a new run of the same name), is left alone.
func removeAssembled(ctx context.Context, c *containerd.Client, snapshotter string, l leases.Lease) error {
	ls := c.LeasesService()
	if !leaseIsOrGone(ctx, c, l.ID, l.Labels) {
		return nil
	}
	res, err := ls.ListResources(ctx, l)
	if errdefs.IsNotFound(err) {
		return nil // another remover was first
	}
	if err != nil {
		return fmt.Errorf("resources of lease %s: %w", l.ID, err)
	}
	sn := c.SnapshotService(snapshotter)
	for _, r := range res {
		if r.Type != "snapshots/"+snapshotter {
			continue
		}
		// A run's snapshots are active ones (and views, as older aishells made). A harness install's committed layer may
		// already be an image's (tagged just before its aishell died): containerd's collector
		// removes it once the lease is gone, if nothing holds it.
		if info, err := sn.Stat(ctx, r.ID); err == nil && info.Kind != snapshots.KindCommitted {
			sn.Remove(ctx, r.ID)
		}
	}
	for _, d := range assembledDirs(os.TempDir(), l.ID) {
		os.RemoveAll(d)
	}
	return ignoreNotFound(ls.Delete(ctx, l))
}

// assembledKinds are the host directories a run makes (os.MkdirTemp: <id><kind><digits>).
var assembledKinds = []string{"-etc-", "-aishell-", "-config-"}

// assembledDirs are the host directories run id made in tmp before its container existed:
// exactly what os.MkdirTemp made for this ID (its random part is digits), never another run's
// whose ID merely starts with this one.
func assembledDirs(tmp, id string) []string {
	var out []string
	for _, kind := range assembledKinds {
		dirs, _ := filepath.Glob(filepath.Join(tmp, id+kind+"*"))
		for _, d := range dirs {
			if rest := strings.TrimPrefix(filepath.Base(d), id+kind); allDigits(rest) {
				out = append(out, d)
			}
		}
	}
	return out
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// orphanAge is how old a run's host directory must be before removeOrphanDirs looks at it: a
// run makes its lease before its directories, and removes them within seconds of its end.
const orphanAge = time.Minute

// runDir is the name of a run's host directory: aishell-...<kind><digits>.
var runDir = regexp.MustCompile(`^(aishell-.+)(` + strings.Join(assembledKinds, "|") + `)[0-9]+$`)

// removeOrphanDirs removes this user's run directories in the temporary directory whose run
// containerd no longer knows (no container, no lease): those of a run killed with its reaper
// before its container existed, whose lease then expired before anybody reaped it. They may
// hold a private copy of the harness config.
func removeOrphanDirs(ctx context.Context, c *containerd.Client) {
	entries, _ := os.ReadDir(os.TempDir())
	known := map[string]bool{}
	for _, e := range entries {
		m := runDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < orphanAge || !ownedByMe(info) {
			continue
		}
		id := m[1]
		alive, seen := known[id]
		if !seen {
			alive = runKnown(ctx, c, id)
			known[id] = alive
		}
		if !alive {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// ownedByMe reports whether a file belongs to this process's user.
func ownedByMe(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// runKnown reports whether containerd has a container or a lease under id, or cannot say.
func runKnown(ctx context.Context, c *containerd.Client, id string) bool {
	ctr, lease, _, err := findRun(ctx, c, id)
	return err != nil || ctr != nil || lease != nil
}

// removeFIFOs removes the directories of run id's task FIFOs (cio makes one per task, with
// files named <id>-stdin, -stdout, -stderr) that a killed aishell could not remove.
func removeFIFOs(id string) {
	root := os.Getenv(reaperFIFOEnv)
	if root == "" {
		return
	}
	fifos, _ := filepath.Glob(filepath.Join(root, "*", id+"-std*"))
	for _, f := range fifos {
		if n := strings.TrimPrefix(filepath.Base(f), id); n == "-stdin" || n == "-stdout" || n == "-stderr" {
			os.RemoveAll(filepath.Dir(f))
		}
	}
}

// logReaper records what the reaper could not remove, where the user may look for it; `aishell
// gc` removes the run later.
func logReaper(id string, err error) {
	f, ferr := os.OpenFile(filepath.Join(os.TempDir(), id+reaperLogSuffix), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	io.WriteString(f, fmt.Sprintf("%s aishell: clean up %s: %v (aishell gc removes leftovers)\n", time.Now().Format(time.RFC3339), id, err))
}
