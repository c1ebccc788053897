package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for in, want := range map[string]string{
		"GitHub.com":                "github.com",
		"*.npmjs.org:443":           "*.npmjs.org:443",
		"10.0.0.5":                  "10.0.0.5",
		"10.0.0.0/8":                "10.0.0.0/8",
		"10.0.0.5:5432":             "10.0.0.5:5432",
		"[::1]:80":                  "[::1]:80",
		"db.internal:5432=10.1.2.3": "db.internal:5432=10.1.2.3",
	} {
		r, err := ParseRule(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRule(%q) = %q, %v; want %q", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "a:b", "*.", "foo*.com", "x:70000", "1.2.3.4=5.6.7.8", "h=notip", "a b"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}

func TestMatch(t *testing.T) {
	var p Policy
	for _, s := range []string{"github.com", "*.npmjs.org:443", "10.0.0.0/8:22"} {
		r, _ := ParseRule(s)
		p.Allow = append(p.Allow, r)
	}
	for _, c := range []struct {
		host string
		port int
		ok   bool
	}{
		{"github.com", 443, true}, {"GITHUB.COM.", 22, true}, {"api.github.com", 443, false},
		{"registry.npmjs.org", 443, true}, {"registry.npmjs.org", 80, false}, {"npmjs.org", 443, false},
		{"evilnpmjs.org", 443, false}, {"10.1.2.3", 22, true}, {"10.1.2.3", 80, false}, {"11.0.0.1", 22, false},
	} {
		if _, ok := p.Match(c.host, c.port); ok != c.ok {
			t.Errorf("Match(%s, %d) = %v", c.host, c.port, ok)
		}
	}
}

func TestBlocked(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("203.0.113.7")}
	for s, want := range map[string]bool{
		"169.254.169.254": true, "127.0.0.1": true, "10.1.1.1": true, "172.20.0.1": true, "192.168.1.1": true,
		"100.64.0.1": true, "203.0.113.7": true, "::1": true, "fe80::1": true, "fd00::1": true, "::ffff:127.0.0.1": true,
		"1.1.1.1": false, "2606:4700::1111": false, "203.0.113.8": false,
	} {
		if got := Blocked(netip.MustParseAddr(s), own); got != want {
			t.Errorf("Blocked(%s) = %v", s, got)
		}
	}
}

func TestIsolatedRules(t *testing.T) {
	r1, _ := ParseRule("10.0.0.5:5432")
	r2, _ := ParseRule("192.168.1.0/24")
	r3, _ := ParseRule("*.example.com")
	r4, _ := ParseRule("db.internal=10.7.7.7")
	rules, err := isolatedRules([]Rule{r1, r2, r3, r4}, []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("10.9.9.9")})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"oifname \"lo\" accept", "ip daddr 10.0.0.5/32 meta l4proto { tcp, udp } th dport 5432 accept", "ip daddr 192.168.1.0/24 accept",
		"169.254.0.0/16", "203.0.113.7", "reject with tcp reset", "meta nfproto ipv6"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}
	if strings.Contains(rules, "10.9.9.9") {
		t.Errorf("an own address inside a blocked range is listed twice (nft refuses overlapping intervals):\n%s", rules)
	}
	if strings.Index(rules, "5432 accept") > strings.Index(rules, "reject") {
		t.Error("exceptions come after the rejects")
	}
	if !strings.Contains(rules, "ip daddr 10.7.7.7/32 accept") || strings.Contains(rules, "example") {
		t.Errorf("a pinned name opens its address, a plain name nothing:\n%s", rules)
	}
}

func TestParseMode(t *testing.T) {
	if m, err := ParseMode(""); err != nil || m != Isolated {
		t.Errorf("default %q %v", m, err)
	}
	if m, _ := ParseMode("allow-list"); m != AllowList || m.Rank() >= Isolated.Rank() || Host.Rank() <= Isolated.Rank() {
		t.Error("ranks")
	}
	if _, err := ParseMode("bridge"); err == nil {
		t.Error("bridge accepted")
	}
}

// Names match names only: never an address literal, never a non-ASCII spelling that folds to
// one; rules that are addresses in disguise are refused; the clouds' platform and NAT64
// addresses are blocked.
func TestPolicyEdges(t *testing.T) {
	kernel, err := ParseRule("kernel.org")
	if err != nil {
		t.Fatal(err)
	}
	if kernel.MatchName("\u212aernel.org", 443) || !kernel.MatchName("KERNEL.org.", 443) {
		t.Error("kernel.org: wrong on a Unicode or an upper-case, dotted spelling")
	}
	wild, _ := ParseRule("*.example.com")
	if wild.MatchName("1.example.com", 80) != true || wild.MatchName("evilexample.com", 80) {
		t.Error("*.example.com matched wrongly")
	}
	for _, bad := range []string{"*.1", "127.1", "2130706433", "10.0.0.1.2"} {
		if r, err := ParseRule(bad); err == nil && r.Host != "" {
			t.Errorf("%q accepted as a name", bad)
		}
	}
	for _, a := range []string{"168.63.129.16", "192.0.0.192", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "fec0::1", "::7f00:1"} {
		if !Blocked(netip.MustParseAddr(a), nil) {
			t.Errorf("%s not blocked", a)
		}
	}
	if Blocked(netip.MustParseAddr("198.51.100.7"), nil) || Blocked(netip.MustParseAddr("1.1.1.1"), nil) {
		t.Error("a public (or documentation) address blocked")
	}
}
