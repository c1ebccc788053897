package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/snapshot"
)

const jqExtension = `FROM aishell:base
RUN apt-get update && apt-get install -y --no-install-recommends jq bc && rm -rf /var/lib/apt/lists/*
`

// extProject makes a project with the given .aishell/Dockerfile.
func extProject(t *testing.T, name, dockerfile string) string {
	t.Helper()
	proj := project(t, name)
	writeDockerfile(t, proj, dockerfile)
	return proj
}

func writeDockerfile(t *testing.T, proj, dockerfile string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, ".aishell", "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
}

func builds(r result) int { return strings.Count(r.Stderr, "building extension") }

func TestExtensionFromBaseAlias(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extjq", jqExtension)
	trust(t, proj, env)
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "jq --version && echo 1+1 | bc")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "jq-1.") || !strings.HasSuffix(r.Stdout, "2\n") {
		t.Errorf("extension tools: %q", r.Stdout)
	}
	if strings.Count(r.Stderr, "FROM aishell:base") != 1 {
		t.Errorf("the base notice should appear once: %q", r.Stderr)
	}
	ref := build.ExtensionRef(proj)
	digest := imageTarget(t, c, ref)
	// Fresh: no build, so an unreachable buildkitd does not matter, and no second notice.
	r = aishell(t, proj, append(env, missingSocket(t)), "exec", "--", "bc", "--version")
	mustSucceed(t, r)
	if strings.Contains(r.Stderr, "FROM aishell:base") {
		t.Error("the base notice appeared twice")
	}
	if imageTarget(t, c, ref) != digest {
		t.Error("a fresh extension was rebuilt")
	}
	// Everything after exec's -- (or its command's first word) belongs to the command, even what
	// looks like aishell's flags; before it, aishell's flags are aishell's.
	if r = aishell(t, proj, env, "exec", "--", "--no-rebuild", "true"); r.Code != codeNotFound {
		t.Errorf("exec parsed a flag of its command: exit %d, want 127 (command not found)", r.Code)
	}
	if r = aishell(t, proj, env, "exec", "sh", "-c", "exit 7", "--no-rebuild"); r.Code != 7 {
		t.Errorf("exec parsed a flag after its command: exit %d, want 7", r.Code)
	}
	if r = aishell(t, proj, env, "exec", "--help"); r.Code != 0 || !strings.Contains(r.Stdout, "--keys") {
		t.Errorf("exec --help: exit %d %q", r.Code, r.Stdout)
	}
	r = aishell(t, proj, env, "ext", "status")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, " fresh (") {
		t.Errorf("ext status: %q", r.Stdout)
	}
	r = aishell(t, proj, env, "ext", "ls")
	if !strings.Contains(lineWith(r.Stdout, proj), "fresh") {
		t.Errorf("ext ls does not list %s as fresh:\n%s", proj, r.Stdout)
	}
}

func TestExtensionSurvivesHarnessUpdate(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV1, "--progress=plain"))
	proj := extProject(t, "extupd", jqExtension)
	trust(t, proj, env)
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	ref := build.ExtensionRef(proj)
	digest := imageTarget(t, c, ref)

	mustSucceed(t, aishell(t, "", env, "update", "--claude-version="+claudeV2, "--progress=plain"))
	r := aishell(t, proj, append(env, missingSocket(t)), "exec", "--", "claude", "--version")
	mustSucceed(t, r)
	if builds(r) != 0 || imageTarget(t, c, ref) != digest {
		t.Error("a harness update rebuilt the extension")
	}
	if !strings.Contains(r.Stdout, claudeV2) {
		t.Errorf("the container does not see the new harness: %q", r.Stdout)
	}
}

func TestExtensionFoundationChange(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extfnd", jqExtension)
	trust(t, proj, env)
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	ref := build.ExtensionRef(proj)
	defer aishell(t, "", env, "build", "--base-image=docker.io/library/debian:bookworm-slim", "--progress=quiet")

	// A different base makes a different foundation; aishell:foundation and aishell:base move to it.
	mustSucceed(t, aishell(t, "", env, "build", "--base-image=docker.io/library/node:24-bookworm-slim", "--progress=plain"))
	ctx := context.Background()
	foundation, err := snapshot.ChainID(ctx, c, foundationImage)
	if err != nil {
		t.Fatal(err)
	}
	r := aishell(t, proj, env, "exec", "--", "jq", "--version")
	mustSucceed(t, r)
	if builds(r) != 1 {
		t.Errorf("extension built %d times after the foundation changed, want 1", builds(r))
	}
	top, err := snapshot.ChainID(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := snapshot.ChainContains(ctx, c, "overlayfs", top, foundation); err != nil || !ok {
		t.Errorf("the extension's snapshot chain lacks the new foundation %s (%v)", foundation, err)
	}
	r = aishell(t, proj, append(env, missingSocket(t)), "exec", "true")
	mustSucceed(t, r)
	if builds(r) != 0 {
		t.Error("rebuilt a second time")
	}
}

func TestExtensionDockerfileEditAndFailure(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extedit", "FROM aishell:foundation\nRUN echo v1 > /etc/ext-version\n")
	trust(t, proj, env)
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	writeDockerfile(t, proj, "FROM aishell:foundation\nRUN echo v2 > /etc/ext-version\n")
	trust(t, proj, env)
	r := aishell(t, proj, env, "exec", "cat", "/etc/ext-version")
	mustSucceed(t, r)
	if builds(r) != 1 || r.Stdout != "v2\n" {
		t.Errorf("after an edit: %d builds, %q", builds(r), r.Stdout)
	}
	r = aishell(t, proj, append(env, missingSocket(t)), "exec", "cat", "/etc/ext-version")
	mustSucceed(t, r)

	ref := build.ExtensionRef(proj)
	digest := imageTarget(t, c, ref)
	writeDockerfile(t, proj, "FROM aishell:foundation\nRUN echo about to fail && false\n")
	r = aishell(t, proj, env, "--trust", "exec", "true")
	if r.Code != errs.CodeError {
		t.Errorf("failing Dockerfile: exit %d, want %d", r.Code, errs.CodeError)
	}
	if !strings.Contains(r.Stderr, "about to fail") || !strings.Contains(r.Stderr, "did not complete successfully") {
		t.Errorf("the failing step's output is not shown:\n%s", r.Stderr)
	}
	if imageTarget(t, c, ref) != digest {
		t.Fatal("a failed build replaced the extension image")
	}
	r = aishell(t, proj, env, "--no-rebuild", "--trust", "exec", "cat", "/etc/ext-version")
	mustSucceed(t, r)
	if r.Stdout != "v2\n" || !strings.Contains(r.Stderr, "stale extension") {
		t.Errorf("the previous image is not usable: %q / %q", r.Stdout, r.Stderr)
	}
}

func TestExtensionRefused(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	for df, want := range map[string]string{
		"FROM aishell:foundation\nRUN claude --version\n": "harnesses are mounted at run time",
		"FROM debian\nRUN true\n":                         "use FROM aishell:foundation",
	} {
		proj := extProject(t, "extbad", df)
		r := aishell(t, proj, env, "exec", "true")
		if r.Code != errs.CodeError || builds(r) != 0 || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "not building") {
			t.Errorf("%q: exit %d, stderr %q; want a refusal mentioning %q before any build", df, r.Code, r.Stderr, want)
		}
	}
}

func TestGCRemovesExtensionsOfGoneProjects(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extgone", "FROM aishell:foundation\nRUN echo gone > /etc/gone\n")
	trust(t, proj, env)
	mustSucceed(t, aishell(t, proj, env, "exec", "true"))
	ref := build.ExtensionRef(proj)
	keep := extProject(t, "extkept", "FROM aishell:foundation\nRUN echo kept > /etc/kept\n")
	trust(t, keep, env)
	mustSucceed(t, aishell(t, keep, env, "exec", "true"))
	if err := os.RemoveAll(proj); err != nil {
		t.Fatal(err)
	}
	r := aishell(t, "", env, "gc")
	mustSucceed(t, r)
	if imageExists(c, ref) || !strings.Contains(r.Stdout, "removed "+ref) {
		t.Errorf("gc kept the extension of a deleted project")
	}
	if !imageExists(c, build.ExtensionRef(keep)) {
		t.Error("gc removed the extension of a live project")
	}
}
