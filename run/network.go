package run

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	ctroci "github.com/containerd/containerd/v2/pkg/oci"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/network"
	"github.com/aishell/aishell/oci"
)

// networkPolicy is the run's network: the --network flag's mode over the config's, and the
// config's allow list with `harness` (the running harness's API hosts, or those of every
// harness whose keys pass) and `npm` (the configured registry) expanded. An allow-list with no
// entries allows `harness`.
func networkPolicy(req Request) (network.Policy, error) {
	n := req.Config.Network
	hint := "fix network in " + req.ConfigPath + " (README: Network)"
	mode := n.Mode
	if req.Network != "" {
		mode, hint = req.Network, "--network takes none, allow-list, isolated or host"
	}
	m, err := network.ParseMode(mode)
	if err != nil {
		return network.Policy{}, errs.Usage(err, hint)
	}
	p := network.Policy{Mode: m}
	allow := n.Allow
	if m == network.AllowList && len(allow) == 0 {
		allow = []string{"harness"}
	}
	for _, e := range allow {
		var names []string
		switch e {
		case "harness":
			for _, name := range append([]string{req.Harness}, req.Keys...) {
				if h, err := harness.Lookup(name); err == nil {
					names = append(names, h.APIHosts...)
				}
			}
		case "npm":
			names = []string{npmHost(req.Config.NPMRegistry)}
		default:
			names = []string{e}
		}
		for _, s := range names {
			r, err := network.ParseRule(s)
			if err != nil {
				return network.Policy{}, errs.Usage(err, "fix network.allow in "+req.ConfigPath+" (README: Network)")
			}
			if m == network.Isolated && (r.Host == "" && !r.Prefix.Addr().Is4() || r.Pin.IsValid() && !r.Pin.Is4()) {
				return network.Policy{}, errs.Usage(fmt.Errorf("network.allow entry %q is IPv6, and isolated mode has no IPv6", s),
					"use network: allow-list for IPv6 destinations, or an IPv4 address")
			}
			p.Allow = append(p.Allow, r)
		}
	}
	return p, nil
}

// npmHost is the host of the npm registry runs install from (host:port when it has a port).
func npmHost(registry string) string {
	if registry == "" {
		registry = harness.DefaultRegistry
	}
	if u, err := url.Parse(registry); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimSuffix(registry, "/")
}

// networkFiles writes the resolv.conf and hosts of a run with its own network namespace into
// dir (the run's etc directory, removed with it), and returns their paths.
func networkFiles(m network.Mode, dir string) (resolv, hosts string, err error) {
	hostname, _ := os.Hostname()
	resolv, hosts = filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	if err := os.WriteFile(resolv, []byte(network.ResolvConf(m)), 0o644); err != nil {
		return "", "", fmt.Errorf("resolv.conf: %w", err)
	}
	if err := os.WriteFile(hosts, []byte(network.Hosts(hostname)), 0o644); err != nil {
		return "", "", fmt.Errorf("hosts file: %w", err)
	}
	return resolv, hosts, nil
}

// networkOpt is the spec's network: the host's, or a namespace of its own with the files
// written for it (none written: the namespace still, never the host's): the one made for it
// (earlyNetwork), or one runc makes.
func networkOpt(o Options, p parts) ctroci.SpecOpts {
	if o.Network.Mode == network.Host {
		return oci.WithHostNetwork()
	}
	return oci.WithOwnNetwork(p.netnsPath(), p.resolv, p.hosts)
}

// earlyNet is a run's network set up while its task is made: a namespace made for it, which its
// spec names, and what Setup made of it (slirp4netns, the DNS relay, the rules, the allow-list's
// proxy) once done is closed.
type earlyNet struct {
	ns    *network.Namespace
	start func() // begins Setup; nil once called
	done  chan struct{}
	sb    *network.Sandbox
	err   error
}

// earlyNetwork makes the namespace of a run whose mode needs one set up (isolated, allow-list),
// to be set up from when begin is called (once the container exists) while the task is made,
// and pushes what removes it. Nil when the mode needs nothing, or no namespace could be made
// here (then setupNetwork sets it up in the task's own, after the task exists).
func earlyNetwork(ctx context.Context, o Options, stack *cleanupStack) *earlyNet {
	if m := o.Network.Mode; m != network.Isolated && m != network.AllowList {
		return nil
	}
	ns, err := network.NewNamespace()
	if err != nil {
		return nil
	}
	e := &earlyNet{ns: ns, done: make(chan struct{})}
	e.start = func() {
		go func() {
			defer close(e.done)
			e.sb, e.err = network.Setup(ctx, ns.Path, o.Network, nil)
		}()
	}
	stack.pushLocal("network", func(ctx context.Context) error {
		if e.start != nil { // never started: nothing of it to wait for
			e.ns.Release()
			return nil
		}
		<-e.done // what Setup opens by the namespace's path is open before aishell lets go of it
		e.ns.Release()
		return e.sb.Close(ctx)
	})
	return e
}

// begin starts setting up e's namespace, once: slirp4netns, nft and the DNS relay then start
// while containerd and runc make the task (70 ms here), not beside the round trips that make
// the container, which they slowed by 5-7 ms. Nothing for a nil e.
func (e *earlyNet) begin() {
	if e != nil && e.start != nil {
		e.start()
		e.start = nil
	}
}

// setupNetwork sets up the task's network namespace before its process starts: it waits for
// what earlyNetwork started, then lets go of the namespace (the task has joined it), or, without
// it, sets it up in the namespace of the task's process and pushes its removal.
func setupNetwork(ctx context.Context, o Options, task containerd.Task, early *earlyNet, stack *cleanupStack) error {
	if early != nil {
		early.begin()
		<-early.done
		early.ns.Release()
		return early.err
	}
	if o.Network.Mode == network.Host || o.Network.Mode == "" {
		return nil
	}
	sb, err := network.Setup(ctx, fmt.Sprintf("/proc/%d/ns/net", task.Pid()), o.Network, nil)
	if err != nil {
		return err
	}
	stack.pushLocal("network", sb.Close)
	return nil
}
