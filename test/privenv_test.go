package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/labels"
)

// privEnv is a containerd and a buildkitd of one test's own, for the tests that stop, kill or
// starve the daemons: the shared environment's are never touched. Both run in a mount namespace
// of their own (held by a sleeping process) where /run/containerd is a directory of the
// environment's: runc's state, the shims' sockets and the task FIFOs (which aishell makes there
// as root) are its own, never those of another containerd on the machine. Sockets, state and
// logs live in a short directory under the temporary directory (socket paths must stay under
// 108 bytes); containerd's and buildkitd's roots may sit on a tmpfs of a given size.
//
// aishell runs in that namespace too (cmd, aishell): it makes the task FIFOs where the shims
// look for them. The test talks to the private containerd through C, from the outside.
type privEnv struct {
	t       *testing.T
	dir     string
	holder  *exec.Cmd // sleeps in the mount namespace, so that it outlives daemon restarts
	ctd     *daemonProc
	bk      *daemonProc
	onTmpfs bool // the roots are on a tmpfs at dir/data
	// C is the test's client of the private containerd (namespace aishell). Its connection
	// comes back by itself after a restart.
	C *containerd.Client
}

// daemonProc is one start of a daemon: its process and a channel closed when it has exited.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (d *daemonProc) running() bool {
	if d == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// privOptions shape a private environment.
type privOptions struct {
	// DiskMB puts containerd's and buildkitd's roots on a tmpfs of this many MiB (limitDisk
	// shrinks it later); 0 leaves them on the disk.
	DiskMB int
	// Images are copied from the shared environment's containerd (with their labels) and
	// unpacked, besides the foundation's three tags, which every environment gets.
	Images []string
}

// newPrivEnv starts a private containerd and buildkitd, seeds the foundation (and o.Images) from
// the shared environment's containerd shared, and removes everything when the test ends, failed
// or not: every task is killed first (a shim outlives its containerd), then the daemons stop, the
// namespace ends and the directory goes.
func newPrivEnv(t *testing.T, shared *containerd.Client, o privOptions) *privEnv {
	t.Helper()
	start := time.Now()
	dir, err := os.MkdirTemp("", "aishell-pe-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privEnv{t: t, dir: dir, onTmpfs: o.DiskMB > 0}
	t.Cleanup(p.remove)
	for _, d := range []string{"data", "run", "ctd-state", "ctd-opt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p.holder = exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "infinity")
	p.holder.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := p.holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	// unshare has made the namespace once it is sleep.
	waitUntil(t, 10*time.Second, "the private mount namespace", func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.holder.Process.Pid))
		return strings.TrimSpace(string(comm)) == "sleep"
	})
	p.inNS(t, "mkdir -p /run/containerd && mount --bind "+filepath.Join(dir, "run")+" /run/containerd")
	if p.onTmpfs {
		p.inNS(t, fmt.Sprintf("mount -t tmpfs -o size=%dm,mode=0700 aishell-test %s", o.DiskMB, filepath.Join(dir, "data")))
	}
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "data", "ctd-root"), filepath.Join(dir, "ctd-state"), p.ctdSocket(), p.ctdSocket()+".ttrpc",
		filepath.Join(dir, "ctd-debug.sock"), filepath.Join(dir, "ctd-opt"))
	if err := os.WriteFile(filepath.Join(dir, "containerd.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p.startContainerd(t)
	p.startBuildkitd(t)
	up := time.Since(start)
	p.seed(t, shared, o.Images)
	t.Logf("private environment in %s: daemons up in %s, seeded in %s", dir, up.Round(time.Millisecond), (time.Since(start) - up).Round(time.Millisecond))
	return p
}

func (p *privEnv) ctdSocket() string { return filepath.Join(p.dir, "ctd.sock") }

// BuildkitHost is the private buildkitd's address.
func (p *privEnv) BuildkitHost() string { return "unix://" + filepath.Join(p.dir, "bk.sock") }

// env points aishell at the private daemons.
func (p *privEnv) env() []string {
	return []string{"CONTAINERD_ADDRESS=" + p.ctdSocket(), "BUILDKIT_HOST=" + p.BuildkitHost(), "CONTAINERD_NAMESPACE=aishell"}
}

// nsenter is the command line that runs what follows it in the private mount namespace, in the
// directory wd when it is not "". setns resets the working directory to the namespace's root,
// and nsenter's own --wd keeps a directory of the old namespace, where getcwd fails: env changes
// to it by its path in the new one, then execs the command (which keeps the pid).
func (p *privEnv) nsenter(wd string) []string {
	args := []string{"nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", p.holder.Process.Pid), "--"}
	if wd != "" {
		args = append(args, "env", "--chdir="+wd)
	}
	return args
}

// inNS runs a shell command in the private mount namespace, to its end.
func (p *privEnv) inNS(t *testing.T, script string) {
	t.Helper()
	args := append(p.nsenter(""), "sh", "-c", script)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", script, err, out)
	}
}

// cmd is aishell with args, run in the private namespace against the private daemons, in dir
// with env over them: aishellCmd's command, entered into the namespace (nsenter execs aishell,
// so the process is aishell's and signals reach it).
func (p *privEnv) cmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := aishellCmd(dir, append(p.env(), env...), args...)
	wd := dir
	if wd == "" {
		wd, _ = os.Getwd()
	}
	path, err := exec.LookPath("nsenter")
	if err != nil {
		path = "nsenter"
	}
	cmd.Args = append(p.nsenter(wd), cmd.Args...)
	cmd.Args[len(p.nsenter(wd))] = aishellBin
	cmd.Path = path
	return cmd
}

// aishell runs aishell in the private environment to its end (see cmd).
func (p *privEnv) aishell(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runCmd(t, p.cmd(dir, env, args...), "(private environment) aishell "+strings.Join(args, " "))
}

// daemon starts args in the namespace, in a session of its own, its output appended to log.
func (p *privEnv) daemon(log string, args ...string) (*daemonProc, error) {
	f, err := os.OpenFile(filepath.Join(p.dir, log), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "---- %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	args = append(p.nsenter(p.dir), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", strings.Join(args, " "), err)
	}
	d := &daemonProc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(d.exited) }()
	return d, nil
}

// ready waits until check succeeds while d runs, and says why not, with the end of its log,
// when d exits or does not answer within 30 s.
func (p *privEnv) ready(d *daemonProc, log string, check func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if !d.running() || time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(p.dir, log))
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			return fmt.Errorf("%s did not come up (%v); its log ends:\n%s", log, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startContainerd starts containerd with the environment's config and waits until it answers.
func (p *privEnv) startContainerd(t *testing.T) {
	t.Helper()
	if err := p.tryStartContainerd(); err != nil {
		t.Fatal(err)
	}
}

func (p *privEnv) tryStartContainerd() error {
	d, err := p.daemon("containerd.log", "containerd", "--config", filepath.Join(p.dir, "containerd.toml"))
	if err != nil {
		return err
	}
	p.ctd = d
	if err := p.ready(d, "containerd.log", func() error {
		c, err := connect(p.ctdSocket(), "aishell")
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return err
	}
	if p.C == nil {
		c, err := connect(p.ctdSocket(), "aishell")
		if err != nil {
			return err
		}
		p.C = c
	}
	return nil
}

// stopContainerd stops containerd as a service manager does (SIGTERM) and waits until it has
// exited; the shims, and the processes they hold, live on. It returns when it sent SIGTERM.
func (p *privEnv) stopContainerd(t *testing.T) time.Time {
	t.Helper()
	return stop(t, p.ctd, "containerd")
}

// startBuildkitd starts buildkitd with the containerd worker (namespace aishell, host network)
// and waits until it lists its worker.
func (p *privEnv) startBuildkitd(t *testing.T) {
	t.Helper()
	d, err := p.daemon("buildkitd.log", "buildkitd", "--root", filepath.Join(p.dir, "data", "bk"), "--addr", p.BuildkitHost(),
		"--oci-worker=false", "--containerd-worker=true", "--containerd-worker-addr", p.ctdSocket(),
		"--containerd-worker-namespace", "aishell", "--containerd-worker-net", "host")
	if err != nil {
		t.Fatal(err)
	}
	p.bk = d
	if err := p.ready(d, "buildkitd.log", func() error {
		out, err := exec.Command("buildctl", "--addr", p.BuildkitHost(), "debug", "workers").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// killBuildkitd kills buildkitd with SIGKILL, as the OOM killer does, and waits until it is gone.
func (p *privEnv) killBuildkitd() {
	if p.bk.running() {
		p.bk.cmd.Process.Kill()
		<-p.bk.exited
	}
}

// stop ends a daemon with SIGTERM, and SIGKILL after 15 s, and returns when it sent SIGTERM.
func stop(t *testing.T, d *daemonProc, what string) time.Time {
	t.Helper()
	sent := time.Now()
	if !d.running() {
		return sent
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not exit within 15 s of SIGTERM: killed", what)
		d.cmd.Process.Kill()
		<-d.exited
	}
	return sent
}

// foundationTags are the foundation's three tags that runs and builds look up: this aishell's
// content-addressed one, aishell:foundation and aishell:base.
func foundationTags() []string {
	return []string{build.FoundationSpec{}.Ref(), build.FoundationImage, build.BaseAliasImage}
}

// seed copies the foundation's tags and extra images from the shared containerd into the
// private one, under a lease while the copy is incomplete: every blob with its labels (the
// gc.ref ones keep the children), each image record as it is (target and labels), then unpacked
// into overlayfs. A foundation missing in the shared environment is built there first.
func (p *privEnv) seed(t *testing.T, shared *containerd.Client, extra []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := shared.ImageService().Get(ctx, foundationTags()[0]); errdefs.IsNotFound(err) {
		mustSucceed(t, aishell(t, "", userEnv(t), "build", "--progress=plain"))
	}
	lctx, done, err := p.C.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done(context.Background())
	for _, name := range append(foundationTags(), extra...) {
		img, err := shared.ImageService().Get(ctx, name)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if err := images.Walk(lctx, copyBlob(shared, p.C), img.Target); err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if _, err := p.C.ImageService().Create(lctx, img); err != nil && !errdefs.IsAlreadyExists(err) {
			t.Fatalf("seed %s: %v", name, err)
		}
		if err := containerd.NewImage(p.C, img).Unpack(lctx, "overlayfs"); err != nil {
			t.Fatalf("unpack %s: %v", name, err)
		}
	}
}

// copyBlob copies a blob, with its labels, from src's content store to dst's and returns its
// children that src has (an index may name platforms nobody fetched).
func copyBlob(src, dst *containerd.Client) images.HandlerFunc {
	return func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		info, err := src.ContentStore().Info(ctx, desc.Digest)
		if errdefs.IsNotFound(err) && !images.IsManifestType(desc.MediaType) && !images.IsIndexType(desc.MediaType) {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		if errdefs.IsNotFound(err) {
			return nil, nil // a platform's manifest nobody fetched
		}
		if err != nil {
			return nil, err
		}
		ra, err := src.ContentStore().ReaderAt(ctx, desc)
		if err != nil {
			return nil, err
		}
		defer ra.Close()
		err = content.WriteBlob(ctx, dst.ContentStore(), "seed-"+desc.Digest.String(), content.NewReader(ra), desc, content.WithLabels(info.Labels))
		if err != nil {
			return nil, err
		}
		return images.Children(ctx, src.ContentStore(), desc)
	}
}

// limitDisk shrinks the tmpfs holding the roots to what they use now plus headroomMB: the next
// write beyond that fails with ENOSPC.
func (p *privEnv) limitDisk(t *testing.T, headroomMB int) {
	t.Helper()
	used, _ := p.disk(t)
	size := used + headroomMB
	p.inNS(t, fmt.Sprintf("mount -o remount,size=%dm %s", size, filepath.Join(p.dir, "data")))
	t.Logf("the roots' tmpfs: %d MiB used, limited to %d MiB", used, size)
}

// disk is what the roots' tmpfs has used and has free, in MiB.
func (p *privEnv) disk(t *testing.T) (used, free int) {
	t.Helper()
	if !p.onTmpfs {
		t.Fatal("the environment's roots are not on a tmpfs")
	}
	var st syscall.Statfs_t
	// The tmpfs is mounted in the namespace only: reached through the holder's root.
	data := fmt.Sprintf("/proc/%d/root%s", p.holder.Process.Pid, filepath.Join(p.dir, "data"))
	if err := syscall.Statfs(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != 0x01021994 { // TMPFS_MAGIC
		t.Fatalf("%s is not the tmpfs (filesystem type %#x)", data, st.Type)
	}
	return int((st.Blocks - st.Bfree) * uint64(st.Bsize) >> 20), int(st.Bavail * uint64(st.Bsize) >> 20)
}

// remove kills every task of the private containerd (starting it again if it is down, since
// only it can), stops both daemons, kills whatever is left in the namespace (a shim whose
// containerd never came back), lets the namespace go with its mounts and removes the directory.
func (p *privEnv) remove() {
	t := p.t
	if p.holder == nil || p.holder.Process == nil {
		os.RemoveAll(p.dir)
		return
	}
	if p.ctd != nil && !p.ctd.running() {
		if err := p.tryStartContainerd(); err != nil {
			t.Errorf("start containerd again to kill its tasks: %v", err)
		}
	}
	if p.C != nil {
		if killed := killTasks(p.C); len(killed) > 0 {
			t.Logf("killed leftover tasks: %v", killed)
		}
		p.C.Close()
	}
	if p.bk != nil {
		stop(t, p.bk, "buildkitd")
	}
	if p.ctd != nil {
		stop(t, p.ctd, "containerd")
	}
	if left := p.sweep(); len(left) > 0 {
		t.Logf("killed processes left in the private namespace: %v", left)
	}
	exec.Command(p.nsenter("")[0], append(p.nsenter("")[1:], "umount", "-l", filepath.Join(p.dir, "data"))...).Run()
	exec.Command(p.nsenter("")[0], append(p.nsenter("")[1:], "umount", "-l", "/run/containerd")...).Run()
	p.holder.Process.Kill()
	p.holder.Wait()
	if err := os.RemoveAll(p.dir); err != nil {
		t.Errorf("remove the private environment: %v", err)
	}
}

// killTasks kills and deletes every task in every namespace of c, and returns them.
func killTasks(c *containerd.Client) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, _ := c.NamespaceService().List(ctx)
	var killed []string
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, _ := c.Containers(nctx)
		for _, ctr := range ctrs {
			task, err := ctr.Task(nctx, nil)
			if err != nil {
				continue
			}
			task.Delete(nctx, containerd.WithProcessKill)
			killed = append(killed, ns+"/"+ctr.ID())
		}
	}
	return killed
}

// sweep kills, with SIGKILL, every process in the private mount namespace but its holder, and
// their descendants (which a container's own namespaces hide from that test): what the
// environment started and nothing else.
func (p *privEnv) sweep() []int {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p.holder.Process.Pid))
	if err != nil {
		return nil
	}
	var left []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == p.holder.Process.Pid {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && l == ns {
			left = append(left, pid)
			left = append(left, descendants(pid)...)
		}
	}
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// tempTags are the builds' temporary tags in c's namespace.
func tempTags(t *testing.T, c *containerd.Client) []string {
	t.Helper()
	imgs, err := c.ImageService().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, img := range imgs {
		if labels.IsTempTag(img.Name) {
			tags = append(tags, img.Name)
		}
	}
	return tags
}

// dirEntries are the names in dir (none when it does not exist).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
