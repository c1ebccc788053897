package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/project"
)

// ConfigCmd groups the config commands.
type ConfigCmd struct {
	Show    ConfigShowCmd    `cmd:"" default:"1" help:"Print the config a run here uses: yours with the project's merged over it, each value with the file it came from (the default)."`
	Trust   ConfigTrustCmd   `cmd:"" help:"Show this project's .aishell/config.yaml and trust it to widen what the sandbox sees of the host (mounts outside the project, host variables, pre_start)."`
	Untrust ConfigUntrustCmd `cmd:"" help:"Stop trusting this project's .aishell/config.yaml (by path and by its current content)."`
}

// settings are the run settings of the project at root (see project.Settings).
func settings(uc *userConfig, root string) (config.Settings, error) {
	return project.Settings(root, uc.File, uc.Path, uc.Person.Home, harness.EnvKeys())
}

// printNotes says what loading the config had to say, one line each.
func printNotes(st config.Settings) {
	for _, n := range st.Notes {
		fmt.Fprintln(os.Stderr, "aishell: note:", n)
	}
}

// ConfigShowCmd prints the merged config.
type ConfigShowCmd struct{}

// Run prints the merged config with its sources, and whether the project's file is trusted.
func (ConfigShowCmd) Run(s *session) error {
	uc, err := s.User()
	if err != nil {
		return err
	}
	root, _, rootErr := project.Current(s.where(uc))
	var st config.Settings
	var refused error
	if rootErr == nil {
		st, refused = settings(uc, root)
		if refused != nil && st.Sources == nil {
			return refused // unreadable or invalid: nothing to show
		}
	} else {
		st = config.Merge(uc.File, uc.Path, config.File{}, "")
	}
	fmt.Printf("# your config: %s%s\n", uc.Path, missing(uc.Path))
	switch {
	case rootErr != nil:
		fmt.Printf("# no project here (%v)\n", rootErr)
	case st.ProjectPath == "":
		fmt.Printf("# the project's: none (%s/%s)\n", root, config.ProjectFile)
	default:
		fmt.Printf("# the project's: %s (%s)\n", st.ProjectPath, trustState(st))
	}
	out, err := st.YAML()
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) != "{}" {
		os.Stdout.Write(out)
	}
	printNotes(st)
	return nil
}

func missing(path string) string {
	if config.FileExists(path) {
		return ""
	}
	return " (not written yet)"
}

// trustState says how the project's file is trusted, or what of it a run refuses.
func trustState(st config.Settings) string {
	switch {
	case st.Trust == "path":
		return "trusted by its path"
	case st.Trust == "content":
		return "trusted: this content"
	case len(st.Widened) > 0:
		return "not trusted, so a run refuses it, for: " + st.Widened.String()
	}
	return "not trusted; it widens nothing, so it applies"
}

// ConfigTrustCmd trusts the project's config file.
type ConfigTrustCmd struct {
	Path bool `help:"Trust the project's path, whatever its config says now or later (default: only this content)."`
}

// Run shows the file and records the trust in the user's config.
func (c ConfigTrustCmd) Run(s *session) error {
	uc, root, content, err := projectConfigFile(s)
	if err != nil {
		return err
	}
	if _, err := config.Parse(root+"/"+config.ProjectFile, content); err != nil {
		return err
	}
	entry, what := config.ContentTrust(content), "this content; a change to the file needs trusting again"
	if c.Path {
		entry, what = root, "its path, whatever the file says later"
	}
	if slices.Contains(uc.TrustedProjects, entry) {
		fmt.Printf("%s/%s is already trusted (%s)\n", root, config.ProjectFile, what)
		return nil
	}
	text := project.Visible(string(content))
	fmt.Printf("----- %s/%s -----\n%s", root, config.ProjectFile, text)
	if !strings.HasSuffix(text, "\n") {
		fmt.Println()
	}
	fmt.Println("-----")
	if _, err := config.Update(context.Background(), uc.Path, uc.Person, func(f *config.File) error {
		if !slices.Contains(f.TrustedProjects, entry) {
			f.TrustedProjects = append(f.TrustedProjects, entry)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("record the trust: %w", err)
	}
	fmt.Printf("trusted %s/%s in %s: %s\n", root, config.ProjectFile, uc.Path, what)
	return nil
}

// ConfigUntrustCmd removes the trust of the project's config file.
type ConfigUntrustCmd struct{}

// Run removes the project's path and its file's current hash from trusted_projects.
func (ConfigUntrustCmd) Run(s *session) error {
	uc, root, content, err := projectConfigFile(s)
	if err != nil {
		return err
	}
	trusts := func(t string) bool { return config.TrustEntry(t, root, uc.Person.Home, content) != "" }
	if !slices.ContainsFunc(uc.TrustedProjects, trusts) {
		fmt.Printf("%s/%s was not trusted\n", root, config.ProjectFile)
		return nil
	}
	if _, err := config.Update(context.Background(), uc.Path, uc.Person, func(f *config.File) error {
		f.TrustedProjects = slices.DeleteFunc(f.TrustedProjects, trusts)
		return nil
	}); err != nil {
		return fmt.Errorf("remove the trust: %w", err)
	}
	fmt.Printf("%s/%s is no longer trusted\n", root, config.ProjectFile)
	return nil
}

// projectConfigFile is the current project's config file, read as runs read it.
func projectConfigFile(s *session) (*userConfig, string, []byte, error) {
	uc, err := s.User()
	if err != nil {
		return nil, "", nil, err
	}
	root, _, err := project.Current(s.where(uc))
	if err != nil {
		return nil, "", nil, errs.WithHint(err, "cd into your project first")
	}
	content, err := project.ReadPlain(root, config.ProjectFile)
	if err != nil {
		return nil, "", nil, errs.WithHint(fmt.Errorf("read %s/%s: %w", root, config.ProjectFile, err), "the project has no config to trust")
	}
	return uc, root, content, nil
}
