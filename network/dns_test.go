package network

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestUpstreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# x\nsearch lan\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0\n"), 0o644)
	if got := upstreams(p); !slices.Equal(got, []string{"127.0.0.53:53", "[fe80::1%eth0]:53"}) {
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
	c.Write([]byte("junk")) // dropped: not a query
	q := query(t, dnsmessage.TypeA, 0, false)
	c.Write(q)
	b := make([]byte, 512)
	n, err := c.Read(b)
	if err != nil || string(b[:n]) != "answer:"+string(q) {
		t.Errorf("relayed %q %v", b[:n], err)
	}
}

// query is a DNS message asking for example.com's records of type typ, with opcode op, as a
// response when resp.
func query(t *testing.T, typ dnsmessage.Type, op dnsmessage.OpCode, resp bool) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, OpCode: op, Response: resp, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("example.com."), Type: typ, Class: dnsmessage.ClassINET})
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Only plain queries pass: no responses, no UPDATE or NOTIFY, no zone transfers, no records
// but EDNS's OPT, no junk.
func TestValidQuery(t *testing.T) {
	if !validQuery(query(t, dnsmessage.TypeA, 0, false)) || !validQuery(query(t, dnsmessage.TypeAAAA, 0, false)) {
		t.Error("a plain query refused")
	}
	withOPT := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1})
	withOPT.StartQuestions()
	withOPT.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	withOPT.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false)
	withOPT.OPTResource(opt, dnsmessage.OPTResource{})
	if m, _ := withOPT.Finish(); !validQuery(m) {
		t.Error("a query with EDNS refused")
	}
	withAnswer := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1})
	withAnswer.StartQuestions()
	withAnswer.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	withAnswer.StartAnswers()
	withAnswer.AResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("example.com."), Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte{1, 2, 3, 4}})
	bad := map[string][]byte{
		"response": query(t, dnsmessage.TypeA, 0, true),
		"UPDATE":   query(t, dnsmessage.TypeSOA, 5, false),
		"NOTIFY":   query(t, dnsmessage.TypeSOA, 4, false),
		"AXFR":     query(t, dnsmessage.TypeAXFR, 0, false),
		"IXFR":     query(t, 251, 0, false),
		"junk":     []byte("junk that is no DNS message at all"),
	}
	bad["answer"], _ = withAnswer.Finish()
	for what, m := range bad {
		if validQuery(m) {
			t.Errorf("%s passed", what)
		}
	}
}
