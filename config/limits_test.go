package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLimitValues(t *testing.T) {
	v, err := Limits{}.Values(16 << 30)
	if err != nil || v != (LimitValues{Pids: DefaultPids, Memory: 8 << 30, HomeSize: DefaultHomeSize, NoFile: DefaultNoFile}) {
		t.Errorf("defaults %+v, %v", v, err)
	}
	v, err = Limits{Pids: "none", Memory: "512m", HomeSize: "1G", NoFile: "65536"}.Values(16 << 30)
	if err != nil || v != (LimitValues{Pids: 0, Memory: 512 << 20, HomeSize: 1 << 30, NoFile: 65536}) {
		t.Errorf("set %+v, %v", v, err)
	}
	for _, l := range []Limits{{Pids: "lots"}, {Memory: "8 gigs"}, {HomeSize: "-1g"}, {NoFile: "1k"}} {
		if _, err := l.Values(0); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if _, err := (Limits{Memory: "8x"}).Values(0); err == nil || !strings.Contains(err.Error(), "limits.memory") || !strings.Contains(err.Error(), `"8x"`) {
		t.Errorf("error does not name the key and value: %v", err)
	}
}

func TestLimitsFromYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte("limits:\n  pids: 512\n  memory: 2g\n"), 0o644)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Limits.Values(0)
	if err != nil || v.Pids != 512 || v.Memory != 2<<30 {
		t.Errorf("%+v, %v", v, err)
	}
}
