package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
)

// An ancestor-style .aishell/Dockerfile, built with the project root as its context, COPYs a
// file from the root; what the project's .dockerignore excludes does not reach the image.
func TestExtensionProjectRootContext(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extroot", "FROM aishell:base\nWORKDIR /app\nCOPY package.json .\nCOPY . /ctx/\n")
	writeFile(t, filepath.Join(proj, "package.json"), `{"name":"extroot"}`)
	writeFile(t, filepath.Join(proj, "src", "index.js"), "console.log(1)\n")
	writeFile(t, filepath.Join(proj, ".env"), "API_TOKEN=ignored-by-dockerignore\n")
	writeFile(t, filepath.Join(proj, "logs", "x.log"), "log\n")
	writeFile(t, filepath.Join(proj, ".dockerignore"), ".env\nlogs\n")
	trust(t, proj, env)
	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "cat /app/package.json; echo; ls -A /ctx /ctx/src; test -e /ctx/.env && echo LEAK-env; test -e /ctx/logs && echo LEAK-logs; test -e /ctx/.git && echo LEAK-git; true")
	mustSucceed(t, r)
	if !strings.HasPrefix(r.Stdout, `{"name":"extroot"}`) || !strings.Contains(r.Stdout, "index.js") || !strings.Contains(r.Stdout, ".dockerignore") {
		t.Errorf("the root context was not what the build saw: %q", r.Stdout)
	}
	if strings.Contains(r.Stdout, "LEAK") {
		t.Errorf("an ignored file (or .git) reached the image: %q", r.Stdout)
	}
	// An ignored file does not make the extension stale; a copied one does (and asks again).
	writeFile(t, filepath.Join(proj, ".env"), "API_TOKEN=changed\n")
	r = aishell(t, proj, append(env, missingSocket(t)), "exec", "true")
	mustSucceed(t, r)
	if builds(r) != 0 {
		t.Error("a change to an ignored file rebuilt the extension")
	}
	writeFile(t, filepath.Join(proj, "src", "index.js"), "console.log(2)\n")
	if r := aishell(t, proj, env, "exec", "true"); r.Code != errs.CodeError || !strings.Contains(r.Stderr, "changed since you approved it") {
		t.Errorf("a changed copied file ran unapproved: exit %d %q", r.Code, r.Stderr)
	}
}

// `# aishell: context=.aishell` restores the .aishell/ context: its files are copied, the
// root's are not reachable.
func TestExtensionAishellContextOption(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := extProject(t, "extopt", "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY marker /etc/marker\n")
	writeFile(t, filepath.Join(proj, ".aishell", "marker"), "from .aishell\n")
	writeFile(t, filepath.Join(proj, "marker"), "from the root\n")
	trust(t, proj, env)
	r := aishell(t, proj, env, "exec", "cat", "/etc/marker")
	mustSucceed(t, r)
	if r.Stdout != "from .aishell\n" {
		t.Errorf("context=.aishell copied %q", r.Stdout)
	}
	// With that option a root file is out of reach, as it was before.
	writeDockerfile(t, proj, "# aishell: context=.aishell\nFROM aishell:foundation\nCOPY package.json /app/\n")
	writeFile(t, filepath.Join(proj, "package.json"), "{}")
	if r := aishell(t, proj, env, "--trust", "exec", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "package.json") {
		t.Errorf("context=.aishell reached the root's package.json: exit %d %q", r.Code, r.Stderr)
	}
}

// A COPY source that is a link to a file outside the project is refused, root context or not,
// and nothing is built.
func TestExtensionLinkOutsideRefused(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	secret := filepath.Join(t.TempDir(), "host-secret")
	writeFile(t, secret, "host secret\n")
	proj := extProject(t, "extlink", "FROM aishell:foundation\nCOPY creds /etc/creds\n")
	if err := os.Symlink(secret, filepath.Join(proj, "creds")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ext", "trust"}, {"--trust", "exec", "cat", "/etc/creds"}} {
		r := aishell(t, proj, env, args...)
		if r.Code != errs.CodeError || !strings.Contains(r.Stderr, "symbolic link") || strings.Contains(r.Stdout, "host secret") {
			t.Errorf("%v: exit %d %q %q", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	if imageExists(c, build.ExtensionRef(proj)) {
		t.Error("an extension copying a link outside the project was built")
	}
}
