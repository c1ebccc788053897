package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/run"
)

// projectExtension is the current project and its extension, approved (approvedExtension).
// The extension is nil when the project has none; root is "" outside a project, with err
// saying why.
func projectExtension(s *session) (root string, ext *build.Extension, err error) {
	uc, err := s.User()
	if err != nil {
		return "", nil, err
	}
	root, _, err = project.Current(s.where(uc))
	if err != nil {
		return "", nil, err
	}
	ext, err = approvedExtension(s, uc, root)
	return root, ext, err
}

// approvedExtension is the extension of the project at root, approved by the user (in their
// config, by --trust, or at the terminal: a yes is recorded in the config); nil when the
// project has none.
func approvedExtension(s *session, uc *userConfig, root string) (*build.Extension, error) {
	ext, err := build.LoadExtension(root)
	if err != nil || ext == nil {
		return ext, err
	}
	c := build.Consent{Approved: uc.ApprovedExtensions, TrustOnce: s.g.Trust, Out: os.Stderr}
	if run.IsTerminal() {
		c.Ask = askYes
	}
	digest, record, err := c.Check(ext)
	if err != nil {
		return nil, err
	}
	if record {
		if err := approve(uc, ext, digest); err != nil {
			return nil, err
		}
	}
	return ext, nil
}

// approve records digest as the approved content of ext's project in the user's config.
func approve(uc *userConfig, ext *build.Extension, digest string) error {
	saved, err := config.Update(context.Background(), uc.Path, uc.Person, func(f *config.File) error {
		if f.ApprovedExtensions == nil {
			f.ApprovedExtensions = map[string]string{}
		}
		f.ApprovedExtensions[ext.Project] = digest
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the approval of %s: %w", ext.Path, err)
	}
	uc.File = saved
	return nil
}

// stdin is read by one buffered reader, so that what is typed ahead reaches the next question.
var stdin = bufio.NewReader(os.Stdin)

// askYes asks question on the terminal; only y or yes is a yes.
func askYes(question string) bool {
	fmt.Fprint(os.Stderr, question)
	line, _ := stdin.ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// where bounds the project search by the person's home (see project.Where).
func (s *session) where(uc *userConfig) project.Where {
	return project.Where{Home: uc.Person.Home, AllowHome: s.g.AllowHome}
}

// ExtTrustCmd approves the current project's extension.
type ExtTrustCmd struct{}

// Run shows the Dockerfile and what it copies, and records its digest in the user's config.
func (ExtTrustCmd) Run(ctx context.Context, s *session) error {
	uc, err := s.User()
	if err != nil {
		return err
	}
	root, ext, err := build.ProjectExtension(s.where(uc))
	if root == "" {
		return errs.WithHint(err, "cd into your project first")
	}
	if err != nil {
		return err
	}
	if ext == nil {
		return errs.WithHint(fmt.Errorf("%s has no %s", root, build.ExtensionDockerfile), "nothing to approve")
	}
	digest, err := ext.Approve()
	if err != nil {
		return err
	}
	if uc.ApprovedExtensions[ext.Project] == digest {
		fmt.Printf("%s is already approved (%s)\n", ext.Path, digest)
		return nil
	}
	fmt.Print(ext.Review("is being approved"))
	if err := approve(uc, ext, digest); err != nil {
		return err
	}
	fmt.Printf("approved %s (%s) in %s; a change to it or to what it copies asks again\n", ext.Path, digest, uc.Path)
	return nil
}
