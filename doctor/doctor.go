// Package doctor checks each piece aishell needs (containerd, its snapshotter and runtime,
// buildkitd and its containerd worker, the base images) and reports a verdict for each.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/daemon"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/rootless"
)

// Status is a check's verdict.
type Status int

const (
	OK   Status = iota
	Warn        // works, but something is worth knowing
	Fail        // aishell cannot work until this is fixed
	Skip        // not checked because something it depends on failed
)

func (s Status) String() string {
	return [...]string{"ok", "warn", "FAIL", "skip"}[s]
}

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string
	Hint   string
}

// Options tunes what is checked.
type Options struct {
	Images []string    // images expected in the namespace
	Host   config.Host // the invoking user, for the mode and rootless checks
	// Foundation is the foundation the user's config names, to tell an older one.
	Foundation build.FoundationSpec
	// Network is the configured network mode ("" for the default).
	Network string
}

// DefaultOptions checks for the foundation's upstream images.
func DefaultOptions(h config.Host) Options {
	return Options{Images: []string{build.DefaultBaseImage, build.DefaultNodeImage}, Host: h}
}

// Run performs every check. It never fails as a whole; the report says what failed.
func Run(ctx context.Context, ep config.Endpoints, opt Options) []Check {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }

	mode, reachable := checkMode(opt.Host)
	add(mode)
	add(checkNetwork(opt.Network))
	if opt.Host.Rootless {
		for _, f := range rootless.Prerequisites(personName(opt.Host), opt.Host.EUID) {
			c := Check{Name: f.Name, Detail: f.Detail, Hint: f.Hint}
			switch {
			case f.Warn:
				c.Status = Warn
			case !f.OK:
				c.Status = Fail
			}
			add(c)
		}
	}
	if !reachable {
		for _, n := range []string{"containerd", "snapshotter", "runtime", "buildkitd", "images"} {
			add(Check{Name: n, Status: Skip, Detail: "no rootless containerd to check"})
		}
		return checks
	}

	cc, err := daemon.Containerd(ctx, ep)
	var serverUUID string
	if err != nil {
		add(failure("containerd", err))
		for _, n := range []string{"snapshotter", "runtime"} {
			add(Check{Name: n, Status: Skip, Detail: "containerd unreachable"})
		}
	} else {
		defer cc.Close()
		c, uuid := checkContainerd(ctx, cc, ep)
		serverUUID = uuid
		add(c)
		add(checkSnapshotter(ctx, cc, ep.Snapshotter))
		add(checkRuntime())
	}

	bk, err := daemon.Buildkit(ctx, ep)
	if err != nil {
		add(rootlessBuildkitHint(failure("buildkitd", err), opt.Host))
	} else {
		defer bk.Close()
		add(rootlessBuildkitHint(checkBuildkit(ctx, bk, ep, serverUUID), opt.Host))
	}

	if cc != nil {
		add(checkImages(ctx, cc, opt.Images, opt.Foundation))
	} else {
		add(Check{Name: "images", Status: Skip, Detail: "containerd unreachable"})
	}
	return checks
}

// checkMode says how aishell reaches containerd and who containers run as, and whether there
// is a containerd to check at all (a user who is not root needs a running rootless one).
func checkMode(h config.Host) (Check, bool) {
	c := Check{Name: "mode"}
	p, err := config.WhoInvoked(h)
	if err != nil {
		return failure("mode", err), false
	}
	switch p.Mode {
	case config.ModeRoot:
		c.Detail = "root on the system containerd; containers run as root"
	case config.ModeSudo:
		c.Detail = fmt.Sprintf("sudo for %s on the system containerd; containers run as %s (uid %d, gid %d) with HOME %s, so files they write are %s's",
			p.Name, p.Name, p.UID, p.GID, p.Home, p.Name)
	case config.ModeRootless:
		if !rootless.InChild() {
			_, err := rootless.Find(h.Getenv, h.RuntimeDir())
			if err == nil {
				err = errors.New("rootless containerd found, but aishell did not enter its namespaces")
			}
			return failure("mode", err), false
		}
		c.Detail = fmt.Sprintf("rootless for %s (uid %d), inside rootlesskit's namespaces (%s); containers run as uid 0 of the user namespace, which is %s on the host",
			p.Name, p.UID, rootless.StateDir(h.Getenv, h.RuntimeDir()), p.Name)
	}
	return c, true
}

func personName(h config.Host) string {
	if p, err := config.WhoInvoked(h); err == nil {
		return p.Name
	}
	return fmt.Sprintf("uid %d", h.EUID)
}

// rootlessBuildkitHint points a rootless user whose buildkitd is missing or serves another
// namespace at the command that starts the right one.
func rootlessBuildkitHint(c Check, h config.Host) Check {
	if h.Rootless && c.Status == Fail {
		c.Hint = "start a buildkitd for aishell in rootlesskit's namespaces: CONTAINERD_NAMESPACE=aishell containerd-rootless-setuptool.sh install-buildkit-containerd"
	}
	return c
}

// Failed lists the names of the checks that failed.
func Failed(checks []Check) []string {
	var names []string
	for _, c := range checks {
		if c.Status == Fail {
			names = append(names, c.Name)
		}
	}
	return names
}

func failure(name string, err error) Check {
	c := Check{Name: name, Status: Fail, Detail: err.Error()}
	var h errs.Hinted
	if errors.As(err, &h) {
		c.Hint = h.ErrorHint()
	}
	return c
}

func checkContainerd(ctx context.Context, cc *containerd.Client, ep config.Endpoints) (Check, string) {
	c := Check{Name: "containerd"}
	v, err := cc.Version(ctx)
	if err != nil {
		return Check{Name: "containerd", Status: Fail, Detail: "version: " + err.Error()}, ""
	}
	info, err := cc.Server(ctx)
	if err != nil {
		return Check{Name: "containerd", Status: Fail, Detail: "server info: " + err.Error()}, ""
	}
	c.Detail = fmt.Sprintf("containerd %s at %s (namespace %s)", v.Version, ep.ContainerdAddress, ep.Namespace)
	if !strings.HasPrefix(strings.TrimPrefix(v.Version, "v"), "2.") {
		c.Status = Warn
		c.Hint = "aishell is developed against containerd 2.x; older versions may work but are not tested"
	}
	return c, info.UUID
}

func checkSnapshotter(ctx context.Context, cc *containerd.Client, name string) Check {
	c := Check{Name: "snapshotter"}
	resp, err := cc.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id=="+name)
	if err != nil {
		return Check{Name: c.Name, Status: Fail, Detail: "list plugins: " + err.Error()}
	}
	if len(resp.Plugins) == 0 {
		c.Status, c.Detail = Fail, fmt.Sprintf("snapshotter %q is not loaded in containerd", name)
		c.Hint = "use a containerd built with the overlayfs snapshotter, or set the snapshotter aishell uses"
		return c
	}
	if ie := resp.Plugins[0].GetInitErr(); ie != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("snapshotter %q failed to load: %s", name, ie.GetMessage())
		c.Hint = "check containerd's log; overlayfs needs a kernel with overlay support and a root on a filesystem that supports it"
		return c
	}
	c.Detail = name
	return c
}

func checkRuntime() Check {
	c := Check{Name: "runtime"}
	shim, err := exec.LookPath("containerd-shim-runc-v2")
	if err != nil {
		c.Status, c.Detail = Fail, "containerd-shim-runc-v2 not found on PATH"
		c.Hint = "install containerd's runc shim next to containerd"
		return c
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		c.Status, c.Detail = Fail, "runc not found on PATH"
		c.Hint = "install runc (Debian: apt-get install runc)"
		return c
	}
	out, err := exec.Command(runc, "--version").Output()
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("%s --version: %v", runc, err)
		c.Hint = "reinstall runc"
		return c
	}
	first, _, _ := strings.Cut(string(out), "\n")
	c.Detail = fmt.Sprintf("%s; %s (%s)", shim, first, runc)
	return c
}

func checkBuildkit(ctx context.Context, bk *bkclient.Client, ep config.Endpoints, containerdUUID string) Check {
	info, err := bk.Info(ctx)
	if err != nil {
		return Check{Name: "buildkitd", Status: Fail, Detail: "info: " + daemon.Short(err)}
	}
	worker, err := daemon.Worker(ctx, bk, ep, containerdUUID)
	if err != nil {
		return failure("buildkitd", err)
	}
	return Check{Name: "buildkitd", Detail: fmt.Sprintf("buildkitd %s at %s, %s", info.BuildkitVersion.Version, ep.BuildkitHost, worker)}
}

func checkImages(ctx context.Context, cc *containerd.Client, names []string, foundation build.FoundationSpec) Check {
	c := Check{Name: "images"}
	var present, missing []string
	for _, n := range names {
		_, err := cc.ImageService().Get(ctx, n)
		switch {
		case err == nil:
			present = append(present, n)
		case errdefs.IsNotFound(err):
			missing = append(missing, n)
		default:
			return Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("look up %s: %v", n, err)}
		}
	}
	var parts []string
	if len(present) > 0 {
		parts = append(parts, "present: "+strings.Join(present, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "missing: "+strings.Join(missing, ", "))
		c.Status = Warn
		c.Hint = "the first `aishell build` pulls them from their registry; without one, import them first (ctr -n NAMESPACE image import)"
	}
	if _, err := cc.ImageService().Get(ctx, build.FoundationImage); err == nil {
		parts = append(parts, "foundation built")
		if older, _ := (&build.Builder{Images: cc}).OlderFoundation(ctx, foundation); older != "" {
			parts = append(parts, older)
			c.Status = Warn
		}
	} else {
		parts = append(parts, "foundation not built yet (aishell build)")
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

// Print writes the report, one line per check.
func Print(w io.Writer, checks []Check) {
	for _, c := range checks {
		line := fmt.Sprintf("%-4s  %-11s  %s", c.Status, c.Name, c.Detail)
		if c.Hint != "" {
			line += " (hint: " + c.Hint + ")"
		}
		fmt.Fprintln(w, line)
	}
}

// checkNetwork reports what the configured network mode needs (isolated: slirp4netns, nft
// and a usable /dev/net/tun), and warns about host, which shares everything.
func checkNetwork(mode string) Check {
	c := Check{Name: "network"}
	m, err := network.ParseMode(mode)
	if err != nil {
		c.Status, c.Detail, c.Hint = Fail, err.Error(), "fix network in your config (README: Network)"
		return c
	}
	switch m {
	case network.Host:
		c.Status = Warn
		c.Detail = "host: the sandbox shares the host's network: every service on the host's localhost (databases, admin UIs, debug ports), the LAN, cloud metadata (169.254.169.254), /proc/net and the host's abstract unix sockets"
		c.Hint = "use network: isolated (the default) or allow-list, and --network host for the one run that needs it"
		return c
	case network.Isolated:
		if miss := network.Missing(m); len(miss) > 0 {
			c.Status, c.Detail, c.Hint = Fail, "isolated needs "+strings.Join(miss, ", ")+", not found on PATH", network.InstallHint
			return c
		}
		if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
			c.Status, c.Detail = Fail, "isolated: slirp4netns cannot open /dev/net/tun: "+err.Error()
			c.Hint = "load the tun module (modprobe tun) and give /dev/net/tun its usual mode (chmod 0666 /dev/net/tun), or choose network: allow-list|none"
			return c
		} else {
			f.Close()
		}
		c.Detail = "isolated (slirp4netns, nft rules in the container's namespace): the internet, not the host, the LAN or metadata addresses"
	case network.AllowList:
		c.Detail = "allow-list: only network.allow, through aishell's proxy"
	case network.None:
		c.Detail = "none: loopback only"
	}
	return c
}
