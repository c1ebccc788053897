package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	ctroci "github.com/containerd/containerd/v2/pkg/oci"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/oci"
)

// The run's own directory, written per run and mounted read-only: wrappers of the harnesses
// (first on PATH), the harnesses' system defaults files, the shell profile.
const (
	aishellDir     = "/opt/aishell"
	aishellBin     = aishellDir + "/bin"
	aishellEtc     = aishellDir + "/etc"
	profileScript  = "/etc/profile.d/aishell.sh"
	profileInDir   = "etc/profile.sh"
	claudeStateDir = ".local/state/aishell/claude-projects" // under the person's home
)

// Defaults is what the harness defaults and harness_args add to a run.
type Defaults struct {
	// Files are written into the run's directory (mounted read-only at /opt/aishell) before
	// the container starts: path under it -> content. Names ending in no extension under bin/
	// are made executable.
	Files map[string]string
	// Profile mounts etc/profile.sh of the run's directory at /etc/profile.d/aishell.sh.
	Profile bool
	// ReadOnly are host files mounted read-only at the same paths (a credentials file).
	ReadOnly []string
}

// applyDefaults adds to o what the user's harness_defaults and harness_args ask for the
// harnesses hs of this run: the update and telemetry switches of each (their variables, a
// system defaults file), wrappers in /opt/aishell/bin that start each harness with its default
// and configured arguments before the user's (so `aishell claude ARGS` and `claude ARGS` typed
// in the shell are the same), the config directories made on the host when missing, the
// running harness's credentials file, the prompt, and Claude's per-project config. It returns
// the catalog entries the protected config is planned from (Claude's moved under isolation).
func applyDefaults(o *Options, req Request, hs []Harness) ([]harness.Harness, error) {
	d := req.Config.HarnessDefaults
	o.Defaults = Defaults{Files: map[string]string{}}
	entries := catalogEntries(hs)
	for i, h := range entries {
		if h.Name == "claude" && req.Config.ClaudeIsolation == "project" {
			moved, env, err := isolateClaude(h, req.Person, req.Project)
			if err != nil {
				return nil, err
			}
			entries[i] = moved
			o.Env = append(o.Env, env)
		}
	}
	for _, h := range entries {
		if config.On(d.CreateConfig) {
			if err := createConfig(h, req.Person); err != nil {
				return nil, err
			}
		}
		hd, err := h.DefaultsFor(d)
		if err != nil {
			return nil, err
		}
		o.Env = append(o.Env, hd.Env...)
		if hd.Settings != nil {
			o.Defaults.Files["etc/"+h.SystemDefaults.Name] = string(hd.Settings)
			o.Env = append(o.Env, h.SystemDefaults.Env+"="+aishellEtc+"/"+h.SystemDefaults.Name)
		}
		args := append(hd.Args, req.Config.HarnessArgs[h.Name]...)
		var env []string
		if built := req.Config.Harnesses[h.Name].Packages; built != "" {
			env = h.PackagesEnv
		}
		packagesNotice(h, req)
		if len(args) > 0 || len(env) > 0 {
			o.Defaults.Files["bin/"+h.Bin] = wrapper(h, env, args)
		}
		if h.Name == req.Harness {
			o.Defaults.ReadOnly = append(o.Defaults.ReadOnly, credentialFiles(h, os.LookupEnv, req.Warn)...)
		}
	}
	for name := range req.Config.HarnessArgs {
		if _, err := harness.Lookup(name); err != nil {
			fmt.Fprintf(req.Warn, "aishell: harness_args: %v\n", err)
		}
	}
	if config.On(d.Prompt) {
		o.Defaults.Files[profileInDir] = profile
		o.Defaults.Profile = true
		o.Env = append(o.Env, "AISHELL_PROJECT="+promptName(filepath.Base(req.Project)),
			"PROMPT_COMMAND=. "+profileScript)
	}
	return entries, nil
}

// wrapper is a script that starts h's binary with env set and args before its own, each
// quoted for sh.
func wrapper(h harness.Harness, env, args []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# aishell: " + h.Name + " with the defaults and harness_args of the config, then the arguments given\n")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
	}
	b.WriteString("exec " + shellQuote(h.MountPoint()+"/bin/"+h.Bin))
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString(" \"$@\"\n")
	return b.String()
}

// packagesNotice says when the packages the config installs with h (pi_packages) are not the
// ones its snapshot was built with: the run uses the snapshot as built.
func packagesNotice(h harness.Harness, req Request) {
	want, err := h.PackagesOf(req.Config)
	if err != nil || h.Packages == nil {
		return
	}
	if built := strings.Fields(req.Config.Harnesses[h.Name].Packages); !slices.Equal(want, built) {
		fmt.Fprintf(req.Warn, "aishell: %s's packages in the config (%s) are not those its snapshot has (%s); run `aishell build` to install them\n",
			h.Name, listOrNone(want), listOrNone(built))
	}
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// shellQuote makes s one word for sh, taken literally.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// createConfig makes h's config paths that are missing on the host, owned by the person: a
// directory, or a file with its empty content. A path that exists in any form (even a
// dangling link) is left as it is.
func createConfig(h harness.Harness, p config.Person) error {
	for _, c := range h.Create {
		full := filepath.Join(p.Home, c.Path)
		if _, err := os.Lstat(full); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if c.Dir {
			if err := p.MkdirAll(full, 0o700); err != nil {
				return fmt.Errorf("create %s for %s: %w", full, h.Name, err)
			}
			continue
		}
		if err := p.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return fmt.Errorf("create %s for %s: %w", filepath.Dir(full), h.Name, err)
		}
		if err := writeNew(full, c.Empty, p); err != nil {
			return fmt.Errorf("create %s for %s: %w", full, h.Name, err)
		}
	}
	return nil
}

// writeNew creates path (which must not exist) with content, private, owned by the person.
func writeNew(path, content string, p config.Person) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return p.Own(path)
}

// credentialFiles are the files h's FileEnv variables name on the host, when they are regular
// files; another kind is said once and left out.
func credentialFiles(h harness.Harness, lookup func(string) (string, bool), warn io.Writer) []string {
	var out []string
	for _, k := range h.FileEnv {
		v, ok := lookup(k)
		if !ok || v == "" {
			continue
		}
		if !filepath.IsAbs(v) {
			fmt.Fprintf(warn, "aishell: %s=%s is not an absolute path; not mounted\n", k, v)
			continue
		}
		fi, err := os.Stat(v)
		if err != nil || !fi.Mode().IsRegular() {
			fmt.Fprintf(warn, "aishell: %s=%s is not a regular file; not mounted\n", k, v)
			continue
		}
		out = append(out, filepath.Clean(v))
	}
	return out
}

// isolateClaude gives the project a Claude config of its own: a directory under the person's
// state dir named by the project key, used through CLAUDE_CONFIG_DIR (Claude keeps its
// .claude.json there too), with the host's credentials copied in when it has none or older
// ones. The catalog entry returned describes that directory, so its protected paths are
// protected as ~/.claude's are.
func isolateClaude(h harness.Harness, p config.Person, proj string) (harness.Harness, string, error) {
	rel := filepath.Join(claudeStateDir, labels.ProjectKey(proj))
	dir := filepath.Join(p.Home, rel)
	if err := p.MkdirAll(dir, 0o700); err != nil {
		return h, "", fmt.Errorf("claude config of the project: %w", err)
	}
	// Its .claude.json is always there, so that it is a private copy merged back (protect), not
	// a file the container writes freely, whatever create_config says.
	if js := filepath.Join(dir, ".claude.json"); !exists(js) {
		if err := writeNew(js, "{}", p); err != nil {
			return h, "", fmt.Errorf("claude config of the project: %w", err)
		}
	}
	if err := carryCredentials(filepath.Join(p.Home, ".claude", ".credentials.json"), filepath.Join(dir, ".credentials.json"), p); err != nil {
		return h, "", fmt.Errorf("claude credentials for the project: %w", err)
	}
	move := func(path string) string {
		switch {
		case path == ".claude.json":
			return filepath.Join(rel, ".claude.json")
		case path == ".claude":
			return rel
		case strings.HasPrefix(path, ".claude/"):
			return filepath.Join(rel, strings.TrimPrefix(path, ".claude/"))
		}
		return path
	}
	moved := h
	moved.ConfigPaths = []string{rel}
	moved.Protected = make([]harness.Protected, len(h.Protected))
	for i, pr := range h.Protected {
		pr.Path = move(pr.Path)
		moved.Protected[i] = pr
	}
	moved.Merged = make([]harness.Merged, len(h.Merged))
	for i, m := range h.Merged {
		m.Path = move(m.Path)
		moved.Merged[i] = m
	}
	moved.Create = nil
	return moved, "CLAUDE_CONFIG_DIR=" + dir, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// carryCredentials copies the host's credentials file into the project's config when the
// project has none or an older one (a login done inside an isolated project stays its own
// until the host's is renewed).
func carryCredentials(src, dst string, p config.Person) error {
	si, err := os.Stat(src)
	if err != nil || !si.Mode().IsRegular() {
		return nil // nothing to carry
	}
	if di, err := os.Lstat(dst); err == nil && (!di.Mode().IsRegular() || !di.ModTime().Before(si.ModTime())) {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".aishell-new"
	os.Remove(tmp)
	if err := writeNew(tmp, string(b), p); err != nil {
		return err
	}
	os.Chtimes(tmp, si.ModTime(), si.ModTime())
	return os.Rename(tmp, dst)
}

// profile is the shell profile of a run (login shells read /etc/profile.d; PROMPT_COMMAND
// brings it to other interactive bash shells): the prompt and the terminal title name aishell
// and the project. The project's name is only ever expanded from AISHELL_PROJECT, never part
// of the script: the prompt's expansion does not run what a variable holds.
const profile = `# aishell: the prompt and the terminal title say that this shell is in aishell's sandbox of a project
if [ -n "${BASH_VERSION-}" ] && [ -z "${_aishell_prompt-}" ]; then
  _aishell_prompt=1
  PS1='\[\e]0;aishell: ${AISHELL_PROJECT}\a\]\[\e[1;36m\][aishell:${AISHELL_PROJECT}]\[\e[0m\] \u:\w\$ '
fi
`

// promptName is the project's name as the prompt shows it: letters, digits and ._+@- kept,
// anything else (controls, escapes, shell syntax) an underscore.
func promptName(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._+@-", r) {
			return r
		}
		return '_'
	}, name)
}

// writeDefaults writes the run's directory (when the defaults have files), pushing its removal.
func writeDefaults(o Options, id string, stack *cleanupStack) (string, error) {
	if len(o.Defaults.Files) == 0 {
		return "", nil
	}
	dir, err := os.MkdirTemp("", id+"-aishell-")
	if err != nil {
		return "", fmt.Errorf("run directory: %w", err)
	}
	stack.push("run directory", func(context.Context) error { return os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the container's user reads it, under sudo too
		return "", fmt.Errorf("run directory: %w", err)
	}
	for n, content := range o.Defaults.Files {
		full := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", fmt.Errorf("run directory: %w", err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(n, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			return "", fmt.Errorf("run directory: %w", err)
		}
		if err := os.Chmod(full, mode); err != nil { // past the umask
			return "", fmt.Errorf("run directory: %w", err)
		}
	}
	return dir, nil
}

// defaultsOpts mount the run's directory, the profile and the credentials files read-only.
func defaultsOpts(o Options, dir string) []ctroci.SpecOpts {
	var opts []ctroci.SpecOpts
	if dir != "" {
		opts = append(opts, oci.WithBindAt(dir, aishellDir, false))
		if o.Defaults.Profile {
			opts = append(opts, oci.WithBindAt(filepath.Join(dir, profileInDir), profileScript, false))
		}
	}
	for _, f := range o.Defaults.ReadOnly {
		opts = append(opts, oci.WithBind(f, false))
	}
	return opts
}

// defaultsPath is the PATH entry of the wrappers, when there are any: before the harnesses'.
func defaultsPath(o Options) []string {
	for n := range o.Defaults.Files {
		if strings.HasPrefix(n, "bin/") {
			return []string{aishellBin}
		}
	}
	return nil
}
