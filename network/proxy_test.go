package network

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The proxy, on a plain listener: CONNECT and plain HTTP to an allowed (pinned) name reach it;
// an unlisted name is refused at once with a message; a listed name that resolves to the host's
// loopback is refused unless pinned.
func TestProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "reached "+r.Host) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	pinned, _ := ParseRule("pinned.test:" + port + "=127.0.0.1")
	local, _ := ParseRule("localhost")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	px := &proxy{policy: Policy{Mode: AllowList, Allow: []Rule{pinned, local}}, own: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	go px.serve(l)

	ask := func(req string) (string, string) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		status, _ := br.ReadString('\n')
		if strings.HasPrefix(status, "HTTP/1.1 200 Connection established") {
			br.ReadString('\n')
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: pinned.test\r\nConnection: close\r\n\r\n")
		}
		rest, _ := io.ReadAll(br)
		return status, string(rest)
	}
	if _, body := ask("CONNECT pinned.test:" + port + " HTTP/1.1\r\nHost: pinned.test:" + port + "\r\n\r\n"); !strings.Contains(body, "reached pinned.test") {
		t.Errorf("CONNECT to a pinned name: %q", body)
	}
	if _, body := ask("GET http://pinned.test:" + port + "/x HTTP/1.1\r\nHost: pinned.test:" + port + "\r\n\r\n"); !strings.Contains(body, "reached pinned.test") {
		t.Errorf("plain HTTP to a pinned name: %q", body)
	}
	start := time.Now()
	status, body := ask("CONNECT unlisted.test:443 HTTP/1.1\r\nHost: unlisted.test:443\r\n\r\n")
	if !strings.Contains(status, "403") || !strings.Contains(body, "not in the allow-list") || time.Since(start) > time.Second {
		t.Errorf("an unlisted name: %q %q in %s", status, body, time.Since(start))
	}
	if status, body := ask("CONNECT localhost:" + port + " HTTP/1.1\r\nHost: localhost\r\n\r\n"); !strings.Contains(status, "403") || !strings.Contains(body, "resolves only to") {
		t.Errorf("a listed name resolving to loopback: %q %q", status, body)
	}
	if status, _ := ask("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.Contains(status, "400") {
		t.Errorf("a request that is no proxy request: %q", status)
	}
}
