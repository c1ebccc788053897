package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DialTimeout bounds the proxy's connect to an allowed destination.
const DialTimeout = 10 * time.Second

// proxy is the allow-list's HTTP proxy: CONNECT (any TCP, HTTPS in practice) and plain HTTP
// requests with an absolute URL, to the names and ports the policy allows. It resolves names
// itself, on the host's side, and refuses an address in a blocked range or of the host unless
// the rule names it (an address, CIDR or pin), so a listed name that resolves to the host's
// loopback or the LAN reaches neither.
type proxy struct {
	policy Policy
	own    []netip.Addr
	log    io.Writer
	mu     sync.Mutex
}

// serve answers connections until l is closed; a failed accept (out of descriptors for a
// moment) is retried, so the listener never stays open with nobody answering.
func (p *proxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go p.handle(c)
	}
}

// refusal is what the agent reads when a destination is not allowed.
func refusal(host string, port int, why string) string {
	return fmt.Sprintf("aishell: %s is not reachable from this sandbox: %s (network: allow-list; add it to network.allow in your aishell config, e.g. %q)",
		net.JoinHostPort(host, strconv.Itoa(port)), why, host)
}

func (p *proxy) handle(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	host, port, err := target(req)
	if err != nil {
		reply(c, http.StatusBadRequest, "aishell: "+err.Error()+" (this is aishell's allow-list proxy: use it as HTTP_PROXY/HTTPS_PROXY)")
		return
	}
	up, code, msg := p.dial(host, port)
	if up == nil {
		p.logf("%s\n", msg)
		reply(c, code, msg)
		return
	}
	defer up.Close()
	if req.Method == http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	} else {
		req.RequestURI = ""
		req.Header.Del("Proxy-Connection")
		req.Header.Del("Proxy-Authorization")
		req.Close = true
		req.Header.Set("Connection", "close")
		if err := req.Write(up); err != nil {
			return
		}
		// One request per connection, the one checked: nothing more the client sends (a
		// pipelined request for another host) reaches the upstream.
		io.Copy(c, up)
		return
	}
	splice(c, br, up)
}

// target is the host and port a proxy request is for.
func target(req *http.Request) (string, int, error) {
	hostport := req.Host
	def := 80
	if req.Method == http.MethodConnect {
		def = 0
	} else {
		if req.URL == nil || !req.URL.IsAbs() {
			return "", 0, fmt.Errorf("%s %s is not a proxy request", req.Method, req.RequestURI)
		}
		if req.URL.Scheme != "http" {
			return "", 0, fmt.Errorf("scheme %s is not proxied: use CONNECT", req.URL.Scheme)
		}
		hostport = req.URL.Host
	}
	h, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		if def == 0 {
			return "", 0, fmt.Errorf("CONNECT %s has no port", hostport)
		}
		return strings.Trim(hostport, "[]"), def, nil
	}
	n, err := strconv.Atoi(ps)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port in %s", hostport)
	}
	return h, n, nil
}

// dial connects to host:port if the policy allows it; else the status and message to refuse with.
func (p *proxy) dial(host string, port int) (net.Conn, int, string) {
	r, ok := p.policy.Match(host, port)
	if !ok {
		return nil, http.StatusForbidden, refusal(host, port, "it is not in the allow-list")
	}
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	var addrs []netip.Addr
	switch {
	case r.Pin.IsValid():
		addrs = []netip.Addr{r.Pin}
	case r.Host == "":
		a, _ := netip.ParseAddr(strings.Trim(host, "[]"))
		addrs = []netip.Addr{a.Unmap()}
	default:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, http.StatusBadGateway, fmt.Sprintf("aishell: %s is allowed but does not resolve: %v", host, err)
		}
		for _, a := range ips {
			if a = a.Unmap(); Blocked(a, p.own) {
				continue // a listed name must not lead to the host or the LAN
			}
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			return nil, http.StatusForbidden, refusal(host, port, "it resolves only to the host's, private or link-local addresses (pin it with "+host+"=IP to allow that)")
		}
	}
	var last error
	d := net.Dialer{}
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return c, 0, ""
		}
		last = err
	}
	return nil, http.StatusBadGateway, fmt.Sprintf("aishell: %s is allowed but could not be reached: %v", net.JoinHostPort(host, strconv.Itoa(port)), last)
}

func (p *proxy) logf(format string, args ...any) {
	if p.log == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.log, format, args...)
}

// reply answers with status code and msg as the body, and closes.
func reply(c net.Conn, code int, msg string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nX-Aishell-Network: %s\r\n\r\n%s\n",
		code, http.StatusText(code), len(msg)+1, strings.ReplaceAll(msg, "\n", " "), msg)
}

// splice copies both ways until either side is done.
func splice(c net.Conn, br *bufio.Reader, up net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, br) // what the client sent past the request is in br's buffer
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, up)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
}
