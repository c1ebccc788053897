package network

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestUpstreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# x\nsearch lan\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0\n"), 0o644)
	if got := upstreams(p); !slices.Equal(got, []string{"127.0.0.53:53", "[fe80::1]:53"}) {
		t.Errorf("upstreams %q", got)
	}
	if got := upstreams(filepath.Join(t.TempDir(), "none")); len(got) == 0 {
		t.Error("no fallback")
	}
}

// A query reaches the first upstream that answers, unchanged, and its answer comes back.
func TestRelayUDP(t *testing.T) {
	up, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		b := make([]byte, 512)
		for {
			n, from, err := up.ReadFrom(b)
			if err != nil {
				return
			}
			up.WriteTo(append([]byte("answer:"), b[:n]...), from)
		}
	}()
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0") // answers nothing
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go relayUDP(pc, []string{deadAddr, up.LocalAddr().String()})
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("q1"))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil || string(b[:n]) != "answer:q1" {
		t.Errorf("relayed %q %v", b[:n], err)
	}
}
