package network

import (
	"bufio"
	"net"
	"os"
	"strings"
	"time"
)

// DNSAddr is where an isolated container's resolver is: aishell's relay, inside its namespace.
const DNSAddr = "127.0.0.1:53"

// dnsTimeout bounds one query to one upstream server.
const dnsTimeout = 3 * time.Second

// The isolated mode's DNS is a relay of aishell's own, not slirp4netns's built-in forwarder:
// queries to 127.0.0.1:53 inside go, unchanged, to the resolvers of aishell's /etc/resolv.conf,
// from aishell's namespace. So a host whose resolver is on its loopback (systemd-resolved's
// 127.0.0.53) or on the LAN (a router) still answers, while the container reaches neither.

// upstreams are the nameservers of aishell's resolv.conf, as host:53; the loopback's when none.
func upstreams(path string) []string {
	var out []string
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "nameserver" {
				out = append(out, net.JoinHostPort(strings.SplitN(f[1], "%", 2)[0], "53"))
			}
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53", "[::1]:53"}
	}
	return out
}

// startDNS starts the relay in the namespace of pid; close stops it.
func startDNS(pid int) (close func() error, err error) {
	ups := upstreams("/etc/resolv.conf")
	pc, err := listenPacketIn(pid, DNSAddr)
	if err != nil {
		return nil, err
	}
	l, err := listenIn(pid, DNSAddr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	go relayUDP(pc, ups)
	go relayTCP(l, ups)
	return func() error { pc.Close(); return l.Close() }, nil
}

func relayUDP(pc net.PacketConn, ups []string) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			for _, up := range ups {
				c, err := net.DialTimeout("udp", up, dnsTimeout)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(dnsTimeout))
				resp := make([]byte, 65535)
				_, err = c.Write(q)
				if err == nil {
					var m int
					if m, err = c.Read(resp); err == nil {
						pc.WriteTo(resp[:m], from)
						c.Close()
						return
					}
				}
				c.Close()
			}
		}()
	}
}

func relayTCP(l net.Listener, ups []string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for _, up := range ups {
				u, err := net.DialTimeout("tcp", up, dnsTimeout)
				if err != nil {
					continue
				}
				defer u.Close()
				splice(c, bufio.NewReader(c), u)
				return
			}
		}()
	}
}
