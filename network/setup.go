package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// ReadyTimeout bounds how long slirp4netns may take to configure the namespace.
const ReadyTimeout = 10 * time.Second

// InstallHint is how to get what isolated mode needs.
const InstallHint = "install them (Debian/Ubuntu: sudo apt-get install slirp4netns nftables), or choose another mode: --network allow-list|none|host, or network: in your config (README: Network)"

// Tools are the programs mode needs on PATH.
func Tools(m Mode) []string {
	if m == Isolated {
		return []string{"slirp4netns", "nft"}
	}
	return nil
}

// Missing are the tools of m that are not on PATH.
func Missing(m Mode) []string {
	var out []string
	for _, t := range Tools(m) {
		if _, err := exec.LookPath(t); err != nil {
			out = append(out, t)
		}
	}
	return out
}

// Sandbox is a run's network as set up; Close removes what of it lives outside the container.
type Sandbox struct {
	closers []func() error
}

// Close stops slirp4netns and the proxy. What lives in the container's namespace (its rules,
// its tap device) goes with the namespace.
func (s *Sandbox) Close(context.Context) error {
	if s == nil {
		return nil
	}
	var errsOut []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errsOut = append(errsOut, err)
		}
	}
	s.closers = nil
	return errors.Join(errsOut...)
}

// Setup makes the network namespace at nsPath (a Namespace made for the container, or
// /proc/PID/ns/net of its init, created but not yet started) what p says, from outside it. The
// caller runs Close on every way out; if aishell dies instead, slirp4netns sees its exit fd
// close and exits, and the proxy dies with aishell. log gets the proxy's refusals (nil: none).
func Setup(ctx context.Context, nsPath string, p Policy, log io.Writer) (*Sandbox, error) {
	s := &Sandbox{}
	switch p.Mode {
	case Host, None:
		return s, nil
	case AllowList:
		own := hostAddrs()
		l, err := listenIn(nsPath, ProxyAddr)
		if err != nil {
			return nil, fmt.Errorf("network: the allow-list's proxy in the container's namespace: %w", err)
		}
		px := &proxy{policy: p, own: own, log: log}
		go px.serve(l)
		s.closers = append(s.closers, l.Close)
		return s, nil
	case Isolated:
		if miss := Missing(Isolated); len(miss) > 0 {
			return nil, errs.WithHint(fmt.Errorf("network isolated needs %s, not found on PATH", strings.Join(miss, ", ")), InstallHint)
		}
		ruleset, err := isolatedRules(p.Allow, hostAddrs())
		if err != nil {
			return nil, err
		}
		nft := make(chan error, 1)
		go func() { nft <- applyRules(ctx, nsPath, ruleset) }()
		stop, err := startSlirp(nsPath)
		if err != nil {
			<-nft
			return nil, err
		}
		s.closers = append(s.closers, stop)
		stopDNS, err := startDNS(nsPath)
		if err != nil {
			<-nft
			s.Close(ctx)
			return nil, fmt.Errorf("network isolated: the DNS relay in the container's namespace: %w", err)
		}
		s.closers = append(s.closers, stopDNS)
		if err := <-nft; err != nil {
			s.Close(ctx)
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("network: unknown mode %q", p.Mode)
}

// hostAddrs are the host's own addresses: those of aishell's network namespace, and in
// rootless mode (where that is rootlesskit's, the host's only with --net=host) those the aishell
// on the host passed (config.EnvHostAddrs).
func hostAddrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range strings.Split(os.Getenv(config.EnvHostAddrs), ",") {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// ResolvConf is the resolv.conf a container of mode m gets (none for host: the host's).
func ResolvConf(m Mode) string {
	switch m {
	case Isolated:
		return "# aishell: network isolated: aishell relays DNS to the host's resolvers\nnameserver 127.0.0.1\n"
	case AllowList:
		return "# aishell: network allow-list: names resolve at the proxy (" + ProxyAddr + ", HTTPS_PROXY); no DNS server is reachable\n"
	}
	return "# aishell: network none: no DNS server is reachable\n"
}

// Hosts is the /etc/hosts of a container with its own namespace.
func Hosts(hostname string) string {
	return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
}

// ProxyEnv are the variables that point HTTP clients at the allow-list's proxy: curl, git,
// npm, pip, Node (NODE_USE_ENV_PROXY), Go. A client that ignores them still reaches nothing:
// the namespace has no route out.
func ProxyEnv() []string {
	u := "http://" + ProxyAddr
	var env []string
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "npm_config_proxy", "npm_config_https_proxy"} {
		env = append(env, k+"="+u)
	}
	return append(env, "NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1", "NODE_USE_ENV_PROXY=1")
}

// isolatedRules are the nftables rules of an isolated container's namespace: loopback (where
// the DNS relay is) passes; listed exceptions pass; the blocked ranges and the host's own
// addresses are rejected at once (TCP reset, ICMP admin-prohibited), so a connect fails fast;
// IPv6 (which slirp4netns is not given) is rejected the same way.
func isolatedRules(allow []Rule, own []netip.Addr) (string, error) {
	var accept []string
	for _, r := range allow {
		// A name is reachable in isolated mode as long as it resolves to a public address;
		// only addresses, CIDRs and pinned names open the ranges isolated rejects.
		addrs := []netip.Prefix{r.Prefix}
		if r.Host != "" {
			if !r.Pin.IsValid() {
				continue
			}
			addrs = []netip.Prefix{netip.PrefixFrom(r.Pin, r.Pin.BitLen())}
		}
		for _, a := range addrs {
			if !a.Addr().Is4() {
				continue
			}
			m := "ip daddr " + a.String()
			if r.Port != 0 {
				accept = append(accept, fmt.Sprintf("%s meta l4proto { tcp, udp } th dport %d accept", m, r.Port))
			} else {
				accept = append(accept, m+" accept")
			}
		}
	}
	var deny []string
	for _, p := range blocked {
		if p.Addr().Is4() {
			deny = append(deny, p.String())
		}
	}
	for _, a := range own {
		if a.Is4() && !Blocked(a, nil) {
			deny = append(deny, a.String())
		}
	}
	deny = dedupe(deny)
	var b strings.Builder
	b.WriteString("table inet aishell {\n  chain output {\n    type filter hook output priority filter; policy accept;\n")
	b.WriteString("    oifname \"lo\" accept\n")
	for _, a := range accept {
		b.WriteString("    " + a + "\n")
	}
	set := "{ " + strings.Join(deny, ", ") + " }"
	fmt.Fprintf(&b, "    ip daddr %s meta l4proto tcp reject with tcp reset\n", set)
	fmt.Fprintf(&b, "    ip daddr %s reject with icmpx type admin-prohibited\n", set)
	b.WriteString("    meta nfproto ipv6 meta l4proto tcp reject with tcp reset\n")
	b.WriteString("    meta nfproto ipv6 reject with icmpx type admin-prohibited\n")
	b.WriteString("  }\n}\n")
	return b.String(), nil
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// applyRules loads ruleset into the network namespace at nsPath, and nowhere else.
func applyRules(ctx context.Context, nsPath, ruleset string) error {
	// nft is started from a thread inside the namespace, which it inherits: no nsenter to run
	// first.
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := inNetns(nsPath, cmd.Start)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return errs.WithHint(fmt.Errorf("network isolated: nft rules in the container's namespace: %v: %s", err, lastLine(out.String())),
			"check that the kernel has nf_tables (modprobe nf_tables) and nft works: nft list ruleset")
	}
	return nil
}

// startSlirp starts slirp4netns on the namespace at nsPath with the host's loopback disabled, and
// waits until it has configured tap0. It exits when the pipe whose read end it holds as its exit
// fd closes: when stop runs, or when aishell dies (SIGKILL included). It inherits aishell's user
// namespace (rootlesskit's, in rootless mode), which owns the container's network namespace.
func startSlirp(nsPath string) (stop func() error, err error) {
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		exitR.Close()
		exitW.Close()
		return nil, err
	}
	defer readyR.Close()
	var stderr tail // what slirp4netns says for the whole run: only the end is kept
	cmd := exec.Command("slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", "--netns-type=path", nsPath, "tap0")
	cmd.ExtraFiles = []*os.File{exitR, readyW}
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true} // not in the terminal's group: Ctrl-C is aishell's to forward
	err = cmd.Start()
	exitR.Close()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return nil, errs.WithHint(fmt.Errorf("network isolated: start slirp4netns: %w", err), InstallHint)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() error {
		// Once the run has ended slirp4netns has nothing left to do. It is killed and not
		// waited for: its exit removes tap0, and the kernel takes 10-14 ms to unregister a
		// network device, which is no reason for aishell to return later (the goroutine above
		// reaps it, or, once aishell has exited, init does).
		exitW.Close()
		cmd.Process.Kill()
		return nil
	}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		ready <- err
	}()
	select {
	case err = <-ready:
	case err = <-done:
		err = fmt.Errorf("exited: %v", err)
	case <-time.After(ReadyTimeout):
		err = fmt.Errorf("not ready after %s", ReadyTimeout)
	}
	if err != nil {
		stop()
		return nil, errs.WithHint(fmt.Errorf("network isolated: slirp4netns: %v: %s", err, lastLine(stderr.String())),
			"check /dev/net/tun exists and is usable (rootless: mode 0666), or choose another mode: --network allow-list|none|host")
	}
	return stop, nil
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append([]byte(nil), t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lastLine is the last line of a command's output, for a one-line error.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// listenIn opens a TCP listener in the network namespace at nsPath (see inNetns). Connections
// accepted on it come from the container; what aishell dials goes out from its own namespace.
func listenIn(nsPath string, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(nsPath, func() (err error) { l, err = net.Listen("tcp", addr); return err })
	return l, err
}

// listenPacketIn opens a UDP socket in the network namespace at nsPath.
func listenPacketIn(nsPath string, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := inNetns(nsPath, func() (err error) { c, err = net.ListenPacket("udp", addr); return err })
	return c, err
}
