package snapshot

import "testing"

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 377_800_000: "377.8 MB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("%d -> %q, want %q", n, got, want)
		}
	}
}

func TestShortID(t *testing.T) {
	for in, want := range map[string]string{"": "-", "sha256:0123456789abcdef": "0123456789ab", "abc": "abc"} {
		if got := ShortID(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
