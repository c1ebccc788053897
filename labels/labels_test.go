package labels

import "testing"

func TestKeptBy(t *testing.T) {
	a := KeptBy("0123456789ab", "/root/.config/aishell/config.yaml")
	if view, ok := KeptByView(a); !ok || view != "0123456789ab" || !IsKeptBy(a) {
		t.Errorf("%s: view %q %v", a, view, ok)
	}
	if KeptBy("0123456789ab", "/home/b/.config/aishell/config.yaml") == a || KeptBy("ba9876543210", "/root/.config/aishell/config.yaml") == a {
		t.Error("two people, or two views of one path, share a mark")
	}
	if view, ok := KeptByView(KeptBy("", "/x")); !ok || view != "" {
		t.Errorf("a mark without a view: %q %v", view, ok)
	}
	if _, ok := KeptByView(Tier); ok || IsKeptBy(Harness) {
		t.Error("another label taken for a mark")
	}
}
