package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvVar is one entry of `env:`: Key set to Value, or, when Pass, to the host's value of Key.
type EnvVar struct {
	Key, Value string
	Pass       bool
}

// Env is the `env:` key: a map (KEY: value, or KEY: with no value to pass the host's) or a
// list (KEY=value, or a bare KEY), kept in the order written.
type Env []EnvVar

// UnmarshalYAML reads either form.
func (e *Env) UnmarshalYAML(n *yaml.Node) error {
	*e = nil
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				return fmt.Errorf("line %d: env: a variable name must be a plain word", k.Line)
			}
			switch {
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				*e = append(*e, EnvVar{Key: k.Value, Pass: true})
			case v.Kind == yaml.ScalarNode:
				*e = append(*e, EnvVar{Key: k.Value, Value: v.Value})
			default:
				return fmt.Errorf("line %d: env.%s: a value must be a string", v.Line, k.Value)
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Value == "" {
				return fmt.Errorf("line %d: env: each entry must be KEY=value or KEY", item.Line)
			}
			if k, v, ok := strings.Cut(item.Value, "="); ok {
				*e = append(*e, EnvVar{Key: k, Value: v})
			} else {
				*e = append(*e, EnvVar{Key: item.Value, Pass: true})
			}
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		fallthrough
	default:
		return fmt.Errorf("line %d: env: must be a map (KEY: value) or a list (KEY=value)", n.Line)
	}
	return nil
}

// MarshalYAML writes the map form.
func (e Env) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range e {
		val := &yaml.Node{Kind: yaml.ScalarNode, Value: v.Value}
		if v.Pass {
			val.Tag, val.Value = "!!null", ""
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: v.Key}, val)
	}
	return n, nil
}

// Command is `pre_start:`: a shell command line, or a list of them run one after the other
// (joined with &&, as the ancestor did).
type Command []string

// UnmarshalYAML reads a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	s, err := stringOrList(n, "pre_start")
	*c = s
	return err
}

// Script is the command as one shell command line ("" when none).
func (c Command) Script() string { return strings.Join(c, " && ") }

// Args are a harness's entry of `harness_args:`: a list of arguments, or one string taken as
// one argument.
type Args []string

// UnmarshalYAML reads a string or a list of strings.
func (a *Args) UnmarshalYAML(n *yaml.Node) error {
	s, err := stringOrList(n, "harness_args")
	*a = s
	return err
}

func stringOrList(n *yaml.Node, key string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: %s: each entry must be a string", item.Line, key)
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: %s: must be a string or a list of strings", n.Line, key)
}

// HarnessDefaults is `harness_defaults:`. Each default is on unless set to false.
//
//	harness_defaults:
//	  skip_permissions: false  # Claude Code asks before each tool again
//	  no_updates: false        # the harnesses' update checks run
//	  no_telemetry: false      # the harnesses report telemetry as they would outside
//	  create_config: false     # missing harness config dirs are not made on the host
//	  prompt: false            # the shell prompt and terminal title are left alone
type HarnessDefaults struct {
	SkipPermissions *bool `yaml:"skip_permissions,omitempty"`
	NoUpdates       *bool `yaml:"no_updates,omitempty"`
	NoTelemetry     *bool `yaml:"no_telemetry,omitempty"`
	CreateConfig    *bool `yaml:"create_config,omitempty"`
	Prompt          *bool `yaml:"prompt,omitempty"`
}

// On reports whether a default is on: unset means on.
func On(b *bool) bool { return b == nil || *b }

// Mount is one entry of `mounts:`, expanded: host path Source at Destination inside.
type Mount struct {
	Source, Destination string
	ReadWrite           bool
	HostVars            bool // the entry expanded a $VAR of the host
}

// ParseMount reads SRC[:DST][:ro|rw]: ~ is home, $VAR and ${VAR} come from lookup, a relative
// SRC is under base (the project root); DST defaults to SRC, the mode to rw.
func ParseMount(spec, home, base string, lookup func(string) (string, bool)) (Mount, error) {
	m := Mount{ReadWrite: true}
	parts := strings.Split(spec, ":")
	switch last := parts[len(parts)-1]; {
	case len(parts) > 1 && (last == "ro" || last == "rw"):
		m.ReadWrite = last == "rw"
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 2 || parts[0] == "" {
		return m, fmt.Errorf("mounts: %q is not SRC[:DST][:ro|rw]", spec)
	}
	expand := func(s string) string {
		if hasVars(s) {
			m.HostVars = true
			s = os.Expand(s, func(k string) string { v, _ := lookup(k); return v })
		}
		return ExpandHome(s, home)
	}
	m.Source = expand(parts[0])
	if !filepath.IsAbs(m.Source) {
		m.Source = filepath.Join(base, m.Source)
	}
	m.Source = filepath.Clean(m.Source)
	m.Destination = m.Source
	if len(parts) == 2 {
		if m.Destination = expand(parts[1]); !filepath.IsAbs(m.Destination) {
			return m, fmt.Errorf("mounts: %q: the destination must be an absolute path", spec)
		}
		m.Destination = filepath.Clean(m.Destination)
	}
	for _, sys := range []string{"/", "/proc", "/sys", "/dev"} {
		if m.Destination == sys || (sys != "/" && within(m.Destination, sys)) {
			return m, fmt.Errorf("mounts: %q: nothing may be mounted over %s", spec, sys)
		}
	}
	return m, nil
}

// ExpandHome replaces a leading ~ (alone or before /) with home.
func ExpandHome(path, home string) string {
	if path == "~" {
		return home
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		return filepath.Join(home, rest)
	}
	return path
}

var varRef = regexp.MustCompile(`\$(\{[A-Za-z_]|[A-Za-z_])`)

// hasVars reports whether s refers to a variable ($NAME or ${NAME}).
func hasVars(s string) bool { return varRef.MatchString(s) }

// Values are the entries as KEY=VALUE: a value with its $VAR expanded from lookup, a bare KEY
// with the host's value (left out when the host has none).
func (e Env) Values(lookup func(string) (string, bool)) []string {
	var out []string
	for _, v := range e {
		switch {
		case v.Pass:
			if val, ok := lookup(v.Key); ok {
				out = append(out, v.Key+"="+val)
			}
		default:
			out = append(out, v.Key+"="+os.Expand(v.Value, func(k string) string { s, _ := lookup(k); return s }))
		}
	}
	return out
}
