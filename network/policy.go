// Package network is the sandbox's own network: the modes a run's network namespace can be in,
// the allow-list's rules, and what sets the namespace up from outside the container before its
// process starts (slirp4netns and nftables rules inside it for isolated, an HTTP proxy of
// aishell's own listening inside it for allow-list, nothing but loopback for none).
//
// Nothing here changes the host: no host firewall rule, bridge, route or sysctl. Every rule
// lives in the container's network namespace, which the kernel removes with the container's
// last process; slirp4netns exits when aishell does (its exit fd), and the proxy is aishell.
package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Mode is how a run's container is networked.
type Mode string

const (
	// Host shares the host's network namespace: everything bound to the host's loopback, the
	// LAN, the cloud metadata service, /proc/net and abstract unix sockets of the host.
	Host Mode = "host"
	// Isolated gives the container its own namespace with outbound access through slirp4netns,
	// and rejects the host's loopback and own addresses, private, shared, link-local and
	// multicast ranges (LAN, 169.254.169.254), unless listed.
	Isolated Mode = "isolated"
	// AllowList gives the container only loopback and an HTTP proxy there that reaches the
	// listed names only; nothing else, DNS included, leaves the namespace.
	AllowList Mode = "allow-list"
	// None gives the container loopback only.
	None Mode = "none"
)

// Default is the mode of a run when nothing says otherwise: the harnesses reach their APIs,
// npm, git over HTTPS and any package index, while the host and the LAN stay out of reach.
const Default = Isolated

// Modes are the valid modes, from the strictest.
var Modes = []Mode{None, AllowList, Isolated, Host}

// ParseMode reads a mode name; "" is the default.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Default, nil
	}
	if s == "allowlist" || s == "allow" {
		s = string(AllowList)
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("network mode %q is none of none, allow-list, isolated, host", s)
}

// Rank orders the modes by what they reach: none 0, allow-list 1, isolated 2, host 3.
func (m Mode) Rank() int {
	for i, x := range Modes {
		if x == m {
			return i
		}
	}
	return len(Modes)
}

// ProxyAddr is where the allow-list's proxy listens inside the container's namespace.
const ProxyAddr = "127.0.0.1:3128"

// Rule is one allow-list entry: a host name (a leading "*." matches any name below it, not the
// name itself), an IP address or a CIDR prefix, with an optional port (0: any), and an optional
// pinned address the name is dialled at instead of being resolved (NAME[:PORT]=IP).
type Rule struct {
	Host   string // lower case, without a trailing dot; "" for an address rule
	Prefix netip.Prefix
	Port   int
	Pin    netip.Addr
}

// ParseRule reads HOST[:PORT][=IP], *.DOMAIN[:PORT], IP[:PORT], [IPv6]:PORT or CIDR[:PORT].
func ParseRule(s string) (Rule, error) {
	var r Rule
	spec := strings.TrimSpace(s)
	if spec == "" {
		return r, fmt.Errorf("an empty network allow entry")
	}
	if name, pin, ok := strings.Cut(spec, "="); ok {
		a, err := netip.ParseAddr(pin)
		if err != nil {
			return r, fmt.Errorf("network allow entry %q: %q after = is not an IP address", s, pin)
		}
		r.Pin, spec = a.Unmap(), name
	}
	if p, err := netip.ParsePrefix(spec); err == nil && !r.Pin.IsValid() {
		r.Prefix = p.Masked()
		return r, nil
	}
	if a, err := netip.ParseAddr(spec); err == nil && !r.Pin.IsValid() {
		r.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return r, nil
	}
	host := spec
	if h, port, ok := splitPort(spec); ok {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return r, fmt.Errorf("network allow entry %q: port %q is not 1-65535", s, port)
		}
		host, r.Port = h, n
	}
	if pf, err := netip.ParsePrefix(host); err == nil && !r.Pin.IsValid() {
		r.Prefix = pf.Masked()
		return r, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if r.Pin.IsValid() {
			return r, fmt.Errorf("network allow entry %q: only a name can be pinned to an address", s)
		}
		r.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return r, nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	label := strings.TrimPrefix(host, "*.")
	if label == "" || strings.Contains(label, "*") || !validName(label) {
		return r, fmt.Errorf("network allow entry %q is not a host name, *.domain, IP address or CIDR (with an optional :PORT)", s)
	}
	r.Host = host
	return r, nil
}

// splitPort splits HOST:PORT and [IPv6]:PORT; a bare IPv6 address has no port.
func splitPort(s string) (string, string, bool) {
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]:"); i > 0 {
			return s[1:i], s[i+2:], true
		}
		return s, "", false
	}
	if strings.Count(s, ":") != 1 {
		return s, "", false
	}
	h, p, _ := strings.Cut(s, ":")
	return h, p, true
}

func validName(s string) bool {
	labels := strings.Split(s, ".")
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return false // 127.1, 2130706433, *.1: addresses or parts of one, not names
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// String is the rule as written.
func (r Rule) String() string {
	var s string
	switch {
	case r.Host == "" && r.Port == 0:
		s = r.Prefix.String()
		if r.Prefix.IsSingleIP() {
			s = r.Prefix.Addr().String()
		}
	case r.Host == "" && r.Prefix.IsSingleIP():
		s = netip.AddrPortFrom(r.Prefix.Addr(), uint16(r.Port)).String()
	case r.Host == "":
		s = r.Prefix.String() + ":" + strconv.Itoa(r.Port)
	default:
		s = r.Host
		if r.Port != 0 {
			s += ":" + strconv.Itoa(r.Port)
		}
	}
	if r.Pin.IsValid() {
		s += "=" + r.Pin.String()
	}
	return s
}

// MatchName reports whether the rule allows host name (or address literal) host at port.
func (r Rule) MatchName(host string, port int) bool {
	if r.Port != 0 && r.Port != port {
		return false
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return false // a name is ASCII (punycode); Unicode case folding must not make one match
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if r.Host == "" {
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		return err == nil && r.Prefix.Contains(a.Unmap())
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return false // an address is allowed by an address rule only, never by a name
	}
	if d, ok := strings.CutPrefix(r.Host, "*."); ok {
		return strings.HasSuffix(host, "."+d)
	}
	return host == r.Host
}

// Policy is a run's network: its mode and, for allow-list (the reachable names) and isolated
// (exceptions to what it rejects), its rules.
type Policy struct {
	Mode  Mode
	Allow []Rule
}

// Match is the first rule allowing host at port, if any.
func (p Policy) Match(host string, port int) (Rule, bool) {
	for _, r := range p.Allow {
		if r.MatchName(host, port) {
			return r, true
		}
	}
	return Rule{}, false
}

// blocked are the ranges isolated mode rejects and the allow-list's proxy will not dial for a
// name it resolved: this network, private, shared (CGNAT), loopback, link-local (cloud
// metadata), IETF protocol assignments (192.0.0.192 is Oracle Cloud's metadata), 6to4 relays,
// benchmarking, multicast and reserved IPv4, and Azure's platform endpoint 168.63.129.16; and
// IPv6's loopback, unspecified, IPv4-compatible, discard, documentation, unique-local,
// site-local, link-local, multicast, and the NAT64 and 6to4 ranges (which embed IPv4 addresses,
// 64:ff9b::a9fe:a9fe being 169.254.169.254 where NAT64 runs). (TEST-NET ranges are not routed
// on the internet and are left to the tests that use them for a stand-in outside host.)
var blocked = mustPrefixes("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"168.63.129.16/32",
	"::1/128", "::/128", "::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fec0::/10", "fe80::/10", "ff00::/8",
	"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Blocked reports whether a is in a range isolated mode rejects, or is one of own (the host's
// addresses).
func Blocked(a netip.Addr, own []netip.Addr) bool {
	a = a.Unmap()
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	for _, o := range own {
		if o.Unmap() == a {
			return true
		}
	}
	return false
}
