package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aishell/aishell/errs"
)

// ancestorKeys are keys of the Docker aishell's config.yaml that mean nothing here, with what to
// do instead. A file that has one still loads; the person is told once per command.
var ancestorKeys = map[string]string{
	"docker_args":              "there is no Docker engine here: put what the image needs in .aishell/Dockerfile, and use mounts, env and limits for the run",
	"ports":                    "nothing is published from the sandbox: it has its own network namespace by default (network: isolated), and with network: host a server inside is reached at localhost:PORT; remove the key",
	"detection":                "aishell checks for sensitive files before each run; set its patterns and allow list in the sensitive: section of your own config",
	"gitleaks_freshness_check": "`aishell scan` has gitleaks' rules built in and keeps no scan to go stale; remove the key",
}

// ancestorFile is File with the ancestor's keys accepted, so they are not unknown.
type ancestorFile struct {
	File                   `yaml:",inline"`
	DockerArgs             any `yaml:"docker_args"`
	Ports                  any `yaml:"ports"`
	Detection              any `yaml:"detection"`
	GitleaksFreshnessCheck any `yaml:"gitleaks_freshness_check"`
}

// Parse reads the YAML of the config file at path. A key it does not know, or a value of the
// wrong shape, is a usage error naming the file, the line and the key; the ancestor's keys are
// accepted with a note saying what to do instead (File.Notes).
func Parse(path string, b []byte) (File, error) {
	var af ancestorFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&af); err != nil && !errors.Is(err, io.EOF) {
		return File{}, &errs.UsageError{Err: fmt.Errorf("config %s: %s", path, yamlMessage(err)), Hint: "fix or remove the key (README: Configuration)"}
	}
	f := af.File
	f.Notes = nil
	if err := f.validate(); err != nil {
		return File{}, &errs.UsageError{Err: fmt.Errorf("config %s: %w", path, err), Hint: "fix the value (README: Configuration)"}
	}
	given := map[string]any{"docker_args": af.DockerArgs, "ports": af.Ports, "detection": af.Detection, "gitleaks_freshness_check": af.GitleaksFreshnessCheck}
	for _, k := range slices.Sorted(maps.Keys(ancestorKeys)) {
		if given[k] != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("%s: %s means nothing to this aishell: %s", path, k, ancestorKeys[k]))
		}
	}
	return f, nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlMessage is a decode error as one line: "line 3: unknown key foo; line 7: ...".
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownField.ReplaceAllString(m, "unknown key $1")
	}
	return strings.Join(msgs, "; ")
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks the values Parse cannot: the mounts' form, env names, the choices.
func (f File) validate() error {
	for _, spec := range f.Mounts {
		if _, err := ParseMount(spec, "/home", "/project", func(string) (string, bool) { return "", false }); err != nil {
			return err
		}
	}
	for _, v := range f.Env {
		if !envName.MatchString(v.Key) {
			return fmt.Errorf("env: %q is not a variable name", v.Key)
		}
	}
	switch f.ClaudeIsolation {
	case "", "shared", "project":
	default:
		return fmt.Errorf("claude_isolation: %q is neither shared nor project", f.ClaudeIsolation)
	}
	if err := f.Network.validate(); err != nil {
		return err
	}
	switch f.Extends {
	case "", "global", "none":
	default:
		return fmt.Errorf("extends: %q is neither global nor none", f.Extends)
	}
	return nil
}
