package run

import (
	"testing"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/network"
)

// The flag's mode wins over the config's; `harness` is the running harness's API hosts (and
// those of --keys), `npm` the registry's host; an empty allow-list means `harness`.
func TestNetworkPolicy(t *testing.T) {
	req := Request{Harness: "claude", Config: config.File{Network: config.Network{Mode: "isolated"}}}
	p, err := networkPolicy(req)
	if err != nil || p.Mode != network.Isolated || len(p.Allow) != 0 {
		t.Fatalf("isolated: %+v %v", p, err)
	}
	req.Network = "allow-list"
	p, err = networkPolicy(req)
	if _, ok := p.Match("api.anthropic.com", 443); err != nil || p.Mode != network.AllowList || !ok {
		t.Fatalf("an empty allow-list for claude: %+v %v", p, err)
	}
	if _, ok := p.Match("api.openai.com", 443); ok {
		t.Error("claude's allow-list lets codex's API through")
	}
	req.Keys = []string{"codex"}
	req.Config.Network.Allow = []string{"harness", "npm", "github.com:443"}
	req.Config.NPMRegistry = "https://npm.corp.example:8443/repo/"
	p, err = networkPolicy(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host string
		port int
		ok   bool
	}{{"api.openai.com", 443, true}, {"npm.corp.example:8443", 8443, false}, {"npm.corp.example", 8443, true}, {"github.com", 443, true}, {"github.com", 22, false}} {
		if _, ok := p.Match(c.host, c.port); ok != c.ok {
			t.Errorf("Match(%s, %d) = %v", c.host, c.port, ok)
		}
	}
	req.Network = "bridge"
	if _, err := networkPolicy(req); err == nil {
		t.Error("--network bridge accepted")
	}
	if _, err := networkPolicy(Request{Config: config.File{Network: config.Network{Mode: "allow-list", Allow: []string{"a b"}}}}); err == nil {
		t.Error("a bad allow entry accepted")
	}
}
