package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/harness"
)

// scaleHarnesses are the four harnesses of the realistic set.
var scaleHarnesses = []string{"claude", "codex", "gemini", "opencode"}

// scaleCounts are the project counts measured; AISHELL_BENCH_SCALE_N (e.g. "1") narrows them
// for a quick run while developing.
func scaleCounts() ([]int, error) {
	spec := os.Getenv("AISHELL_BENCH_SCALE_N")
	if spec == "" {
		spec = "1,3,5"
	}
	var ns []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(ns) > 0 && n <= ns[len(ns)-1]) {
			return nil, fmt.Errorf("AISHELL_BENCH_SCALE_N=%q: want increasing counts like 1,3,5", spec)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// scaleProject is one project with an extension, seen by the three ways.
type scaleProject struct {
	dir    string // the project (git repository with .aishell/Dockerfile)
	ext    string // aishell's extension image of it
	baked  string // its extension FROM the current baked image (the baked way)
	number int
}

// The project's extension: the packages the update bench's extension installs, in a step of
// its own per project (marked with its number), so it is rebuilt for it and never taken from
// another project's cache, and its BuildKit records can be told from everyone else's.
func projectExtension(from string, n int) string {
	return fmt.Sprintf("FROM %s\nRUN echo %s-%d > /etc/aishell-bench-project && %s", from, benchMarker, n, strings.TrimPrefix(extensionPackages, "RUN "))
}

// benchMarker is in every build step of the scale and memory benches.
const benchMarker = "aishell-bench-project"

// benchScale measures a one-harness bump (claude) with four harnesses enabled, for N projects
// that each have an extension, three ways, until every project runs again:
//
//	baked:   the harnesses baked into one image (the ancestor's Docker-era way): rebuild its
//	         harness stage, then rebuild every project's extension FROM it, then run;
//	volume:  the ancestor's last way, one volume per harness set: a new volume into which every
//	         harness of the set is npm-installed in a container of the foundation; extensions
//	         (FROM a base without harnesses) stay; then run with the volume mounted;
//	aishell: `aishell update` builds one snapshot; each project's next run checks its
//	         extension (fresh) and runs.
//
// The bumps chain: each bumps claude to a later published version, so every update builds an
// image nobody had (no shared image is deleted to make a build cold). AISHELL_BENCH_SCALE_REPS
// (default 3) bumps are measured per N.
func benchScale(ctx context.Context) error {
	counts, err := scaleCounts()
	if err != nil {
		return err
	}
	reps := 3
	if s := os.Getenv("AISHELL_BENCH_SCALE_REPS"); s != "" {
		if reps, err = strconv.Atoi(s); err != nil || reps < 1 {
			return fmt.Errorf("AISHELL_BENCH_SCALE_REPS=%q: want a count", s)
		}
	}
	// A bump holds a baked image (its BuildKit record, unpacked snapshot and blob: ~4.5 GB
	// while it is built) and a harness volume (~1.9 GB) at once; the store and the volume are
	// on the same disk here. Refuse to start rather than fill a disk others build on.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &fs); err == nil {
		if free := int64(fs.Bavail) * fs.Bsize; free < scaleDiskNeed {
			return fmt.Errorf("the scale bench needs about %s free on the disk of %s, which has %s", mb(scaleDiskNeed), os.TempDir(), mb(free))
		}
	}
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	versions, err := resolveVersions(ctx, scaleHarnesses[1:])
	if err != nil {
		return err
	}
	claude, _ := harness.Lookup("claude")
	start, bumps, err := unbuiltVersions(ctx, e, claude, len(counts)*reps)
	if err != nil {
		return err
	}
	versions["claude"] = start
	fmt.Fprintf(os.Stderr, "scale: N = %v, %d bumps each, claude %s -> %s\n", counts, reps, start, strings.Join(bumps, " -> "))

	// Images this bench made are removed as soon as nothing needs them, the rest at the end,
	// with BuildKit's records of the builds (the baked harness stage alone is ~1.8 GB a build).
	var created []string
	removeNow := func(refs ...string) {
		for _, ref := range refs {
			e.removeImage(ref)
		}
	}
	defer func() {
		removeNow(created...)
		e.pruneBenchRecords(context.WithoutCancel(ctx))
	}()

	// aishell: the four harnesses, claude at start.
	var flags []string
	for _, n := range scaleHarnesses {
		flags = append(flags, "--with-"+n, "--"+n+"-version="+versions[n])
		h, _ := harness.Lookup(n)
		if _, err := e.client.ImageService().Get(ctx, h.ImageRef(versions[n])); err != nil {
			created = append(created, h.ImageRef(versions[n]))
		}
	}
	if _, _, err := e.aishell(append([]string{"build", "--progress=quiet"}, flags...)...); err != nil {
		return err
	}

	// The baked image before the first bump (untimed; its system stage is the foundation's).
	work, err := os.MkdirTemp("", "aishell-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	gen := 0 // the baked image's generation: one per bump
	bakedRef := func(g int) string { return fmt.Sprintf("docker.io/aishell-bench/scale-baked:g%d", g) }
	if _, _, err := e.buildBaked(work, versions, bakedRef(0), false); err != nil {
		return err
	}
	created = append(created, bakedRef(0))

	var projects []*scaleProject
	var results []scaleRow
	from, next := start, 0
	for _, n := range counts {
		// New projects join with their extension built on both sides before the bumps.
		for len(projects) < n {
			p, err := e.newScaleProject(work, len(projects)+1)
			if err != nil {
				return err
			}
			projects = append(projects, p)
			created = append(created, p.ext)
			if _, _, err := e.aishellIn(p.dir, "ext", "trust"); err != nil {
				return err
			}
			if _, _, err := e.aishellIn(p.dir, "exec", "true"); err != nil {
				return err
			}
			p.baked = fmt.Sprintf("docker.io/aishell-bench/scale-ext-p%d:g%d", p.number, gen)
			if _, err := e.buildBakedExtension(work, p, bakedRef(gen)); err != nil {
				return err
			}
			created = append(created, p.baked)
		}
		row := scaleRow{n: n}
		for rep := 0; rep < reps; rep++ {
			to := bumps[next]
			next++
			var r scaleRep

			// a. baked: the harness stage again with claude `to`, then each extension FROM it.
			// What the last bump built goes first (the disk is shared and the baked image large).
			var old []string
			for _, p := range projects {
				old = append(old, p.baked)
			}
			removeNow(append(old, bakedRef(gen))...)
			e.pruneBenchRecords(ctx)
			versions["claude"] = to
			d, out, err := e.buildBaked(work, versions, bakedRef(gen+1), true)
			if err != nil {
				return err
			}
			if _, cached := runSteps(out); cached == 0 {
				return fmt.Errorf("the baked image's system stage was built again, not taken from the cache:\n%s", tail(out, 20))
			}
			created = append(created, bakedRef(gen+1))
			r.bakedImage = d
			for _, p := range projects {
				p.baked = fmt.Sprintf("docker.io/aishell-bench/scale-ext-p%d:g%d", p.number, gen+1)
				d, err := e.buildBakedExtension(work, p, bakedRef(gen+1))
				if err != nil {
					return err
				}
				created = append(created, p.baked)
				r.bakedExts += d
			}
			for _, p := range projects {
				d, err := e.ctrVersion(p.baked, nil, "claude", to)
				if err != nil {
					return err
				}
				r.bakedRuns += d
			}
			gen++
			e.pruneBenchRecords(ctx)

			// b. volume: a new volume with all four harnesses installed into it; the extensions stay.
			vol, err := os.MkdirTemp(work, "volume-")
			if err != nil {
				return err
			}
			if r.volumeInstall, err = e.populateVolume(vol, versions); err != nil {
				return err
			}
			r.volumeSize = dirSize(vol)
			for _, p := range projects {
				d, err := e.ctrVersion(p.ext, &vol, "/tools/npm/bin/claude", to)
				if err != nil {
					return err
				}
				r.volumeRuns += d
			}
			os.RemoveAll(vol)

			// c. aishell: one snapshot, then each project's next run.
			created = append(created, claude.ImageRef(to))
			r.update, out, err = e.aishell("update", "--claude-version="+to, "--no-cache", "--progress=plain")
			if err != nil {
				return err
			}
			if !strings.Contains(out, from+" -> "+to) {
				return fmt.Errorf("the update did not report claude %s -> %s:\n%s", from, to, tail(out, 20))
			}
			for _, p := range projects {
				d, out, err := e.aishellIn(p.dir, "exec", "claude", "--version")
				if err != nil {
					return err
				}
				if !strings.Contains(out, to) {
					return fmt.Errorf("project %d after the update does not run claude %s:\n%s", p.number, to, out)
				}
				r.extRebuilds += strings.Count(out, "building extension")
				r.runs += d
			}
			if from != start {
				removeNow(claude.ImageRef(from)) // ours, and no config names it any more
			}
			from = to
			e.pruneBenchRecords(ctx)
			row.reps = append(row.reps, r)
			fmt.Fprintf(os.Stderr, "scale: N=%d claude %s: baked %s volume %s aishell %s\n", n, to, secs(r.baked()), secs(r.volume()), secs(r.aishell()))
		}
		results = append(results, row)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## A harness bump at scale (`go run ./bench scale`)\n\n")
	fmt.Fprintf(&b, "Run %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	versions["claude"] = start + " -> " + strings.Join(bumps, " -> ")
	fmt.Fprintf(&b, "Four harnesses enabled: %s. N projects, each with an extension "+
		"(`RUN echo <project> > /etc/aishell-bench-project && %s`). %d claude bumps per N, one after the other (each to a later "+
		"published version that had no image here, so each update builds one; versions others had built are skipped); each time is "+
		"wall time from the bump until all N projects have run `claude --version` again, the three ways measured one after the other "+
		"for each bump. Medians of the %d bumps; the ratios are of the medians.\n\n",
		versionList4(versions), strings.TrimPrefix(strings.TrimSpace(extensionPackages), "RUN "), reps, reps)
	fmt.Fprintf(&b, "| N | baked image | volume per harness set | aishell | baked/aishell | volume/aishell |\n|---|---|---|---|---|---|\n")
	for _, row := range results {
		bk, vol, ai := row.median(scaleRep.baked), row.median(scaleRep.volume), row.median(scaleRep.aishell)
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.1fx | %.1fx |\n", row.n, secs(bk), secs(vol), secs(ai), bk.Seconds()/ai.Seconds(), vol.Seconds()/ai.Seconds())
	}
	fmt.Fprintf(&b, "\nWhere the time went (medians; every bump's total in brackets):\n\n"+
		"| N | baked: image + N extensions + N runs | volume: install + N runs | aishell: update + N runs | extension rebuilds by aishell |\n|---|---|---|---|---|\n")
	for _, row := range results {
		var rebuilds int
		for _, r := range row.reps {
			rebuilds += r.extRebuilds
		}
		fmt.Fprintf(&b, "| %d | %s + %s + %s [%s] | %s + %s [%s] | %s + %s [%s] | %d |\n", row.n,
			secs(row.median(func(r scaleRep) time.Duration { return r.bakedImage })),
			secs(row.median(func(r scaleRep) time.Duration { return r.bakedExts })),
			secs(row.median(func(r scaleRep) time.Duration { return r.bakedRuns })), row.all(scaleRep.baked),
			secs(row.median(func(r scaleRep) time.Duration { return r.volumeInstall })),
			secs(row.median(func(r scaleRep) time.Duration { return r.volumeRuns })), row.all(scaleRep.volume),
			secs(row.median(func(r scaleRep) time.Duration { return r.update })),
			secs(row.median(func(r scaleRep) time.Duration { return r.runs })), row.all(scaleRep.aishell), rebuilds)
	}
	vs := results[len(results)-1].reps[0].volumeSize
	fmt.Fprintf(&b, "\nCommands, per bump:\n\n"+
		"- baked: `buildctl build --frontend dockerfile.v0 --opt no-cache=harnesses` of the foundation's Dockerfile plus a `harnesses` stage "+
		"running `npm install --global` of the four packages (system stage cached, as Docker's layer cache would keep it); then per project "+
		"`buildctl build --opt no-cache=` of its extension `FROM` the new image (a distinct Dockerfile and tag per project, every step run); "+
		"then per project `ctr run --rm --net-host EXT claude --version`.\n"+
		"- volume: the ancestor's `populate-volume` (src/aishell/docker/volume.clj, v3.21.0): a fresh directory standing for the new "+
		"`aishell-harness-<hash>` volume, `ctr run --rm --net-host --mount type=bind,src=VOL,dst=/tools aishell:foundation sh -c "+
		"'export NPM_CONFIG_PREFIX=/tools/npm && npm install -g <four packages> && chmod -R a+rwX /tools'` (%s in the volume); then per project "+
		"`ctr run --rm --net-host --mount ...,dst=/tools,ro EXT /tools/npm/bin/claude --version` in its extension (`FROM` the foundation, "+
		"not rebuilt). The ancestor fetched opencode's binary from GitHub; GitHub is out of reach here, so opencode comes from npm "+
		"(`opencode-ai`, the same binary).\n"+
		"- aishell: `aishell update --claude-version=V --no-cache`, then in each project `aishell exec claude --version`.\n\n"+
		"The ancestors' runs use `ctr run`, which does less than `docker run` did (and less than `aishell exec`): their columns are a lower bound. "+
		"The volume install does not depend on N (the same four-package install every bump); it is measured at every bump anyway, "+
		"so its spread across rows is the machine's noise (2 cores, shared with other work while this ran).\n\n", mb(vs))
	fmt.Print(b.String())
	return writeSection("scale", b.String())
}

// scaleDiskNeed is the free disk the scale bench wants before it starts.
const scaleDiskNeed = 10e9

// scaleRep is one bump for N projects, the three ways.
type scaleRep struct {
	bakedImage, bakedExts, bakedRuns time.Duration
	volumeInstall, volumeRuns        time.Duration
	update, runs                     time.Duration
	extRebuilds                      int
	volumeSize                       int64
}

func (r scaleRep) baked() time.Duration   { return r.bakedImage + r.bakedExts + r.bakedRuns }
func (r scaleRep) volume() time.Duration  { return r.volumeInstall + r.volumeRuns }
func (r scaleRep) aishell() time.Duration { return r.update + r.runs }

// scaleRow is the bumps measured for one N.
type scaleRow struct {
	n    int
	reps []scaleRep
}

func (row scaleRow) median(f func(scaleRep) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range row.reps {
		ds = append(ds, f(r))
	}
	return median(ds)
}

func (row scaleRow) all(f func(scaleRep) time.Duration) string {
	var parts []string
	for _, r := range row.reps {
		parts = append(parts, fmt.Sprintf("%.1f", f(r).Seconds()))
	}
	return strings.Join(parts, ", ")
}

func versionList4(v map[string]string) string {
	var parts []string
	for _, n := range scaleHarnesses {
		parts = append(parts, n+" "+v[n])
	}
	return strings.Join(parts, ", ")
}

// newScaleProject makes project number n: a git repository with its own extension.
func (e *env) newScaleProject(work string, n int) (*scaleProject, error) {
	dir := filepath.Join(work, fmt.Sprintf("project-%d", n))
	if err := os.MkdirAll(filepath.Join(dir, ".aishell"), 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git init %s: %v %s", dir, err, out)
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	df := projectExtension("aishell:foundation", n)
	if err := os.WriteFile(filepath.Join(dir, ".aishell", "Dockerfile"), []byte(df), 0o644); err != nil {
		return nil, err
	}
	return &scaleProject{dir: dir, ext: build.ExtensionRef(dir), number: n}, nil
}

// npmSpecs are package@version of the harnesses, in the order given.
func npmSpecs(names []string, versions map[string]string) []string {
	var specs []string
	for _, n := range names {
		h, _ := harness.Lookup(n)
		specs = append(specs, h.Package+"@"+versions[n])
	}
	return specs
}

// buildBaked builds the baked image of the four harnesses (ancestorDockerfile's layout) as ref;
// fresh runs the harness stage uncached.
func (e *env) buildBaked(work string, versions map[string]string, ref string, fresh bool) (time.Duration, string, error) {
	df := strings.Replace(string(build.FoundationDockerfile()), "FROM ${BASE_IMAGE}\n", "FROM ${BASE_IMAGE} AS system\n", 1) +
		"\nFROM system AS harnesses\n" +
		"RUN --mount=type=secret,id=ca-bundle,required=false \\\n" +
		"    : " + benchMarker + " \\\n" +
		" && if [ -s /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle; fi \\\n" +
		" && npm install --global --no-fund --no-audit --registry " + harness.Registry("") + " " + strings.Join(npmSpecs(scaleHarnesses, versions), " ") + " \\\n" +
		" && npm cache clean --force\n"
	var extra []string
	if fresh {
		extra = append(extra, "--opt", "no-cache=harnesses")
	}
	return e.buildctl(filepath.Join(work, "baked"), df, ref, extra...)
}

// buildBakedExtension builds p's extension FROM the baked image base, every step run again.
func (e *env) buildBakedExtension(work string, p *scaleProject, base string) (time.Duration, error) {
	d, out, err := e.buildctl(filepath.Join(work, fmt.Sprintf("baked-ext-%d", p.number)), projectExtension(base, p.number), p.baked, "--opt", "no-cache=")
	if err != nil {
		return d, err
	}
	if ran, cached := runSteps(out); cached > 0 || ran < 1 {
		return d, fmt.Errorf("the extension build of project %d did not run every step:\n%s", p.number, tail(out, 20))
	}
	return d, nil
}

// buildctl builds dockerfile (written into dir) with the environment's buildkitd into the
// image ref, unpacked, as the ancestor's builds and aishell's do.
func (e *env) buildctl(dir, dockerfile, ref string, extra ...string) (time.Duration, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return 0, "", err
	}
	args := []string{"--addr", os.Getenv("BUILDKIT_HOST"), "build", "--progress=plain",
		"--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--opt", "image-resolve-mode=local",
		"--output", "type=image,name=" + ref + ",unpack=true,compression=zstd"}
	if ca := "/etc/ssl/certs/ca-certificates.crt"; config.FileExists(ca) {
		args = append(args, "--secret", "id=ca-bundle,src="+ca)
	}
	return e.run("buildctl", append(args, extra...)...)
}

// populateVolume installs the four harnesses into vol the way the ancestor populated a harness
// volume: one container of the foundation with the volume at /tools, npm's global prefix in it.
func (e *env) populateVolume(vol string, versions map[string]string) (time.Duration, error) {
	script := "if [ -s /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle; fi" +
		" && export NPM_CONFIG_PREFIX=/tools/npm && npm install -g --registry " + harness.Registry("") + " " +
		strings.Join(npmSpecs(scaleHarnesses, versions), " ") + " && chmod -R a+rwX /tools"
	args := []string{"--address", os.Getenv("CONTAINERD_ADDRESS"), "-n", e.ns, "run", "--rm", "--net-host",
		"--mount", "type=bind,src=" + vol + ",dst=/tools,options=rbind:rw"}
	if ca := "/etc/ssl/certs/ca-certificates.crt"; config.FileExists(ca) {
		args = append(args, "--mount", "type=bind,src="+ca+",dst=/run/secrets/ca-bundle,options=rbind:ro")
	}
	args = append(args, build.FoundationImage, fmt.Sprintf("bench-volume-%d-%d", os.Getpid(), time.Now().UnixNano()), "sh", "-c", script)
	d, _, err := e.run("ctr", args...)
	if err != nil {
		return d, err
	}
	for _, n := range scaleHarnesses {
		h, _ := harness.Lookup(n)
		if _, err := os.Stat(filepath.Join(vol, "npm", "bin", h.Bin)); err != nil {
			return d, fmt.Errorf("the volume has no %s: %w", h.Bin, err)
		}
	}
	return d, nil
}

// ctrVersion runs `bin --version` in image (with vol at /tools when given) and checks it says want.
func (e *env) ctrVersion(image string, vol *string, bin, want string) (time.Duration, error) {
	var opts []string
	if vol != nil {
		opts = append(opts, "--mount", "type=bind,src="+*vol+",dst=/tools,options=rbind:ro")
	}
	args := []string{"--address", os.Getenv("CONTAINERD_ADDRESS"), "-n", e.ns, "run", "--rm", "--net-host"}
	args = append(args, opts...)
	args = append(args, image, fmt.Sprintf("bench-run-%d-%d", os.Getpid(), time.Now().UnixNano()), bin, "--version")
	d, out, err := e.run("ctr", args...)
	if err != nil {
		return d, err
	}
	if !strings.Contains(out, want) {
		return d, fmt.Errorf("%s --version in %s: want %s, got %q", bin, image, want, out)
	}
	return d, nil
}

var stepLine = regexp.MustCompile(`(?m)^(#\d+) \[[^\]]*\] RUN `)

// runSteps counts the RUN steps of a buildctl --progress=plain output that ran and that were
// taken from the cache.
func runSteps(out string) (ran, cached int) {
	for _, m := range stepLine.FindAllStringSubmatch(out, -1) {
		if strings.Contains(out, "\n"+m[1]+" CACHED\n") {
			cached++
		} else {
			ran++
		}
	}
	return ran, cached
}

// pruneBenchRecords removes BuildKit's records of the benches' own build steps (those marked
// with benchMarker) and of the steps built on them, leaves first; records of anyone else's
// builds are never touched. Failures only leave cache behind.
func (e *env) pruneBenchRecords(ctx context.Context) {
	c, err := bkclient.New(ctx, os.Getenv("BUILDKIT_HOST"))
	if err != nil {
		return
	}
	defer c.Close()
	for pass := 0; pass < 8; pass++ {
		du, err := c.DiskUsage(ctx)
		if err != nil {
			return
		}
		ours := map[string]bool{}
		for _, u := range du {
			if strings.Contains(u.Description, benchMarker) {
				ours[u.ID] = true
			}
		}
		for grew := true; grew; {
			grew = false
			for _, u := range du {
				for _, p := range u.Parents {
					if ours[p] && !ours[u.ID] {
						ours[u.ID], grew = true, true
					}
				}
			}
		}
		hasChild := map[string]bool{}
		for _, u := range du {
			for _, p := range u.Parents {
				hasChild[p] = true
			}
		}
		pruned := 0
		for _, u := range du {
			if !ours[u.ID] || hasChild[u.ID] || u.InUse {
				continue
			}
			ch := make(chan bkclient.UsageInfo)
			done := make(chan struct{})
			go func() {
				for range ch {
					pruned++
				}
				close(done)
			}()
			// PruneAll: a record whose layers an image has (or had: BuildKit remembers) is
			// "shared" and skipped otherwise; the image's own snapshots are not BuildKit's.
			err := c.Prune(ctx, ch, bkclient.WithFilter([]string{"id==" + u.ID}), bkclient.PruneAll)
			close(ch)
			<-done
			if err != nil {
				return
			}
		}
		if pruned == 0 {
			return
		}
	}
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

var semverRe = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

// unbuiltVersions are the newest count published releases of h whose harness images are not in
// the store (oldest first), and the release before the first of them to bump from, asked of
// the registry in one request. An image someone else built is neither ours to delete nor a cold
// build, so it is skipped.
func unbuiltVersions(ctx context.Context, e *env, h harness.Harness, count int) (from string, to []string, err error) {
	u := harness.Registry("") + strings.Replace(url.PathEscape(h.Package), "%40", "@", 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("versions of %s: %w", h.Package, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("versions of %s: the registry answered %s", h.Package, resp.Status)
	}
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&doc); err != nil {
		return "", nil, fmt.Errorf("versions of %s: %w", h.Package, err)
	}
	var releases []string
	for v := range doc.Versions {
		if semverRe.MatchString(v) {
			releases = append(releases, v)
		}
	}
	sortReleases(releases)
	for i := len(releases) - 1; i > 0; i-- {
		if _, err := e.client.ImageService().Get(ctx, h.ImageRef(releases[i])); err == nil {
			continue
		}
		to = append([]string{releases[i]}, to...)
		if len(to) == count {
			return releases[i-1], to, nil
		}
	}
	return "", nil, fmt.Errorf("%s: fewer than %d published versions without an image here", h.Package, count)
}

// sortReleases sorts x.y.z versions in semver order.
func sortReleases(vs []string) {
	key := func(v string) [3]int {
		m := semverRe.FindStringSubmatch(v)
		var k [3]int
		for i := range k {
			k[i], _ = strconv.Atoi(m[i+1])
		}
		return k
	}
	sort.Slice(vs, func(i, j int) bool {
		a, b := key(vs[i]), key(vs[j])
		for n := range a {
			if a[n] != b[n] {
				return a[n] < b[n]
			}
		}
		return false
	})
}
