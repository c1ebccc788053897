package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
)

// The bump measured: claude between two real versions.
const (
	bumpFrom = "2.1.329"
	bumpTo   = "2.1.330"
)

// updateRounds is how many times the update and the bare npm install are each timed.
const updateRounds = 3

// benchUpdate measures a cold foundation build, each harness snapshot build, a one-harness
// update and a no-op update, and the ancestor's way of taking the same bump: one image with the
// foundation and every harness baked in, rebuilt with the new version.
func benchUpdate(ctx context.Context) error {
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	names := harness.Names()
	versions, err := resolveVersions(ctx, names)
	if err != nil {
		return err
	}
	versions["claude"] = bumpFrom
	var rows []string
	row := func(what, cmd string, d time.Duration, size string) {
		rows = append(rows, fmt.Sprintf("| %s | `%s` | %s | %s |", what, cmd, secs(d), size))
	}

	// 1. Cold foundation: no build cache; the upstream images are local.
	d, _, err := e.aishell("build", "--force", "--no-cache", "--progress=plain")
	if err != nil {
		return err
	}
	row("foundation, cold (no build cache)", "aishell build --force --no-cache", d, mb(e.imageSize(build.FoundationImage)))

	// 2. Each harness snapshot, cold.
	var withAll []string
	for _, n := range names {
		h, _ := harness.Lookup(n)
		ref := h.ImageRef(versions[n])
		e.removeImage(ref)
		args := []string{"build", "--with-" + n, "--" + n + "-version=" + versions[n], "--no-cache", "--progress=plain"}
		d, _, err := e.aishell(args...)
		if err != nil {
			return err
		}
		row(fmt.Sprintf("harness snapshot %s %s, cold", n, versions[n]), "aishell "+strings.Join(args[:3], " ")+" --no-cache", d, mb(e.snapshotSize(ref)))
		withAll = append(withAll, "--with-"+n, "--"+n+"-version="+versions[n])
	}
	if _, _, err := e.aishell(append([]string{"build", "--progress=quiet"}, withAll...)...); err != nil {
		return err
	}

	// A project with an extension that installs a few Debian packages, built before the bump.
	proj, err := os.MkdirTemp("", "aishell-bench-project-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(proj)
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	if err := os.WriteFile(filepath.Join(proj, ".aishell", "Dockerfile"), []byte("FROM aishell:foundation\n"+extensionPackages), 0o644); err != nil {
		return err
	}
	if _, _, err := e.aishellIn(proj, "ext", "trust"); err != nil { // the approval a user gives once
		return err
	}
	if _, _, err := e.aishellIn(proj, "exec", "true"); err != nil {
		return err
	}

	// 3. One-harness update: claude bumpFrom -> bumpTo, npm install not cached.
	claude, _ := harness.Lookup("claude")
	e.removeImage(claude.ImageRef(bumpTo))
	foundationBefore := imageDigest(e, build.FoundationImage)
	dUpdate, out, err := e.aishell("update", "--claude-version="+bumpTo, "--no-cache", "--progress=plain")
	if err != nil {
		return err
	}
	if !strings.Contains(out, bumpFrom+" -> "+bumpTo) {
		return fmt.Errorf("update did not report the bump:\n%s", out)
	}
	if imageDigest(e, build.FoundationImage) != foundationBefore {
		return fmt.Errorf("update changed the foundation")
	}
	row(fmt.Sprintf("one-harness update (claude %s -> %s)", bumpFrom, bumpTo), "aishell update --claude-version="+bumpTo+" --no-cache", dUpdate, "+"+mb(e.snapshotSize(claude.ImageRef(bumpTo))))
	// The next run in the project: the extension stays as it is.
	dRun, out, err := e.aishellIn(proj, "exec", "claude", "--version")
	if err != nil {
		return err
	}
	aishellExtBuilds := strings.Count(out, "building extension")
	if !strings.Contains(out, bumpTo) {
		return fmt.Errorf("the run after the update does not see claude %s:\n%s", bumpTo, out)
	}
	row("next run in the project after the update (extension check + run)", "aishell exec claude --version", dRun, fmt.Sprintf("%d extension rebuild(s)", aishellExtBuilds))
	// The same npm install without aishell: what the update's own work costs. The update's npm
	// cache held bumpFrom (and the other harnesses), so "warm" is the comparable one. The npm
	// registry's speed varies from minute to minute: the update and the warm bare install are
	// timed in alternation, updateRounds times each, and compared by their medians.
	npmCmd := "npm install --global --prefix DIR " + claude.Package + "@" + bumpTo
	dNPMCold, err := e.bareNPM(claude.Package, bumpTo, "")
	if err != nil {
		return err
	}
	row(fmt.Sprintf("bare npm install of claude %s, empty npm cache", bumpTo), npmCmd+" (ctr run on the foundation)", dNPMCold, "")
	updates, bares := []time.Duration{dUpdate}, []time.Duration{}
	for i := 0; i < updateRounds; i++ {
		d, err := e.bareNPM(claude.Package, bumpTo, bumpFrom)
		if err != nil {
			return err
		}
		bares = append(bares, d)
		if i == updateRounds-1 {
			break
		}
		// The same bump again, from the same start: npm's cache holding bumpFrom and not bumpTo
		// (the last update put bumpTo there), as the bare install's does.
		if err := e.emptyNPMCache(); err != nil {
			return err
		}
		e.removeImage(claude.ImageRef(bumpFrom))
		if _, _, err := e.aishell("build", "--claude-version="+bumpFrom, "--progress=quiet"); err != nil {
			return err
		}
		e.removeImage(claude.ImageRef(bumpTo))
		d, out, err := e.aishell("update", "--claude-version="+bumpTo, "--no-cache", "--progress=plain")
		if err != nil {
			return err
		}
		if !strings.Contains(out, bumpFrom+" -> "+bumpTo) {
			return fmt.Errorf("update did not report the bump:\n%s", out)
		}
		updates = append(updates, d)
	}
	dUpdateMed, dNPMWarm := median(updates), median(bares)
	row(fmt.Sprintf("one-harness update, median of %d (above: the first)", len(updates)), "aishell update --claude-version="+bumpTo, dUpdateMed, "")
	row(fmt.Sprintf("bare npm install of claude %s, npm cache holding %s, median of %d", bumpTo, bumpFrom, len(bares)), npmCmd+" (ctr run on the foundation)", dNPMWarm, "")

	// 4. No-op update, median of 5.
	var noop []time.Duration
	for i := 0; i < 5; i++ {
		d, out, err := e.aishell("update")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "nothing changed") {
			return fmt.Errorf("no-op update changed something:\n%s", out)
		}
		noop = append(noop, d)
	}
	rows = append(rows, fmt.Sprintf("| no-op update (median of 5) | `aishell update` | %.0f ms | |", float64(median(noop).Microseconds())/1000))
	// The extension freshness check a run makes, as `aishell ext status` reports it (median of 5).
	var checks []time.Duration
	for i := 0; i < 5; i++ {
		_, out, err := e.aishellIn(proj, "ext", "status")
		if err != nil {
			return err
		}
		var ms float64
		if i := strings.Index(out, "checked in "); i < 0 || !strings.Contains(out, " fresh ") {
			return fmt.Errorf("ext status did not report a fresh extension:\n%s", out)
		} else if _, err := fmt.Sscanf(out[i:], "checked in %f ms", &ms); err != nil {
			return fmt.Errorf("ext status: %v:\n%s", err, out)
		}
		checks = append(checks, time.Duration(ms*float64(time.Millisecond)))
	}
	rows = append(rows, fmt.Sprintf("| extension freshness check, fresh (median of 5, no buildkitd call) | `aishell ext status` | %.1f ms | |", float64(median(checks).Microseconds())/1000))

	// 5. The ancestor: foundation + every harness baked into one image; the bump rebuilds its
	// harness stage (system packages stay cached, as they would with Docker's layer cache).
	dir, err := os.MkdirTemp("", "aishell-bench-ancestor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	versions["claude"] = bumpFrom
	if _, err := e.buildAncestor(dir, versions, "ancestor-from", ""); err != nil {
		return err
	}
	versions["claude"] = bumpTo
	dAncestor, err := e.buildAncestor(dir, versions, "ancestor-to", "harnesses")
	if err != nil {
		return err
	}
	ancestorRef := "docker.io/aishell-bench/ancestor:ancestor-to"
	row(fmt.Sprintf("ancestor: baked image rebuilt for claude %s -> %s", bumpFrom, bumpTo), "buildctl build (harness stage not cached)", dAncestor, mb(e.imageSize(ancestorRef)))
	// The project's extension FROM the baked image: built on the old one, rebuilt on the new one.
	if _, err := e.buildAncestorExtension("ancestor-from"); err != nil {
		return err
	}
	dAncestorExt, err := e.buildAncestorExtension("ancestor-to")
	if err != nil {
		return err
	}
	row("ancestor: project extension rebuilt because its base changed", "buildctl build (FROM the new baked image)", dAncestorExt, "1 extension rebuild")
	dAncestorTotal := dAncestor + dAncestorExt
	dAishellTotal := dUpdate + dRun

	var b strings.Builder
	fmt.Fprintf(&b, "## Harness update (`make bench-update`)\n\n")
	fmt.Fprintf(&b, "Run %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	versions["claude"] = bumpFrom + " -> " + bumpTo
	fmt.Fprintf(&b, "Harness versions: %s. Each build is one run, timed around the whole command (resolve, build, and for the foundation and extensions export and unpack). ", versionList(versions))
	fmt.Fprintf(&b, "\"cold\" = `--no-cache` (every step of that build runs); base images are local. Harnesses are installed by containerd alone (npm in a container, "+
		"its prefix a new snapshot that is committed as the image's layer); aishell keeps npm's downloads in a snapshot of the person's; "+
		"the bench's config directory is new, so that cache starts empty and the update finds %s in it. "+
		"The bare npm installs run `npm install` alone in a container from the foundation (`ctr run`, timed around it), with an empty npm cache and with one that holds %s.\n\n", bumpFrom, bumpFrom)
	fmt.Fprintf(&b, "| what | command | time | size |\n|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	fmt.Fprintf(&b, "**Harness bump, until the project runs again: aishell %s (update %s + next run %s, %d extension rebuilds) vs the ancestor's %s "+
		"(baked image %s + extension %s, 1 extension rebuild): %.1fx faster.** The image bump alone: %.1fx. The aishell update rebuilt nothing else: "+
		"the foundation digest is unchanged.\n\n",
		secs(dAishellTotal), secs(dUpdate), secs(dRun), aishellExtBuilds, secs(dAncestorTotal), secs(dAncestor), secs(dAncestorExt),
		dAncestorTotal.Seconds()/dAishellTotal.Seconds(), dAncestor.Seconds()/dUpdate.Seconds())
	fmt.Fprintf(&b, "**one-harness update / bare npm install = %.2fx (goal ≤ 1.3x)**, medians of %d alternating rounds, both with %s in npm's cache; "+
		"the first update against the empty-cache install %.2fx.\n\n",
		dUpdateMed.Seconds()/dNPMWarm.Seconds(), updateRounds, bumpFrom, dUpdate.Seconds()/dNPMCold.Seconds())
	fmt.Print(b.String())
	return writeSection("update", b.String())
}

// bareNPM times `npm install --global` of pkg@version into a new prefix, run alone in a container
// from the foundation (host network, the host's CA bundle when there is one, as aishell's build
// has it), with npm's cache in a new directory; with prev set, pkg@prev is installed into
// another prefix with the same cache first, untimed.
func (e *env) bareNPM(pkg, version, prev string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "aishell-bench-npm-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	install := func(prefix, v string) (time.Duration, error) {
		args := []string{"--address", os.Getenv("CONTAINERD_ADDRESS"), "-n", e.ns, "run", "--rm", "--net-host",
			"--mount", "type=bind,src=" + dir + ",dst=" + dir + ",options=rbind:rw"}
		if ca := "/etc/ssl/certs/ca-certificates.crt"; config.FileExists(ca) {
			args = append(args, "--mount", "type=bind,src="+ca+",dst=/run/secrets/ca-bundle,options=rbind:ro",
				"--env", "NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle", "--env", "npm_config_cafile=/run/secrets/ca-bundle")
		}
		args = append(args, build.FoundationImage, filepath.Base(dir)+"-"+prefix,
			"npm", "install", "--global", "--prefix", filepath.Join(dir, prefix), "--cache", filepath.Join(dir, "cache"),
			"--registry", harness.Registry(""), "--no-fund", "--no-audit", "--no-update-notifier", "--loglevel=error", pkg+"@"+v)
		d, _, err := e.run("ctr", args...)
		return d, err
	}
	if prev != "" {
		if _, err := install("prev", prev); err != nil {
			return 0, err
		}
	}
	return install("next", version)
}

// emptyNPMCache removes the bench person's npm cache snapshot (its name is beside the config).
func (e *env) emptyNPMCache() error {
	raw, err := os.ReadFile(filepath.Join(e.xdg, "aishell", "npm-cache-id"))
	if err != nil {
		return fmt.Errorf("the bench's npm cache: %w", err)
	}
	if err := e.client.SnapshotService("overlayfs").Remove(context.Background(), strings.TrimSpace(string(raw))); err != nil {
		return fmt.Errorf("empty the bench's npm cache: %w", err)
	}
	return nil
}

func imageDigest(e *env, ref string) string {
	img, err := e.client.ImageService().Get(context.Background(), ref)
	if err != nil {
		return ""
	}
	return img.Target.Digest.String()
}

func versionList(v map[string]string) string {
	var parts []string
	for _, n := range harness.Names() {
		parts = append(parts, n+" "+v[n])
	}
	return strings.Join(parts, ", ")
}

// ancestorDockerfile is the Docker-era layout: the foundation's steps, then every harness
// installed globally into the same image.
func ancestorDockerfile(versions map[string]string) string {
	df := strings.Replace(string(build.FoundationDockerfile()), "FROM ${BASE_IMAGE}\n", "FROM ${BASE_IMAGE} AS system\n", 1)
	var pkgs []string
	for _, n := range harness.Names() {
		h, _ := harness.Lookup(n)
		pkgs = append(pkgs, h.Package+"@"+versions[n])
	}
	return df + "\nFROM system AS harnesses\n" +
		"RUN --mount=type=secret,id=ca-bundle,required=false \\\n" +
		"    if [ -s /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle; fi \\\n" +
		" && npm install --global --no-fund --no-audit " + strings.Join(pkgs, " ") + " \\\n" +
		" && npm cache clean --force\n"
}

// extensionPackages is the body of the project extension both sides build.
const extensionPackages = "RUN apt-get update && apt-get install -y --no-install-recommends jq bc sqlite3 && rm -rf /var/lib/apt/lists/*\n"

// buildAncestorExtension builds the project's extension FROM the baked image tagged tag.
func (e *env) buildAncestorExtension(tag string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "aishell-bench-ancestor-ext-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	df := "FROM docker.io/aishell-bench/ancestor:" + tag + "\n" + extensionPackages
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return 0, err
	}
	d, _, err := e.run("buildctl", "--addr", os.Getenv("BUILDKIT_HOST"), "build", "--progress=plain",
		"--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dir,
		"--opt", "image-resolve-mode=local",
		"--output", "type=image,name=docker.io/aishell-bench/ancestor-ext:"+tag+",unpack=true,compression=zstd")
	return d, err
}

// buildAncestor builds the baked image with buildctl; noCache names stages to run uncached.
func (e *env) buildAncestor(dir string, versions map[string]string, tag, noCache string) (time.Duration, error) {
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(ancestorDockerfile(versions)), 0o644); err != nil {
		return 0, err
	}
	args := []string{"--addr", os.Getenv("BUILDKIT_HOST"), "build", "--progress=plain",
		"--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--opt", "image-resolve-mode=local",
		"--output", "type=image,name=docker.io/aishell-bench/ancestor:" + tag + ",unpack=true,compression=zstd"}
	if ca := "/etc/ssl/certs/ca-certificates.crt"; config.FileExists(ca) {
		args = append(args, "--secret", "id=ca-bundle,src="+ca)
	}
	if noCache != "" {
		args = append(args, "--opt", "no-cache="+noCache)
	}
	d, _, err := e.run("buildctl", args...)
	return d, err
}
