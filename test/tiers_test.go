package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/snapshot"
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

// userBaseDir is where the user base of env (its XDG_CONFIG_HOME) lives.
func userBaseDir(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_CONFIG_HOME="); ok {
			return filepath.Join(v, "aishell")
		}
	}
	panic("no XDG_CONFIG_HOME in env")
}

func userBuilds(r result) int { return strings.Count(r.Stderr, "building user base") }

// The user's own Dockerfile beside their config builds a personal base on the foundation; a
// project without an extension runs on it, every extension builds on it, a change to it
// rebuilds it and makes the extensions stale, and nobody else's runs see it.
func TestUserBaseTier(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	dir := userBaseDir(env)
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM aishell:foundation\nCOPY motd /etc/user-base-motd\nRUN echo ub > /etc/user-base\n")
	writeFile(t, filepath.Join(dir, "motd"), "mine v1\n")
	ref := build.UserBaseRef(filepath.Join(dir, "Dockerfile"))
	defer c.ImageService().Delete(context.Background(), ref)

	plain := project(t, "ubplain")
	r := aishell(t, plain, env, "exec", "cat", "/etc/user-base-motd")
	mustSucceed(t, r)
	if r.Stdout != "mine v1\n" || userBuilds(r) != 1 {
		t.Fatalf("a project without an extension does not run on the user base: %q, %d build(s)", r.Stdout, userBuilds(r))
	}
	if strings.Contains(r.Stderr, "approve") {
		t.Errorf("the user's own Dockerfile asked for approval: %q", r.Stderr)
	}
	// Fresh: no build, no buildkitd.
	r = aishell(t, plain, append(env, missingSocket(t)), "exec", "cat", "/etc/user-base")
	mustSucceed(t, r)
	if r.Stdout != "ub\n" || userBuilds(r) != 0 {
		t.Errorf("fresh user base: %q, %d build(s)", r.Stdout, userBuilds(r))
	}
	// The global alias still names the foundation: another person's runs are not on this base.
	if imageTarget(t, c, "docker.io/library/aishell:base") != imageTarget(t, c, foundationImage) {
		t.Error("aishell:base was moved off the foundation")
	}
	other := runEnv(t)
	r = aishell(t, plain, other, "exec", "sh", "-c", "test -e /etc/user-base && echo LEAK || echo clean")
	mustSucceed(t, r)
	if r.Stdout != "clean\n" {
		t.Errorf("another person's run saw this user base: %q", r.Stdout)
	}

	// An extension (FROM aishell:foundation or aishell:base) builds on it.
	proj := extProject(t, "ubext", "FROM aishell:foundation\nRUN (cat /etc/user-base-motd || echo none) > /etc/from-ext\n")
	trust(t, proj, env)
	r = aishell(t, proj, env, "exec", "cat", "/etc/from-ext")
	mustSucceed(t, r)
	if r.Stdout != "mine v1\n" || builds(r) != 1 || userBuilds(r) != 0 {
		t.Errorf("extension on the user base: %q, %d/%d build(s)", r.Stdout, builds(r), userBuilds(r))
	}
	ctx := context.Background()
	ubChain, err := snapshot.ChainID(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	extTop, err := snapshot.ChainID(ctx, c, build.ExtensionRef(proj))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := snapshot.ChainContains(ctx, c, "overlayfs", extTop, ubChain); !ok || err != nil {
		t.Errorf("the extension's snapshot chain lacks the user base (%v)", err)
	}
	// `aishell ext ls` lists it first, fresh, and the extension on it.
	r = aishell(t, proj, env, "ext", "ls")
	if l := lineWith(r.Stdout, filepath.Join(dir, "Dockerfile")+" (your base)"); !strings.Contains(l, "fresh") || !strings.Contains(l, ref) {
		t.Errorf("ext ls does not list the user base as fresh:\n%s", r.Stdout)
	}
	if !strings.Contains(lineWith(r.Stdout, proj), "fresh") {
		t.Errorf("ext ls does not list the extension on the user base as fresh:\n%s", r.Stdout)
	}
	// `aishell build` reports it, and has nothing to do.
	r = aishell(t, "", env, "build", "--progress=plain")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "user base "+ref+" from "+filepath.Join(dir, "Dockerfile")+" (up to date)") {
		t.Errorf("build does not report the user base: %q", r.Stdout)
	}

	// A change to what it copies rebuilds it, and the extension on it, once.
	writeFile(t, filepath.Join(dir, "motd"), "mine v2\n")
	r = aishell(t, proj, env, "exec", "cat", "/etc/from-ext")
	mustSucceed(t, r)
	if r.Stdout != "mine v2\n" || builds(r) != 1 || userBuilds(r) != 1 {
		t.Errorf("after a user base change: %q, %d extension and %d user base build(s)", r.Stdout, builds(r), userBuilds(r))
	}
	r = aishell(t, proj, append(env, missingSocket(t)), "exec", "true")
	mustSucceed(t, r)
	if builds(r)+userBuilds(r) != 0 {
		t.Error("rebuilt a second time")
	}
	// The agent cannot plant a user base for the host: neither place is writable from inside.
	os.Remove(filepath.Join(dir, "Dockerfile"))
	home := t.TempDir()
	planted := "FROM aishell:foundation\nRUN echo planted > /etc/planted\n"
	r = aishell(t, plain, append(env, "HOME="+home), "exec", "sh", "-c",
		"mkdir -p "+dir+" $HOME/.aishell; printf '"+strings.ReplaceAll(planted, "\n", "\\n")+"' | tee "+dir+"/Dockerfile $HOME/.aishell/Dockerfile >/dev/null; true")
	for _, p := range []string{filepath.Join(dir, "Dockerfile"), filepath.Join(home, ".aishell", "Dockerfile")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a run planted %s on the host", p)
		}
	}
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM aishell:foundation\nCOPY motd /etc/user-base-motd\nRUN echo ub > /etc/user-base\n")

	// gc keeps it while its Dockerfile is there (dry runs: other tests share the namespace).
	if r := aishell(t, "", env, "gc", "--dry-run"); strings.Contains(r.Stdout, ref) {
		t.Errorf("gc would remove a live user base: %q", r.Stdout)
	}
	// Without it, the extension goes back onto the foundation, and gc would remove it.
	os.Remove(filepath.Join(dir, "Dockerfile"))
	r = aishell(t, proj, env, "exec", "cat", "/etc/from-ext")
	mustSucceed(t, r)
	if r.Stdout != "none\n" || builds(r) != 1 {
		t.Errorf("after removing the user base: %q, %d build(s)", r.Stdout, builds(r))
	}
	if r := aishell(t, "", env, "gc", "--dry-run"); !strings.Contains(r.Stdout, "would remove "+ref) {
		t.Errorf("gc would keep the user base of a removed Dockerfile: %q", r.Stdout)
	}
}

// The ancestor's ~/.aishell/Dockerfile is used when the new place has none, with one notice
// naming the new place.
func TestUserBaseLegacyPath(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".aishell", "Dockerfile"), "FROM aishell:base\nRUN echo legacy > /etc/user-base\n")
	defer c.ImageService().Delete(context.Background(), build.UserBaseRef(filepath.Join(home, ".aishell", "Dockerfile")))
	env = append(env, "HOME="+home)
	proj := project(t, "ublegacy")
	r := aishell(t, proj, env, "exec", "cat", "/etc/user-base")
	mustSucceed(t, r)
	newPlace := filepath.Join(userBaseDir(env), "Dockerfile")
	if r.Stdout != "legacy\n" || strings.Count(r.Stderr, "its place is now "+newPlace) != 1 {
		t.Errorf("legacy user base: %q %q", r.Stdout, r.Stderr)
	}
	r = aishell(t, proj, env, "exec", "true")
	mustSucceed(t, r)
	if strings.Contains(r.Stderr, "its place is now") {
		t.Error("the legacy notice was shown twice")
	}
}

// A configured harness whose image was deleted is rebuilt by the next run that needs it.
func TestMissingHarnessRebuiltOnRun(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	const v = "0.59.0" // a version no other test uses: this test deletes its image
	ref := harnessRef("gemini", v)
	defer c.ImageService().Delete(context.Background(), ref)
	mustSucceed(t, aishell(t, "", env, "build", "--with-gemini", "--gemini-version="+v, "--progress=plain"))
	proj := project(t, "restore")
	for _, args := range [][]string{{"gemini", "--version"}, {"exec", "--", "gemini", "--version"}} {
		if err := c.ImageService().Delete(context.Background(), ref, images.SynchronousDelete()); err != nil {
			t.Fatal(err)
		}
		r := aishell(t, proj, env, args...)
		mustSucceed(t, r)
		if !strings.Contains(r.Stdout, v) || !strings.Contains(r.Stderr, "its snapshot is missing; rebuilding it") || !strings.Contains(r.Stderr, "building gemini") {
			t.Errorf("%v after the image was deleted: %q %q", args, r.Stdout, r.Stderr)
		}
		if !imageExists(c, ref) {
			t.Errorf("%v: %s not rebuilt", args, ref)
		}
	}
	// --no-rebuild does not build: the run says what is missing.
	c.ImageService().Delete(context.Background(), ref, images.SynchronousDelete())
	if r := aishell(t, proj, env, "--no-rebuild", "gemini", "--version"); r.Code == 0 || !strings.Contains(r.Stderr, "is not built") {
		t.Errorf("--no-rebuild: exit %d %q", r.Code, r.Stderr)
	}
}

// A foundation built from another aishell's Dockerfile gets one line at launch and in doctor,
// naming the command that refreshes it; this aishell's own gets none. The older foundation is
// a record in a namespace of the test's own, so no other test sees it.
func TestOlderFoundationNotice(t *testing.T) {
	c := needEnv(t)
	env := runEnv(t)
	proj := project(t, "older")
	r := aishell(t, proj, env, "exec", "true")
	mustSucceed(t, r)
	if strings.Contains(r.Stderr, "older aishell") {
		t.Errorf("notice for this aishell's own foundation: %q", r.Stderr)
	}

	ns := fmt.Sprintf("aishell-older-%d", time.Now().UnixNano())
	ctx := namespaces.WithNamespace(context.Background(), ns)
	real, err := c.ImageService().Get(context.Background(), foundationImage)
	if err != nil {
		t.Fatal(err)
	}
	old := "docker.io/library/aishell:foundation-000000000000"
	for _, img := range []images.Image{
		{Name: old, Target: real.Target, Labels: map[string]string{labels.Tier: labels.TierFoundation, labels.DockerfileHash: "000000000000", labels.FoundationDockerfile: "000000000000"}},
		{Name: foundationImage, Target: real.Target, Labels: map[string]string{labels.Tier: labels.TierFoundation, labels.AliasOf: old}},
	} {
		if _, err := c.ImageService().Create(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, n := range []string{foundationImage, old} {
			c.ImageService().Delete(ctx, n)
		}
		c.NamespaceService().Delete(context.Background(), ns)
	}()
	nsEnv := append(env, "CONTAINERD_NAMESPACE="+ns)
	r = aishell(t, proj, nsEnv, "exec", "true")
	if n := strings.Count(r.Stderr, "built from an older aishell's Dockerfile; refresh it with `aishell build`"); n != 1 {
		t.Errorf("launch on an older foundation: %d notice lines in %q", n, r.Stderr)
	}
	r = aishell(t, "", nsEnv, "doctor")
	if line := lineOf(r.Stdout, "images"); !strings.Contains(line, "older aishell") || !strings.Contains(line, "aishell build") {
		t.Errorf("doctor on an older foundation: %q", line)
	}
}

// The foundation carries an editor: agents (and git inside) reach for vim.
func TestFoundationHasVim(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	r := aishell(t, project(t, "vim"), env, "exec", "--", "sh", "-c", "vim --version | head -1; command -v vi")
	mustSucceed(t, r)
	if !strings.HasPrefix(r.Stdout, "VIM - Vi IMproved") || strings.Contains(r.Stderr, "older aishell") {
		t.Errorf("vim in the foundation: %q %q", r.Stdout, r.Stderr)
	}
}

// Under sudo the user base is the user's (beside their config), never root's, and root's own
// user base is another image: neither moves the other's name.
func TestUserBaseUnderSudo(t *testing.T) {
	c := needEnv(t)
	u, _ := needRootless(t) // its user is the one who "typed sudo"
	rootHome := t.TempDir()
	writeFile(t, filepath.Join(rootHome, ".aishell", "Dockerfile"), "FROM aishell:foundation\nRUN echo root > /etc/whose-base\n")
	cfg := u.dir(t, "sudoub")
	userDockerfile := filepath.Join(cfg, "aishell", "Dockerfile")
	writeFile(t, userDockerfile, "FROM aishell:foundation\nRUN echo user > /etc/whose-base\n")
	os.Chown(filepath.Dir(userDockerfile), u.UID, u.GID)
	os.Chown(userDockerfile, u.UID, u.GID)
	userRef, rootRef := build.UserBaseRef(userDockerfile), build.UserBaseRef(filepath.Join(rootHome, ".aishell", "Dockerfile"))
	defer c.ImageService().Delete(context.Background(), userRef)
	defer c.ImageService().Delete(context.Background(), rootRef)

	env := sudoEnv(u, rootHome, "XDG_CONFIG_HOME="+cfg)
	proj := u.project(t, "sudoub")
	mustSucceed(t, runCmd(t, sudoCmd(proj, env, "build", "--progress=plain"), "sudo aishell build"))
	r := runCmd(t, sudoCmd(proj, env, "exec", "cat", "/etc/whose-base"), "sudo aishell exec")
	mustSucceed(t, r)
	if r.Stdout != "user\n" {
		t.Errorf("sudo ran on %q's base, want the user's", strings.TrimSpace(r.Stdout))
	}
	// Root on its own (HOME its home, no sudo) runs on root's, and the user's is still theirs.
	rootEnv := []string{"HOME=" + rootHome, "XDG_CONFIG_HOME=" + filepath.Join(rootHome, ".config")}
	r = aishell(t, project(t, "rootub"), rootEnv, "exec", "cat", "/etc/whose-base")
	mustSucceed(t, r)
	if r.Stdout != "root\n" {
		t.Errorf("root ran on %q's base", strings.TrimSpace(r.Stdout))
	}
	if userRef == rootRef || !imageExists(c, userRef) || !imageExists(c, rootRef) {
		t.Errorf("the two user bases do not have two names: %s, %s", userRef, rootRef)
	}
	r = runCmd(t, sudoCmd(proj, env, "exec", "cat", "/etc/whose-base"), "sudo aishell exec")
	mustSucceed(t, r)
	if r.Stdout != "user\n" || userBuilds(r) != 0 {
		t.Errorf("root's run moved the user's base: %q, %d build(s)", r.Stdout, userBuilds(r))
	}
}

// Rootless: the user base is built by the rootless buildkitd and runs.
func TestRootlessUserBase(t *testing.T) {
	u, rc := needRootless(t)
	cfg := u.dir(t, "cfgub")
	xdg := []string{"XDG_CONFIG_HOME=" + cfg}
	dockerfile := filepath.Join(cfg, "aishell", "Dockerfile")
	writeFile(t, dockerfile, "FROM aishell:foundation\nCOPY note /etc/user-base-note\n")
	writeFile(t, filepath.Join(cfg, "aishell", "note"), "rootless user base\n")
	for _, p := range []string{filepath.Dir(dockerfile), dockerfile, filepath.Join(cfg, "aishell", "note")} {
		os.Chown(p, u.UID, u.GID)
	}
	defer rc.ImageService().Delete(context.Background(), build.UserBaseRef(dockerfile))
	r := rlBuild(t, u, cfg)
	if !strings.Contains(r.Stdout, "user base "+build.UserBaseRef(dockerfile)) {
		t.Errorf("rootless build does not report the user base: %q", r.Stdout)
	}
	proj := u.project(t, "rlub")
	r = u.aishell(t, proj, xdg, "exec", "cat", "/etc/user-base-note")
	mustSucceed(t, r)
	if r.Stdout != "rootless user base\n" || userBuilds(r) != 0 {
		t.Errorf("rootless run on the user base: %q, %d build(s)", r.Stdout, userBuilds(r))
	}
}
