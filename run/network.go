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
// written for it (none written: the namespace still, never the host's).
func networkOpt(o Options, p parts) ctroci.SpecOpts {
	if o.Network.Mode == network.Host {
		return oci.WithHostNetwork()
	}
	return oci.WithOwnNetwork(p.resolv, p.hosts)
}

// setupNetwork sets up the task's network namespace before its process starts, and pushes its
// removal.
func setupNetwork(ctx context.Context, o Options, task containerd.Task, stack *cleanupStack) error {
	if o.Network.Mode == network.Host || o.Network.Mode == "" {
		return nil
	}
	sb, err := network.Setup(ctx, int(task.Pid()), o.Network, nil)
	if err != nil {
		return err
	}
	stack.pushLocal("network", sb.Close)
	return nil
}
