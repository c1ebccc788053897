package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// NetworkModes are the values of network.mode, from the strictest (the network package runs
// them): loopback only; only the allow list, through aishell's proxy; the internet without the
// host, LAN or metadata addresses (the default); the host's own network.
var NetworkModes = []string{"none", "allow-list", "isolated", "host"}

// DefaultNetworkMode is the mode when nothing sets one.
const DefaultNetworkMode = "isolated"

// Network is the `network:` key: a mode (`network: isolated`), or a mode with an allow list
// (`network: {mode: allow-list, allow: [harness, github.com, "*.npmjs.org:443"]}`). For
// allow-list the list is what is reachable; for isolated it names exceptions (addresses, CIDRs,
// names resolved at start) let through the ranges it rejects.
type Network struct {
	Mode  string   `yaml:"mode,omitempty"`
	Allow []string `yaml:"allow,omitempty"`
}

// UnmarshalYAML reads either form.
func (n *Network) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		*n = Network{Mode: v.Value}
		return nil
	}
	type plain Network
	var p plain
	if err := v.Decode(&p); err != nil {
		return err
	}
	*n = Network(p)
	return nil
}

// IsZero reports an unset network key (for omitempty and the merge).
func (n Network) IsZero() bool { return n.Mode == "" && len(n.Allow) == 0 }

// EffectiveMode is the mode, or the default when unset.
func (n Network) EffectiveMode() string {
	if n.Mode == "" {
		return DefaultNetworkMode
	}
	if n.Mode == "allowlist" || n.Mode == "allow" {
		return "allow-list"
	}
	return n.Mode
}

func networkRank(mode string) int { return slices.Index(NetworkModes, mode) }

func (n Network) validate() error {
	if n.Mode != "" && networkRank(n.EffectiveMode()) < 0 {
		return fmt.Errorf("network: mode %q is none of %s", n.Mode, strings.Join(NetworkModes, ", "))
	}
	for _, a := range n.Allow {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("network.allow: an empty entry")
		}
	}
	return nil
}

// mergeNetwork is the project's network over the user's: its mode when it sets one, its allow
// list when it sets one.
func mergeNetwork(user, proj Network) Network {
	out := user
	if proj.Mode != "" {
		out.Mode = proj.Mode
	}
	if len(proj.Allow) > 0 {
		out.Allow = proj.Allow
	}
	return out
}

// networkWidenings are what of a project's network reaches more than the user's (their
// config's, or their --network for this run): a mode that reaches more (host over isolated,
// isolated over allow-list...), and, whatever the mode (a --network given later may make any
// list count), allow entries the user's list does not have. Under an isolated user setting a
// plain name is no widening (isolated reaches every public name, and names are no exceptions
// to what it rejects), but an address, CIDR or pinned name is (it may name the LAN or the host).
func networkWidenings(user, proj Network) Widened {
	if proj.IsZero() {
		return nil
	}
	merged := mergeNetwork(user, proj)
	um, pm := user.EffectiveMode(), merged.EffectiveMode()
	var ws Widened
	if networkRank(pm) > networkRank(um) {
		ws = append(ws, Widening{"network", pm, "it reaches more than your own setting (" + um + ")"})
	}
	for _, a := range proj.Allow {
		if slices.Contains(user.Allow, a) {
			continue
		}
		if um == "isolated" && plainName(a) { // isolated reaches every public name already
			continue
		}
		ws = append(ws, Widening{"network.allow", a, "your own config does not allow it"})
	}
	return ws
}

// plainName reports an allow entry that is a host name (or *.domain), with an optional :PORT:
// letters, digits, dots and dashes, a last label that is not all digits, and at most the one
// colon of a port; not an address (IPv4 or IPv6), a CIDR, a pin or a catalog word.
func plainName(a string) bool {
	if a == "harness" || a == "npm" {
		return false
	}
	host, port, hasPort := strings.Cut(a, ":")
	if hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return false // a second colon (IPv6), or no port after it
	}
	host = strings.TrimPrefix(host, "*.")
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := labels[len(labels)-1]
	return last != "" && strings.Trim(last, "0123456789") != ""
}
