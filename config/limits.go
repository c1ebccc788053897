package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits is the `limits:` section of the user's config: what one run may take of the host.
// Each value may be left out (the default below), or "none" (0) for no limit.
//
//	limits:
//	  pids: 4096        # processes and threads in the container
//	  memory: 8g        # bytes, with k, m, g or t; default half the host's memory
//	  home_size: 4g     # the tmpfs HOME inside; default 4g
//	  nofile: 1048576   # open files (soft and hard); Node's file watchers need many
type Limits struct {
	Pids     string `yaml:"pids,omitempty"`
	Memory   string `yaml:"memory,omitempty"`
	HomeSize string `yaml:"home_size,omitempty"`
	NoFile   string `yaml:"nofile,omitempty"`
}

// Defaults of the limits, where a default is not computed from the host.
const (
	DefaultPids     = 4096
	DefaultHomeSize = 4 << 30
	DefaultNoFile   = 1 << 20
)

// LimitValues are the limits as numbers; 0 means no limit.
type LimitValues struct {
	Pids, Memory, HomeSize int64
	NoFile                 uint64
}

// Values resolves the limits against the host's memory in bytes (0 when unknown: then memory
// has no default limit). A value that is not a number or a size is an error naming the key.
func (l Limits) Values(hostMemory int64) (LimitValues, error) {
	v := LimitValues{Pids: DefaultPids, Memory: hostMemory / 2, HomeSize: DefaultHomeSize, NoFile: DefaultNoFile}
	for _, f := range []struct {
		key, text string
		dst       *int64
		size      bool
	}{{"pids", l.Pids, &v.Pids, false}, {"memory", l.Memory, &v.Memory, true}, {"home_size", l.HomeSize, &v.HomeSize, true}} {
		if f.text == "" {
			continue
		}
		n, err := parseLimit(f.text, f.size)
		if err != nil {
			return v, fmt.Errorf("limits.%s: %w", f.key, err)
		}
		*f.dst = n
	}
	if l.NoFile != "" {
		n, err := parseLimit(l.NoFile, false)
		if err != nil {
			return v, fmt.Errorf("limits.nofile: %w", err)
		}
		v.NoFile = uint64(n)
	}
	return v, nil
}

// parseLimit reads "none", a count, or (when size) a byte size such as 512m or 8g.
func parseLimit(text string, size bool) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(text))
	if s == "none" || s == "0" {
		return 0, nil
	}
	mult := int64(1)
	if size {
		s = strings.TrimSuffix(s, "b")
		for i, suffix := range []string{"k", "m", "g", "t"} {
			if strings.HasSuffix(s, suffix) {
				s, mult = strings.TrimSuffix(s, suffix), int64(1)<<(10*(i+1))
				break
			}
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		want := "a number or none"
		if size {
			want = "a size such as 512m or 8g, or none"
		}
		return 0, fmt.Errorf("%q is not %s", text, want)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", text)
	}
	return n * mult, nil
}
