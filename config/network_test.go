package config

import (
	"strings"
	"testing"
)

func TestNetworkForms(t *testing.T) {
	f, err := Parse("c.yaml", []byte("network: none\n"))
	if err != nil || f.Network.Mode != "none" {
		t.Fatalf("scalar form: %+v %v", f.Network, err)
	}
	f, err = Parse("c.yaml", []byte("network:\n  mode: allow-list\n  allow: [harness, github.com]\n"))
	if err != nil || f.Network.EffectiveMode() != "allow-list" || len(f.Network.Allow) != 2 {
		t.Fatalf("map form: %+v %v", f.Network, err)
	}
	if _, err := Parse("c.yaml", []byte("network: bridge\n")); err == nil || !strings.Contains(err.Error(), "bridge") {
		t.Errorf("an unknown mode: %v", err)
	}
	if (Network{}).EffectiveMode() != "isolated" {
		t.Error("the default is not isolated")
	}
}

// A project's network may make the run stricter; what reaches more than the user's is a widening.
func TestNetworkOfAProject(t *testing.T) {
	user := File{Network: Network{Mode: "allow-list", Allow: []string{"github.com", "harness"}}}
	for _, c := range []struct {
		proj  Network
		widen bool
	}{
		{Network{Mode: "none"}, false},
		{Network{Allow: []string{"github.com"}}, false},
		{Network{Mode: "isolated"}, true},
		{Network{Mode: "host"}, true},
		{Network{Allow: []string{"evil.example"}}, true},
	} {
		s := Merge(user, "u.yaml", File{Network: c.proj}, "p.yaml")
		if s.Network.EffectiveMode() != mergeNetwork(user.Network, c.proj).EffectiveMode() || s.Sources["network"] != "p.yaml" {
			t.Errorf("%+v: merged %+v", c.proj, s.Network)
		}
		ws := Widenings(user.Network, s.Project, "/p", "/h", nil)
		if (len(ws) > 0) != c.widen {
			t.Errorf("%+v: widenings %v, want widening %v", c.proj, ws, c.widen)
		}
	}
	// Under isolated (the default), a project's allow-list of names is stricter; addresses are not.
	if ws := Widenings(Network{}, File{Network: Network{Mode: "allow-list", Allow: []string{"*.npmjs.org:443"}}}, "/p", "/h", nil); len(ws) > 0 {
		t.Errorf("a narrower allow-list judged wider: %v", ws)
	}
	if ws := Widenings(Network{}, File{Network: Network{Mode: "allow-list", Allow: []string{"db=10.0.0.5"}}}, "/p", "/h", nil); len(ws) == 0 {
		t.Error("a pin to a private address passed as stricter")
	}
}

// A project's allow entries are judged whatever the mode it sets (a --network given for the
// run may make them count), and an address is never taken for a name.
func TestNetworkWideningsAllowEntries(t *testing.T) {
	for _, c := range []struct {
		user, proj Network
		widen      bool
	}{
		{Network{}, Network{Mode: "none", Allow: []string{"0.0.0.0/0"}}, true},
		{Network{Mode: "host"}, Network{Allow: []string{"10.0.0.0/8"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"fd12:3456::10"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"fe80::1"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"127.1"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"2130706433"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"*.1"}}, true},
		{Network{}, Network{Mode: "allow-list", Allow: []string{"github.com", "*.npmjs.org:443", "x-y.example."}}, false},
		{Network{Mode: "allow-list", Allow: []string{"github.com"}}, Network{Mode: "none", Allow: []string{"evil.example"}}, true},
	} {
		if ws := networkWidenings(c.user, c.proj); (len(ws) > 0) != c.widen {
			t.Errorf("user %+v, project %+v: widenings %v, want widening %v", c.user, c.proj, ws, c.widen)
		}
	}
}
