package network

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
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
				out = append(out, net.JoinHostPort(f[1], "53")) // a link-local one keeps its %zone
			}
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53", "[::1]:53"}
	}
	return out
}

// startDNS starts the relay in the namespace at nsPath; close stops it.
func startDNS(nsPath string) (close func() error, err error) {
	ups := upstreams("/etc/resolv.conf")
	pc, err := listenPacketIn(nsPath, DNSAddr)
	if err != nil {
		return nil, err
	}
	l, err := listenIn(nsPath, DNSAddr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	go relayUDP(pc, ups)
	go relayTCP(l, ups)
	return func() error { pc.Close(); return l.Close() }, nil
}

// Bounds of the relay: queries and TCP connections in flight (more are dropped), and how long
// a TCP connection may take per message.
const (
	dnsInFlight = 64
	dnsTCPConns = 16
	dnsTCPIdle  = 10 * time.Second
)

// validQuery reports whether msg is one plain DNS query: not a response, opcode QUERY, one
// question that is not a zone transfer, no answer or authority records, and nothing in the
// additional section but EDNS's OPT. Anything else (UPDATE, NOTIFY, AXFR, junk aimed at a
// resolver's parser) never reaches the host's resolvers.
func validQuery(msg []byte) bool {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response || h.OpCode != 0 {
		return false
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type == dnsmessage.TypeAXFR || qs[0].Type == dnsmessage.TypeALL || qs[0].Type == 251 /* IXFR */ {
		return false
	}
	if err := p.SkipAllAnswers(); err != nil {
		return false
	}
	if err := p.SkipAllAuthorities(); err != nil {
		return false
	}
	for {
		rh, err := p.AdditionalHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil || rh.Type != dnsmessage.TypeOPT {
			return false
		}
		if err := p.SkipAdditional(); err != nil {
			return false
		}
	}
	// A query carries no answers or authorities: the header's counts said how many were skipped.
	return h.RCode == 0 && len(msg) <= 4096 && countsOK(msg)
}

// countsOK: no answer and no authority records (header bytes 6-9).
func countsOK(msg []byte) bool {
	return len(msg) >= 12 && msg[6] == 0 && msg[7] == 0 && msg[8] == 0 && msg[9] == 0
}

// exchange asks the upstreams one query over UDP, in turn, and returns the first answer (in buf).
func exchange(ups []string, q []byte, buf []byte) ([]byte, bool) {
	for _, up := range ups {
		c, err := net.DialTimeout("udp", up, dnsTimeout)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(dnsTimeout))
		_, err = c.Write(q)
		var n int
		if err == nil {
			n, err = c.Read(buf)
		}
		c.Close()
		if err == nil {
			return buf[:n], true
		}
	}
	return nil, false
}

func relayUDP(pc net.PacketConn, ups []string) {
	slots := make(chan struct{}, dnsInFlight)
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if !validQuery(buf[:n]) {
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			continue // too many in flight: dropped, as a loaded resolver would
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			defer func() { <-slots }()
			if resp, ok := exchange(ups, q, make([]byte, 65535)); ok {
				pc.WriteTo(resp, from)
			}
		}()
	}
}

// relayTCP answers DNS over TCP (two-byte length, then the message), one valid query at a
// time per connection, each asked of the upstreams over UDP.
func relayTCP(l net.Listener, ups []string) {
	slots := make(chan struct{}, dnsTCPConns)
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond) // e.g. out of descriptors for a moment
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-slots }()
			defer c.Close()
			r := bufio.NewReader(c)
			buf := make([]byte, 65535)
			for {
				c.SetDeadline(time.Now().Add(dnsTCPIdle))
				var size [2]byte
				if _, err := io.ReadFull(r, size[:]); err != nil {
					return
				}
				q := make([]byte, int(size[0])<<8|int(size[1]))
				if _, err := io.ReadFull(r, q); err != nil || !validQuery(q) {
					return
				}
				resp, ok := exchange(ups, q, buf)
				if !ok {
					return
				}
				if _, err := c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...)); err != nil {
					return
				}
			}
		}()
	}
}
