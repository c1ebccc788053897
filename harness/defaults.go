package harness

import (
	"encoding/json"
	"fmt"

	"github.com/aishell/aishell/config"
)

// Defaults is what the harness_defaults switches that are on give one harness in a run.
type Defaults struct {
	Env  []string // KEY=value
	Args []string // before harness_args and the user's own arguments
	// Settings is the content of the harness's SystemDefaults file (nil when none).
	Settings []byte
}

// DefaultsFor is what the switches in d give h: the update and telemetry switches' variables
// and arguments, skip-permissions arguments, and the settings file they add up to.
func (h Harness) DefaultsFor(d config.HarnessDefaults) (Defaults, error) {
	var out Defaults
	settings := map[string]any{}
	add := func(s Switch) {
		out.Env = append(out.Env, s.Env...)
		out.Args = append(out.Args, s.Args...)
		mergeSettings(settings, s.Settings)
	}
	if config.On(d.NoUpdates) {
		add(h.NoUpdates)
	}
	if config.On(d.NoTelemetry) {
		add(h.NoTelemetry)
	}
	if config.On(d.SkipPermissions) {
		out.Args = append(out.Args, h.SkipPermissions...)
	}
	if h.SystemDefaults != nil && len(settings) > 0 {
		b, err := json.MarshalIndent(settings, "", "  ")
		if err != nil {
			return out, fmt.Errorf("%s system defaults: %w", h.Name, err)
		}
		out.Settings = append(b, '\n')
	}
	return out, nil
}

// mergeSettings puts src into dst, objects merged key by key.
func mergeSettings(dst, src map[string]any) {
	for k, v := range src {
		sub, isMap := v.(map[string]any)
		if have, ok := dst[k].(map[string]any); ok && isMap {
			mergeSettings(have, sub)
			continue
		}
		if isMap {
			cp := map[string]any{}
			mergeSettings(cp, sub)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}
