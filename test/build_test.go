package test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/snapshot"
	"github.com/containerd/errdefs"
)

// The foundation and one harness snapshot build; a container from the foundation with the
// snapshot bind-mounted read-only runs the harness, and cannot write to it.
func TestBuildFoundationAndClaude(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	r := aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV1, "--progress=plain")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "claude "+claudeV1) || !strings.Contains(r.Stdout, "foundation docker.io/library/aishell:foundation-") {
		t.Errorf("build output lacks the foundation or claude %s", claudeV1)
	}
	ref := harnessRef("claude", claudeV1)
	for _, img := range []string{foundationImage, "docker.io/library/aishell:base", ref} {
		if !imageExists(c, img) {
			t.Errorf("image %s missing after build", img)
		}
	}
	if imageTarget(t, c, "docker.io/library/aishell:base") != imageTarget(t, c, foundationImage) {
		t.Error("aishell:base does not point at the foundation")
	}
	ctx := context.Background()
	chain, err := snapshot.ChainID(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.SnapshotService("overlayfs").Stat(ctx, chain)
	if err != nil {
		t.Fatalf("harness snapshot %s: %v", chain, err)
	}
	if info.Parent != "" {
		t.Errorf("harness snapshot has parent %s: want a single layer", info.Parent)
	}
	img, _ := c.ImageService().Get(ctx, ref)
	if img.Labels[labels.HarnessVersion] != claudeV1 {
		t.Errorf("harness image labels %v", img.Labels)
	}

	// The foundation holds no harness.
	if code, out, _ := runSandbox(t, c, nil, "sh", "-c", "command -v claude || echo none; node --version"); code != 0 || !strings.HasPrefix(out, "none\nv24.") {
		t.Errorf("foundation alone: exit %d, %q; want no claude and node 24", code, out)
	}
	code, out, errOut := runSandbox(t, c, map[string]string{"claude": ref}, "claude", "--version")
	if code != 0 || !strings.Contains(out, claudeV1) {
		t.Errorf("claude --version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runSandbox(t, c, map[string]string{"claude": ref}, "touch", "/opt/harness/claude/x")
	if code == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("write to the harness snapshot: exit %d, %q; want EROFS", code, errOut)
	}
	// The chosen set is recorded in the user config.
	cfg := loadUserConfig(t, env)
	if cfg.Harnesses["claude"].Resolved != claudeV1 {
		t.Errorf("config harnesses %+v", cfg.Harnesses)
	}
}

func loadUserConfig(t *testing.T, env []string) config.File {
	t.Helper()
	var dir string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "XDG_CONFIG_HOME="); ok {
			dir = v
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "aishell", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Changing one harness's version builds one new harness image and touches nothing else; a
// second update with nothing changed never calls buildkitd.
func TestUpdateRebuildsOnlyThatHarness(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV1, "--with-gemini", "--gemini-version="+geminiV, "--progress=plain"))
	foundation := imageTarget(t, c, foundationImage)
	gemini := imageTarget(t, c, harnessRef("gemini", geminiV))
	geminiChain, err := snapshot.ChainID(context.Background(), c, harnessRef("gemini", geminiV))
	if err != nil {
		t.Fatal(err)
	}
	// Start from a world where V2 was never built, so the update really builds it.
	c.ImageService().Delete(context.Background(), harnessRef("claude", claudeV2))
	before := storeImages(t, c)

	r := aishell(t, "", env, "update", "--claude-version="+claudeV2, "--progress=plain")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "claude "+claudeV1+" -> "+claudeV2) {
		t.Errorf("update output %q lacks the change line", r.Stdout)
	}
	if strings.Contains(r.Stderr, "building foundation") || strings.Contains(r.Stderr, "building gemini") {
		t.Error("update built something besides claude")
	}
	// What changed in containerd: one new image, the new harness, and of the rest only the old
	// version's record, which lost this config's mark (its target as it was): nothing else.
	after := storeImages(t, c)
	added, removed, changed := imageChanges(before, after)
	old := harnessRef("claude", claudeV1)
	if want := []string{harnessRef("claude", claudeV2)}; !slices.Equal(added, want) || len(removed) != 0 || len(changed) > 1 || (len(changed) == 1 && changed[0] != old) {
		t.Errorf("update added %v, removed %v, wrote again %v; want exactly %v added", added, removed, changed, want)
	}
	if len(changed) == 1 {
		mark := labels.KeptBy(config.View(), configPath(env))
		b, a := maps.Clone(before[old].Labels), after[old].Labels
		delete(b, mark)
		if before[old].Labels[mark] == "" || a[mark] != "" || !maps.Equal(a, b) || after[old].Target.Digest != before[old].Target.Digest {
			t.Errorf("%s was written again beyond losing the config's mark: %v -> %v", old, before[old].Labels, a)
		}
	}
	if !imageExists(c, harnessRef("claude", claudeV2)) {
		t.Fatal("claude " + claudeV2 + " image missing after update")
	}
	if got := imageTarget(t, c, foundationImage); got != foundation {
		t.Errorf("foundation changed: %s -> %s", foundation, got)
	}
	if got := imageTarget(t, c, harnessRef("gemini", geminiV)); got != gemini {
		t.Errorf("gemini image changed: %s -> %s", gemini, got)
	}
	if _, err := c.SnapshotService("overlayfs").Stat(context.Background(), geminiChain); err != nil {
		t.Errorf("gemini snapshot gone: %v", err)
	}
	if cfg := loadUserConfig(t, env); cfg.Harnesses["claude"].Resolved != claudeV2 || cfg.Harnesses["gemini"].Resolved != geminiV {
		t.Errorf("config after update %+v", cfg.Harnesses)
	}
	code, out, _ := runSandbox(t, c, map[string]string{"claude": harnessRef("claude", claudeV2), "gemini": harnessRef("gemini", geminiV)},
		"sh", "-c", "claude --version && gemini --version")
	if code != 0 || !strings.Contains(out, claudeV2) || !strings.Contains(out, geminiV) {
		t.Errorf("new snapshot set: exit %d, %q", code, out)
	}

	// Nothing changed: no build, so an unreachable buildkitd does not matter.
	r = aishell(t, "", append(env, missingSocket(t)), "update")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "nothing changed") {
		t.Errorf("no-op update said %q", r.Stdout)
	}
	if r.Took > 10*time.Second {
		t.Errorf("no-op update took %s", r.Took)
	}
}

// gc removes an unused old harness version but keeps one a running container uses.
func TestGCKeepsWhatRunningContainersUse(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--with-claude", "--claude-version="+claudeV1, "--progress=plain"))
	mustSucceed(t, aishell(t, "", env, "update", "--claude-version="+claudeV2, "--progress=plain"))
	old := harnessRef("claude", claudeV1)
	oldChain, err := snapshot.ChainID(context.Background(), c, old)
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, c, map[string]string{"claude": old}, "sleep", "300")

	r := aishell(t, "", env, "harness", "ls")
	mustSucceed(t, r)
	if !strings.Contains(lineWith(r.Stdout, claudeV1), "1 container(s)") || !strings.Contains(lineWith(r.Stdout, claudeV2), "config") {
		t.Errorf("harness ls does not show what uses each version:\n%s", r.Stdout)
	}
	r = aishell(t, "", env, "gc")
	mustSucceed(t, r)
	if strings.Contains(r.Stdout, old) || !imageExists(c, old) {
		t.Fatalf("gc removed %s while a container uses it", old)
	}
	sn := c.SnapshotService("overlayfs")
	view := labels.SharedViewKey(oldChain)
	if _, err := sn.Stat(context.Background(), view); err != nil {
		t.Errorf("the view the container holds: %v", err)
	}
	// The running container still works from its snapshot.
	if err := sb.task.Kill(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sb.wait(t)
	sb.remove(t)

	r = aishell(t, "", env, "gc")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "removed "+old) || imageExists(c, old) {
		t.Errorf("gc kept unused %s", old)
	}
	// containerd's collector takes the snapshot with its shared view, which nothing holds now.
	for _, key := range []string{view, oldChain} {
		waitUntil(t, 30*time.Second, "snapshot "+key+" removed", func() bool {
			_, err := sn.Stat(context.Background(), key)
			return errdefs.IsNotFound(err)
		})
	}
	chain := lineWith(r.Stdout, old)
	if chain == "" {
		t.Errorf("gc output does not name %s", old)
	}
	if !imageExists(c, harnessRef("claude", claudeV2)) || !imageExists(c, foundationImage) {
		t.Error("gc removed what the config uses")
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestBuildBadVersion(t *testing.T) {
	c := needEnv(t)
	r := aishell(t, "", userEnv(t), "build", "--with-claude", "--claude-version=0.0.0-nope")
	if r.Code != errs.CodeError {
		t.Errorf("exit %d, want %d", r.Code, errs.CodeError)
	}
	first := strings.SplitN(r.Stderr, "\n", 2)[0]
	if !strings.Contains(first, `npm has no version "0.0.0-nope" of @anthropic-ai/claude-code`) {
		t.Errorf("first line %q", first)
	}
	if !strings.Contains(r.Stderr, "hint: ") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
		t.Errorf("want one line plus a hint, got %q", r.Stderr)
	}
	if imageExists(c, harnessRef("claude", "0.0.0-nope")) {
		t.Error("a bad version left an image tagged")
	}
}

func TestBuildUnreachableBuildkitd(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	before := ""
	if imageExists(c, foundationImage) {
		before = imageTarget(t, c, foundationImage)
	}
	sock := missingSocket(t)
	r := aishell(t, "", append(env, sock), "build", "--force", "--with-claude", "--claude-version="+claudeV1)
	if r.Code != errs.CodeError {
		t.Errorf("exit %d, want %d", r.Code, errs.CodeError)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "cannot reach buildkitd at "+strings.TrimPrefix(sock, "BUILDKIT_HOST=")) || !strings.HasPrefix(lines[1], "hint: ") {
		t.Errorf("stderr %q: want one line naming the socket, then a hint", r.Stderr)
	}
	if r.Took > 5*time.Second {
		t.Errorf("took %s", r.Took)
	}
	if before != "" && imageTarget(t, c, foundationImage) != before {
		t.Error("a failed build moved aishell:foundation")
	}
}

// Ctrl-C in the middle of a build: one line, exit 1, nothing tagged, no tag moved.
func TestBuildInterrupted(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	mustSucceed(t, aishell(t, "", env, "build", "--progress=quiet"))
	foundation := imageTarget(t, c, foundationImage)
	ref := harnessRef("gemini", geminiV0)
	c.ImageService().Delete(context.Background(), ref)

	// --no-cache makes the build really run, whatever buildkitd has cached.
	cmd := aishellCmd("", env, "build", "--force", "--no-cache", "--with-gemini", "--gemini-version="+geminiV0, "--progress=plain")
	var out syncBuffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	// Inside a RUN step: its process is running once it has written output.
	waitUntil(t, 2*time.Minute, "output of a RUN step's process", func() bool { return runStepWrote(out.String()) })
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	err := cmd.Wait()
	t.Logf("stderr:\n%s", out.String())
	if code := cmd.ProcessState.ExitCode(); code != errs.CodeError {
		t.Errorf("exit %d after Ctrl-C, want %d (%v)", code, errs.CodeError, err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("aishell took %s to stop after Ctrl-C", took)
	}
	if !strings.Contains(out.String(), "cancelled: nothing was tagged") {
		t.Error("no cancel message")
	}
	if imageExists(c, ref) {
		t.Errorf("%s tagged after an interrupted build", ref)
	}
	if imageTarget(t, c, foundationImage) != foundation {
		t.Error("an interrupted build moved aishell:foundation")
	}
}

// runStepLine is the line of plain progress that starts a RUN step: #N [stage i/n] RUN ...
var runStepLine = regexp.MustCompile(`(?m)^#(\d+) \[[^\]]*\] RUN `)

// runStepWrote reports whether plain progress shows output of a RUN step's process: a log line
// (#N <seconds> <text>) of a step that runStepLine started.
func runStepWrote(progress string) bool {
	for _, m := range runStepLine.FindAllStringSubmatch(progress, -1) {
		if regexp.MustCompile(`(?m)^#` + m[1] + ` \d+\.\d+ `).MatchString(progress) {
			return true
		}
	}
	return false
}

// Versions of openspec only the npm cache test builds.
const (
	openspecCacheV1 = "1.13.0"
	openspecCacheV2 = "1.13.1"
)

// Harness installs keep npm's downloads in the person's own snapshot, named by the id kept
// beside their config: one snapshot, filled by the first install and kept for the next
// version's (which adds only what changed), even with --no-cache; gc removes it once the
// person's config is gone, and leaves it while it is there.
func TestHarnessNPMCacheKept(t *testing.T) {
	c := needEnv(t)
	env := userEnv(t)
	ctx := context.Background()
	mustSucceed(t, aishell(t, "", env, "build", "--progress=quiet"))
	for _, v := range []string{openspecCacheV1, openspecCacheV2} {
		c.ImageService().Delete(ctx, harnessRef("openspec", v))
	}
	mustSucceed(t, aishell(t, "", env, "build", "--with-openspec", "--openspec-version="+openspecCacheV1, "--no-cache", "--progress=plain"))
	var xdg string
	for _, e := range env {
		xdg, _ = strings.CutPrefix(e, "XDG_CONFIG_HOME=")
	}
	raw, err := os.ReadFile(filepath.Join(xdg, "aishell", "npm-cache-id"))
	if err != nil {
		t.Fatalf("no npm cache id beside the config: %v", err)
	}
	id := strings.TrimSpace(string(raw))
	first := npmCacheSize(t, id)
	if first < 1<<20 {
		t.Fatalf("npm cache %s holds %d bytes after a build: the build did not use it", id, first)
	}
	mustSucceed(t, aishell(t, "", env, "update", "--openspec-version="+openspecCacheV2, "--no-cache", "--progress=plain"))
	second := npmCacheSize(t, id)
	t.Logf("npm cache %s: %d bytes after %s, %d after %s", id, first, openspecCacheV1, second, openspecCacheV2)
	if second <= first || second-first > first/2 {
		t.Errorf("the second version grew the npm cache from %d to %d bytes: want more, by less than half (only what changed)", first, second)
	}
	// gc leaves the cache of a person whose config is there, and removes it once it is gone.
	mustSucceed(t, aishell(t, "", env, "gc"))
	npmCacheSize(t, id)
	if err := os.Remove(filepath.Join(xdg, "aishell", "config.yaml")); err != nil {
		t.Fatal(err)
	}
	r := aishell(t, "", userEnv(t), "gc")
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "removed the npm cache of "+filepath.Join(xdg, "aishell", "config.yaml")) {
		t.Errorf("gc did not say it removed the npm cache of the config that is gone: %q", r.Stdout)
	}
	if _, err := c.SnapshotService("overlayfs").Stat(ctx, id); err == nil {
		t.Errorf("npm cache %s still there after gc, with its config gone", id)
	}
	for _, v := range []string{openspecCacheV1, openspecCacheV2} {
		c.ImageService().Delete(ctx, harnessRef("openspec", v))
	}
}

// npmCacheSize is the size of the npm cache snapshot id, which a gc root label keeps.
func npmCacheSize(t *testing.T, id string) int64 {
	t.Helper()
	c := needEnv(t)
	sn := c.SnapshotService("overlayfs")
	info, err := sn.Stat(context.Background(), id)
	if err != nil {
		t.Fatalf("npm cache snapshot %s: %v", id, err)
	}
	if info.Labels["containerd.io/gc.root"] == "" || info.Labels[labels.NPMCache] == "" {
		t.Errorf("npm cache snapshot %s has labels %v: want a gc root and its person's config", id, info.Labels)
	}
	u, err := sn.Usage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Size
}
