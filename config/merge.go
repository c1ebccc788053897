package config

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ProjectFile is where a project keeps its config, under its root.
const ProjectFile = ".aishell/config.yaml"

// projectKeys are the keys a project's file may set: the run settings. Every other key is the
// user's only (harness versions, images, approvals, limits, the sensitive-file policy, trust):
// a cloned repository cannot change what aishell builds, what it approves or what it protects.
var projectKeys = map[string]bool{
	"extends": true, "mounts": true, "env": true, "pre_start": true, "harness_args": true,
	"harness_defaults": true, "claude_isolation": true, "network": true,
}

// Settings are the user's config with a project's merged over it, and where each value came from.
type Settings struct {
	File
	// Sources name the file each value came from, by path: "mounts[1]", "env.FOO",
	// "harness_args.claude[0]", "harness_defaults.prompt", "pre_start", or a top-level key.
	Sources map[string]string
	// Project is the project's own file as it was read (its user-only keys dropped), and
	// ProjectPath where it lives; "" when the project has none.
	Project     File
	ProjectPath string
	// Trust is how the user's config trusts the project's file ("path", "content" or "", see
	// File.Trusts), and Widened what of it would widen the sandbox (see Widenings): both set by
	// project.Settings, which refuses the file when Widened is not empty and Trust is "".
	Trust   string
	Widened Widened
}

// Merge puts the project's file (read from projPath; "" for none) over the user's as the
// ancestor did: mounts concatenate, env maps merge with the project's value winning,
// harness_args concatenate per harness, pre_start takes the project's value. With `extends:
// none` the user's mounts, env, pre_start and harness_args are left out. harness_defaults and
// claude_isolation guard the user: a project may only make them stricter. Keys the project may
// not set are dropped with a note in the result's Notes.
func Merge(user File, userPath string, proj File, projPath string) Settings {
	s := Settings{File: user, Sources: map[string]string{}, ProjectPath: projPath}
	s.Notes = append([]string(nil), user.Notes...)
	s.Mounts, s.Env, s.PreStart, s.HarnessArgs = nil, nil, nil, nil
	for _, k := range setKeys(user) {
		s.Sources[k] = userPath
	}
	if projPath == "" {
		s.addRun(user, userPath)
		return s
	}
	s.Notes = append(s.Notes, proj.Notes...)
	for _, k := range setKeys(proj) {
		if !projectKeys[k] {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %s is ignored: only your own config (%s) may set it", projPath, k, userPath))
		}
	}
	proj = runSettings(proj)
	s.Project = proj
	if proj.Extends != "none" {
		s.addRun(user, userPath)
	}
	s.Extends = proj.Extends
	if proj.Extends != "" {
		s.Sources["extends"] = projPath
	}
	s.addRun(proj, projPath)
	s.stricter(proj, projPath)
	if !proj.Network.IsZero() { // what of it reaches more than the user's is a widening (Widenings)
		s.Network = mergeNetwork(user.Network, proj.Network)
		s.Sources["network"] = projPath
	}
	return s
}

// runSettings is f with only the keys a project may set.
func runSettings(f File) File {
	return File{Extends: f.Extends, Mounts: f.Mounts, Env: f.Env, PreStart: f.PreStart, HarnessArgs: f.HarnessArgs,
		HarnessDefaults: f.HarnessDefaults, ClaudeIsolation: f.ClaudeIsolation, Network: f.Network}
}

// addRun adds f's mounts, env, pre_start and harness_args, from path.
func (s *Settings) addRun(f File, path string) {
	for _, m := range f.Mounts {
		s.Sources[fmt.Sprintf("mounts[%d]", len(s.Mounts))] = path
		s.Mounts = append(s.Mounts, m)
	}
	for _, v := range f.Env {
		s.Env = s.Env.set(v)
		s.Sources["env."+v.Key] = path
	}
	if len(f.PreStart) > 0 {
		s.PreStart = f.PreStart
		s.Sources["pre_start"] = path
	}
	for _, name := range slices.Sorted(maps.Keys(f.HarnessArgs)) {
		if s.HarnessArgs == nil {
			s.HarnessArgs = map[string]Args{}
		}
		for _, a := range f.HarnessArgs[name] {
			s.Sources[fmt.Sprintf("harness_args.%s[%d]", name, len(s.HarnessArgs[name]))] = path
			s.HarnessArgs[name] = append(s.HarnessArgs[name], a)
		}
	}
}

// stricter applies the project's harness_defaults and claude_isolation where they make the
// run stricter, and notes where they would loosen it.
func (s *Settings) stricter(proj File, path string) {
	d := proj.HarnessDefaults
	loosen := func(key string) {
		s.Notes = append(s.Notes, fmt.Sprintf("%s: harness_defaults.%s: false is ignored: a project may not turn it off (your own config may)", path, key))
	}
	take := func(dst **bool, v *bool, key string) {
		if v != nil {
			*dst = v
			s.Sources["harness_defaults."+key] = path
		}
	}
	if d.SkipPermissions != nil && !*d.SkipPermissions {
		take(&s.HarnessDefaults.SkipPermissions, d.SkipPermissions, "skip_permissions")
	}
	for _, k := range []struct {
		key string
		dst **bool
		v   *bool
	}{{"no_updates", &s.HarnessDefaults.NoUpdates, d.NoUpdates}, {"no_telemetry", &s.HarnessDefaults.NoTelemetry, d.NoTelemetry}} {
		if k.v != nil && !*k.v {
			loosen(k.key)
		}
	}
	take(&s.HarnessDefaults.CreateConfig, d.CreateConfig, "create_config")
	take(&s.HarnessDefaults.Prompt, d.Prompt, "prompt")
	switch proj.ClaudeIsolation {
	case "project":
		s.ClaudeIsolation = "project"
		s.Sources["claude_isolation"] = path
	case "shared":
		if s.ClaudeIsolation == "project" {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: claude_isolation: shared is ignored: your own config keeps Claude's config per project", path))
		}
	}
}

// set is e with v: replacing the entry of the same key in place, or added at the end.
func (e Env) set(v EnvVar) Env {
	for i := range e {
		if e[i].Key == v.Key {
			out := append(Env(nil), e...)
			out[i] = v
			return out
		}
	}
	return append(e, v)
}

// setKeys are the YAML keys f sets (fields that are not zero), in the struct's order.
func setKeys(f File) []string {
	var keys []string
	v, t := reflect.ValueOf(f), reflect.TypeOf(f)
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && !v.Field(i).IsZero() {
			keys = append(keys, name)
		}
	}
	return keys
}

// YAML is the merged config as YAML, each value followed by a comment naming the file it came
// from.
func (s Settings) YAML() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(s.File); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		s.annotate(n.Content[i], n.Content[i+1], n.Content[i].Value, "")
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b.Bytes(), enc.Close()
}

// annotate puts the source of path (or, when none is recorded for it, the one of the key it is
// in) on the value when it is a scalar, else on its key when no entry of it has its own, else on
// each entry.
func (s Settings) annotate(key, val *yaml.Node, path, inherited string) {
	src, ok := s.Sources[path]
	if !ok {
		src = inherited
	}
	switch {
	case val.Kind == yaml.ScalarNode:
		if src != "" {
			val.LineComment = "from " + src
		}
	case !s.hasFiner(path):
		if src != "" {
			key.LineComment = "from " + src
		}
	case val.Kind == yaml.SequenceNode:
		for i, item := range val.Content {
			s.annotate(item, item, fmt.Sprintf("%s[%d]", path, i), src)
		}
	case val.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(val.Content); i += 2 {
			s.annotate(val.Content[i], val.Content[i+1], path+"."+val.Content[i].Value, src)
		}
	}
}

func (s Settings) hasFiner(path string) bool {
	for k := range s.Sources {
		if strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[") {
			return true
		}
	}
	return false
}
