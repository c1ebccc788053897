package harness

import (
	"strings"
	"testing"

	"github.com/aishell/aishell/config"
)

func TestDefaultsFor(t *testing.T) {
	off := false
	gemini, _ := Lookup("gemini")
	d, err := gemini.DefaultsFor(config.HarnessDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false}}`
	if got := strings.Join(strings.Fields(string(d.Settings)), ""); got != want {
		t.Errorf("gemini settings %s", got)
	}
	d, _ = gemini.DefaultsFor(config.HarnessDefaults{NoTelemetry: &off})
	if strings.Contains(string(d.Settings), "telemetry") || len(d.Env) != 0 {
		t.Errorf("no_telemetry off, yet %s %v", d.Settings, d.Env)
	}
	claude, _ := Lookup("claude")
	d, _ = claude.DefaultsFor(config.HarnessDefaults{})
	if len(d.Args) != 1 || d.Args[0] != "--dangerously-skip-permissions" || d.Settings != nil {
		t.Errorf("claude defaults %+v", d)
	}
	d, _ = claude.DefaultsFor(config.HarnessDefaults{SkipPermissions: &off, NoUpdates: &off, NoTelemetry: &off})
	if len(d.Args)+len(d.Env) != 0 {
		t.Errorf("all off, yet %+v", d)
	}
	for _, h := range Catalog {
		if len(h.Create) == 0 {
			t.Errorf("%s makes no config on the host", h.Name)
		}
		if len(h.NoUpdates.Env)+len(h.NoUpdates.Args)+len(h.NoUpdates.Settings) == 0 {
			t.Errorf("%s has no update switch", h.Name)
		}
	}
}

func TestPackagesTag(t *testing.T) {
	pi, _ := Lookup("pi")
	pkgs, err := pi.PackagesOf(config.File{PiPackages: []string{"b", "@s/a@1.2.0", "b"}})
	if err != nil || strings.Join(pkgs, " ") != "@s/a@1.2.0 b" {
		t.Fatalf("packages %v, %v", pkgs, err)
	}
	if Tag("1.0.0", nil) != "1.0.0" || Tag("1.0.0", pkgs) == Tag("1.0.0", []string{"b"}) || !strings.HasPrefix(Tag("1.0.0", pkgs), "1.0.0-pkgs.") {
		t.Error("tags do not follow the package list")
	}
	for _, bad := range []string{"x; rm -rf /", "a b", "$(x)", "../x"} {
		if _, err := pi.PackagesOf(config.File{PiPackages: []string{bad}}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	claude, _ := Lookup("claude")
	if p, _ := claude.PackagesOf(config.File{PiPackages: []string{"x"}}); p != nil {
		t.Error("claude took pi's packages")
	}
}
