// Package run owns the life of an aishell container: it assembles the spec from the oci
// package's options, creates the container under a lease, wires the terminal or the standard
// streams, forwards signals, returns the process's exit code, and removes the task, container,
// snapshots, views and lease on every way out.
package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/cio"
	ctroci "github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/opencontainers/image-spec/identity"

	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/snapshot"
)

// Harness is one harness to mount: its catalog entry and the image holding its snapshot.
type Harness struct {
	harness.Harness
	Ref string
}

// Options describe one run.
type Options struct {
	Snapshotter string
	Image       string    // rootfs image: the project's extension, or the foundation
	Harnesses   []Harness // mounted read-only at /opt/harness/<name>, bin on PATH
	Args        []string  // the process; empty for an interactive bash
	Purpose     string    // shell, exec or a harness name: part of the container name
	Project     string    // mounted read-write at the same path
	Cwd         string
	User        oci.User
	Env         []string // KEY=VALUE passed in (API keys, TERM, LANG, git identity)
	Binds       []string // host paths mounted read-write at the same paths (harness config)
	CABundle    string   // host CA certificates, mounted read-only for NODE_EXTRA_CA_CERTS
	TTY         bool
	Runtime     Runtime
	Stdin       io.Reader // nil for none
	Stdout      io.Writer
	Stderr      io.Writer
	// Signals are the signals aishell receives (SIGINT, SIGTERM, SIGHUP): forwarded to the
	// process; SIGTERM and SIGHUP also end the run.
	Signals <-chan os.Signal
}

// Runtime says how containers run on this containerd.
type Runtime struct {
	// Rootless: containerd runs in rootlesskit's user namespace, and aishell inside it too.
	Rootless bool
	// RuntimeDir is the user's runtime directory ($XDG_RUNTIME_DIR): in rootless mode the
	// task's FIFOs and runc's state live under it, where the user may write.
	RuntimeDir string
	// SystemdCgroup: rootless on cgroup v2 with controllers delegated to the user's systemd,
	// so containers get a systemd scope; otherwise rootless containers get no cgroup.
	SystemdCgroup bool
}

// fifoDir is where the task's FIFOs are made: containerd's default, or the user's runtime
// directory in rootless mode.
func (r Runtime) fifoDir() string {
	if !r.Rootless {
		return ""
	}
	return filepath.Join(r.RuntimeDir, "aishell", "fifo")
}

// runcRoot is runc's state directory in rootless mode: where containerd-rootless.sh's layout
// puts it ($XDG_RUNTIME_DIR/containerd/runc, the shim adds the namespace), made explicit so any
// rootless layout works.
func (r Runtime) runcRoot() string { return filepath.Join(r.RuntimeDir, "containerd", "runc") }

// StopTimeout is how long a process gets after SIGTERM before it is killed.
const StopTimeout = 10 * time.Second

// ContainerName is aishell-<project>-<purpose>-<6 hex>, readable in `ctr containers ls`.
func ContainerName(project, purpose string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("aishell-%s-%s-%s", sanitize(filepath.Base(project)), sanitize(purpose), hex.EncodeToString(b))
}

// Runs of anything but letters and digits become one "-": containerd IDs allow no doubled or
// trailing separators.
var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

func sanitize(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "x"
	}
	return s
}

// Run runs the container to the end and returns its process's exit code. Whatever happens,
// everything it created is removed before it returns.
func Run(ctx context.Context, c *containerd.Client, o Options) (code int, err error) {
	id := ContainerName(o.Project, o.Purpose)
	tr := newTracer()
	var cleanups []func(context.Context) error
	defer func() {
		// Clean up even after Ctrl-C or SIGTERM: a context that is never cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			if cerr := cleanups[i](cctx); cerr != nil {
				// The process's exit code stays what it was; the leftover is reported.
				fmt.Fprintf(stderrOf(o), "aishell: warning: clean up %s: %v (aishell gc removes leftovers)\n", id, cerr)
			}
			tr.mark(fmt.Sprintf("cleanup %d", i))
		}
		tr.done()
	}()

	// The lease holds the snapshots while the container is assembled and runs.
	lctx, done, err := c.WithLease(ctx, leases.WithID(id), leases.WithExpiration(24*time.Hour),
		leases.WithLabels(map[string]string{labels.PID: strconv.Itoa(os.Getpid())}))
	if err != nil {
		return 0, fmt.Errorf("create lease: %w", err)
	}
	cleanups = append(cleanups, done)

	tr.mark("lease")
	img, err := c.GetImage(lctx, o.Image)
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", o.Image, err)
	}
	diffIDs, err := img.RootFS(lctx)
	if err != nil {
		return 0, fmt.Errorf("layers of %s: %w", o.Image, err)
	}
	sn := c.SnapshotService(o.Snapshotter)
	rootMounts, err := sn.Prepare(lctx, id, identity.ChainID(diffIDs).String())
	if err != nil {
		return 0, fmt.Errorf("rootfs snapshot of %s: %w", o.Image, err)
	}
	cleanups = append(cleanups, func(ctx context.Context) error { return ignoreNotFound(sn.Remove(ctx, id)) })

	tr.mark("rootfs snapshot")
	// /etc/passwd and /etc/group: the image's own, with the user in them.
	etc, err := os.MkdirTemp("", id+"-etc-")
	if err != nil {
		return 0, err
	}
	cleanups = append(cleanups, func(context.Context) error { return os.RemoveAll(etc) })
	user := o.User
	user.PasswdFile, user.GroupFile = filepath.Join(etc, "passwd"), filepath.Join(etc, "group")
	passwd, _ := rootfsFile(rootMounts, "etc/passwd")
	group, _ := rootfsFile(rootMounts, "etc/group")
	if err := os.WriteFile(user.PasswdFile, oci.Passwd(passwd, user), 0o644); err != nil {
		return 0, err
	}
	if err := os.WriteFile(user.GroupFile, oci.Group(group, user), 0o644); err != nil {
		return 0, err
	}

	args := o.Args
	if len(args) == 0 {
		args = []string{"bash", "-l"}
	}
	// tini as PID 1 forwards signals to the process (PID 1 itself ignores SIGINT/SIGTERM
	// it has no handler for) and reaps zombies; the foundation installs it.
	if rootfsHas(rootMounts, "usr/bin/tini") {
		args = append([]string{"/usr/bin/tini", "-s", "-g", "--"}, args...)
	}

	ctrLabels := map[string]string{labels.Project: o.Project, labels.Purpose: o.Purpose}
	for k, v := range ownerLabels() {
		ctrLabels[k] = v
	}
	uses := []string{o.Image}
	opts := []ctroci.SpecOpts{
		ctroci.WithImageConfig(img),
		ctroci.WithProcessArgs(args...),
		ctroci.WithProcessCwd(o.Cwd),
		oci.WithUser(user, user.Home == "/" || project.Within(user.Home, o.Project)),
		oci.WithBind(o.Project, true),
	}
	for _, b := range o.Binds {
		opts = append(opts, oci.WithBind(b, true))
	}
	if o.CABundle != "" {
		opts = append(opts, oci.WithBindAt(o.CABundle, hostCABundle, false))
	}
	var path []string
	for i, h := range o.Harnesses {
		key := id + "-" + h.Name
		mounts, err := snapshot.View(lctx, c, o.Snapshotter, h.Ref, key)
		if err != nil {
			return 0, err
		}
		cleanups = append(cleanups, func(ctx context.Context) error { return ignoreNotFound(sn.Remove(ctx, key)) })
		opts = append(opts, oci.WithReadOnlySnapshot(h.MountPoint(), mounts))
		path = append(path, h.MountPoint()+"/bin")
		uses = append(uses, h.Ref)
		// The container record keeps its views from the garbage collector too.
		ctrLabels[labels.GCRefSnapshot(o.Snapshotter, i)] = key
	}
	ctrLabels[labels.Uses] = strings.Join(uses, ",")
	opts = append(opts,
		oci.WithPathPrepend(path...),
		oci.WithEnv(o.Env...),
		oci.WithHostNetwork(),
		oci.WithSecurityDefaults(),
	)
	if o.TTY {
		opts = append(opts, ctroci.WithTTY)
	}
	ctrOpts := []containerd.NewContainerOpts{
		containerd.WithSnapshotter(o.Snapshotter),
		containerd.WithSnapshot(id),
		containerd.WithImageName(img.Name()),
	}
	if o.Runtime.Rootless {
		scope := ""
		if o.Runtime.SystemdCgroup {
			scope = "user.slice:aishell:" + id
		}
		opts = append(opts, oci.WithRootless(scope))
		ctrOpts = append(ctrOpts, containerd.WithRuntime(plugins.RuntimeRuncV2, &runcoptions.Options{
			Root: o.Runtime.runcRoot(), SystemdCgroup: o.Runtime.SystemdCgroup,
		}))
	}
	ctrOpts = append(ctrOpts, containerd.WithNewSpec(opts...), containerd.WithContainerLabels(ctrLabels))

	tr.mark("views + passwd")
	ctr, err := c.NewContainer(lctx, id, ctrOpts...)
	if err != nil {
		return 0, fmt.Errorf("create container: %w", err)
	}
	cleanups = append(cleanups, func(ctx context.Context) error { return ignoreNotFound(ctr.Delete(ctx)) })

	tr.mark("container")
	var term *terminal
	var creator cio.Creator
	var stdin *closingReader
	// A reader of aishell's output that goes away (aishell exec yes | head -1) ends the process
	// as it would end outside: with SIGPIPE.
	pipe := &pipeState{broken: make(chan struct{})}
	brokenPipe := pipe.broken
	stdout, stderr := &pipeWriter{w: o.Stdout, st: pipe}, &pipeWriter{w: stderrOf(o), st: pipe}
	var ioOpts []cio.Opt
	if dir := o.Runtime.fifoDir(); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, fmt.Errorf("FIFO directory: %w", err)
		}
		ioOpts = append(ioOpts, cio.WithFIFODir(dir))
	}
	if o.TTY {
		term, err = newTerminal()
		if err != nil {
			return 0, err
		}
		creator = cio.NewCreator(append(ioOpts, cio.WithStreams(term.in, stdout, nil), cio.WithTerminal)...)
	} else {
		var in io.Reader
		if o.Stdin != nil {
			stdin = &closingReader{r: o.Stdin, eof: make(chan struct{})}
			in = stdin
		}
		creator = cio.NewCreator(append(ioOpts, cio.WithStreams(in, stdout, stderr))...)
	}
	task, err := ctr.NewTask(lctx, creator)
	if err != nil {
		return 0, fmt.Errorf("create task: %w", err)
	}
	cleanups = append(cleanups, func(ctx context.Context) error {
		_, err := task.Delete(ctx, containerd.WithProcessKill)
		return ignoreNotFound(err)
	})
	tr.mark("task")
	// Wait before Start, or a fast exit is missed; on a context that outlives Ctrl-C.
	exitCh, err := task.Wait(context.WithoutCancel(lctx))
	if err != nil {
		return 0, fmt.Errorf("wait: %w", err)
	}
	if term != nil {
		if err := term.raw(); err != nil {
			return 0, err
		}
		defer term.reset()
	}
	// A signal that came while the container was assembled stops the run before it starts.
	select {
	case sig := <-o.Signals:
		return 0, fmt.Errorf("interrupted by %s before the process started; nothing was left behind: %w", sig, context.Canceled)
	default:
	}
	if err := task.Start(lctx); err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	if stdin != nil {
		// At the end of our stdin, close the process's: `echo x | aishell exec cat` ends.
		go func() {
			select {
			case <-stdin.eof:
				task.CloseIO(context.WithoutCancel(lctx), containerd.WithStdinCloser)
			case <-lctx.Done():
			}
		}()
	}

	tr.mark("start")
	winch := make(chan os.Signal, 1)
	if term != nil {
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		term.resize(lctx, task)
	}
	var killTimer <-chan time.Time
	interrupts := 0
	kill := func(s syscall.Signal) {
		task.Kill(context.WithoutCancel(lctx), s)
		if killTimer == nil && s != syscall.SIGINT {
			killTimer = time.After(StopTimeout)
		}
	}
	for {
		select {
		case st := <-exitCh:
			// Let the output drain before Delete closes the pipes.
			drained := make(chan struct{})
			go func() { task.IO().Wait(); close(drained) }()
			select {
			case <-drained:
			case <-time.After(5 * time.Second):
			}
			tr.mark("process exited")
			if err := st.Error(); err != nil {
				return 0, fmt.Errorf("wait: %w", err)
			}
			return int(st.ExitCode()), nil
		case <-winch:
			term.resize(lctx, task)
		case sig := <-o.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			if s == syscall.SIGINT {
				// The first Ctrl-C goes to the process; a second one kills it.
				if interrupts++; interrupts > 1 {
					s = syscall.SIGKILL
				}
			}
			kill(s)
		case <-brokenPipe:
			// Programs that ignore SIGPIPE (Node does) get a short grace, then SIGKILL.
			brokenPipe = nil
			task.Kill(context.WithoutCancel(lctx), syscall.SIGPIPE)
			if killTimer == nil {
				killTimer = time.After(2 * time.Second)
			}
		case <-killTimer:
			task.Kill(context.WithoutCancel(lctx), syscall.SIGKILL)
		}
	}
}

// pipeState is shared by a run's output writers: broken closes at the first write error.
type pipeState struct {
	once   sync.Once
	broken chan struct{}
}

// pipeWriter passes output through. After a write error it drops later writes, so the copy goes
// on draining the container; a broken pipe (the reader went away) is reported once.
type pipeWriter struct {
	w      io.Writer
	st     *pipeState
	failed bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.failed {
		return len(b), nil
	}
	if _, err := p.w.Write(b); err != nil {
		p.failed = true
		if errors.Is(err, syscall.EPIPE) {
			p.st.once.Do(func() { close(p.st.broken) })
		}
	}
	return len(b), nil
}

func stderrOf(o Options) io.Writer {
	if o.Stderr != nil {
		return o.Stderr
	}
	return os.Stderr
}

// closingReader passes stdin through and closes eof at its end.
type closingReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (c *closingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.eof) })
	}
	return n, err
}

// leaseOf is the lease that holds a run's resources: it carries the container's ID.
func leaseOf(id string) leases.Lease { return leases.Lease{ID: id} }

func ignoreNotFound(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not found") {
		return nil
	}
	return err
}
