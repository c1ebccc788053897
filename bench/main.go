// Command bench measures aishell against the ways it replaces, on the same machine in one run,
// and writes the results into BENCHMARKS.md. It drives the real aishell binary (AISHELL_BIN,
// default bin/aishell), buildctl and containerd of the environment in CONTAINERD_ADDRESS and
// BUILDKIT_HOST (make env-up).
//
//	go run ./bench update   # harness update: one snapshot vs the ancestor's baked image + extension
//	go run ./bench start    # start latency: runc, ctr, nerdctl, aishell exec
//	go run ./bench disk     # harness bytes for N projects
//	go run ./bench rootless # start latency in rootless mode beside root mode (make env-up-rootless)
//	go run ./bench scale    # a harness bump for N projects with extensions, three ways
//	go run ./bench memory   # aishell's peak RSS; disk one more project with an extension adds
//	go run ./bench all
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/snapshot"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench update|start|disk|rootless|network|scale|memory|all")
		os.Exit(2)
	}
	var err error
	ctx := context.Background()
	switch os.Args[1] {
	case "update":
		err = benchUpdate(ctx)
	case "start":
		err = benchStart(ctx)
	case "disk":
		err = benchDisk(ctx)
	case "rootless":
		err = benchRootless(ctx)
	case "network":
		err = benchNetwork(ctx)
	case "scale":
		err = benchScale(ctx)
	case "memory":
		err = benchMemory(ctx)
	case "all":
		for _, f := range []func(context.Context) error{benchStart, benchUpdate, benchDisk, benchRootless, benchNetwork, benchScale, benchMemory} {
			if err = f(ctx); err != nil {
				break
			}
		}
	default:
		err = fmt.Errorf("unknown benchmark %q (known: update, start, disk, rootless, network, scale, memory, all)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// env is what every benchmark shares: the binary, a private config dir, the daemons.
type env struct {
	bin    string
	xdg    string
	client *containerd.Client
	ns     string
	// maxRSS is the peak resident set of the last command run, in KiB (Linux's ru_maxrss: the
	// process's own, or a child's it waited for if that was larger).
	maxRSS int64
}

func newEnv() (*env, error) {
	bin := os.Getenv("AISHELL_BIN")
	if bin == "" {
		bin = "bin/aishell"
	}
	bin, _ = filepath.Abs(bin)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("aishell binary: %w (run make build)", err)
	}
	addr := os.Getenv("CONTAINERD_ADDRESS")
	if addr == "" || os.Getenv("BUILDKIT_HOST") == "" {
		return nil, fmt.Errorf("CONTAINERD_ADDRESS and BUILDKIT_HOST must be set (make env-up; . /tmp/aishell-test-env/env)")
	}
	ns := os.Getenv("CONTAINERD_NAMESPACE")
	if ns == "" {
		ns = "aishell"
	}
	c, err := containerd.New(addr, containerd.WithDefaultNamespace(ns))
	if err != nil {
		return nil, err
	}
	xdg, err := os.MkdirTemp("", "aishell-bench-")
	if err != nil {
		return nil, err
	}
	return &env{bin: bin, xdg: xdg, client: c, ns: ns}, nil
}

func (e *env) close() {
	e.client.Close()
	os.RemoveAll(e.xdg)
}

// run executes a command, echoing it, and returns its wall time.
func (e *env) run(name string, args ...string) (time.Duration, string, error) {
	return e.runIn("", name, args...)
}

func (e *env) runIn(dir, name string, args ...string) (time.Duration, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.xdg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	fmt.Fprintf(os.Stderr, "$ %s %s\n", filepath.Base(name), strings.Join(args, " "))
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	e.maxRSS = 0
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			e.maxRSS = ru.Maxrss
		}
	}
	if err != nil {
		return took, out.String(), fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 30))
	}
	fmt.Fprintf(os.Stderr, "  %s\n", took.Round(10*time.Millisecond))
	return took, out.String(), nil
}

func (e *env) aishell(args ...string) (time.Duration, string, error) { return e.run(e.bin, args...) }

func (e *env) aishellIn(dir string, args ...string) (time.Duration, string, error) {
	return e.runIn(dir, e.bin, args...)
}

func (e *env) removeImage(ref string) {
	e.client.ImageService().Delete(context.Background(), ref)
}

func (e *env) snapshotSize(ref string) int64 {
	ctx := context.Background()
	chain, err := snapshot.ChainID(ctx, e.client, ref)
	if err != nil {
		return 0
	}
	n, _ := snapshot.Size(ctx, e.client, "overlayfs", chain)
	return n
}

// imageSize is the unpacked size of an image: the sum of its layers' snapshot sizes.
func (e *env) imageSize(ref string) int64 {
	ctx := context.Background()
	img, err := e.client.GetImage(ctx, ref)
	if err != nil {
		return 0
	}
	n, _ := img.Usage(ctx, containerd.WithSnapshotUsage())
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// machine describes where the numbers were taken.
func machine() string {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	ver := func(bin string, args ...string) string {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return fmt.Sprintf("%s, %d cores, kernel %s; %s; %s; %s; %s", host, runtime.NumCPU(), strings.TrimSpace(string(kernel)),
		ver("containerd", "--version"), ver("buildkitd", "--version"), ver("runc", "--version"), runtime.Version())
}

// writeSection replaces the text between the section's markers in BENCHMARKS.md (or appends it).
func writeSection(name, body string) error {
	const path = "BENCHMARKS.md"
	begin, end := "<!-- begin "+name+" -->", "<!-- end "+name+" -->"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(old)
	if doc == "" {
		doc = "# Benchmarks\n\nMeasured by `make bench*` on one machine in one run each; ratios compare numbers taken in the same run.\n"
	}
	section := begin + "\n" + body + end
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i >= 0 && j > i {
		doc = doc[:i] + section + doc[j+len(end):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// resolveVersions pins every harness to the version its dist-tag names now.
func resolveVersions(ctx context.Context, names []string) (map[string]string, error) {
	r := harness.NewResolver("")
	out := map[string]string{}
	for _, n := range names {
		h, err := harness.Lookup(n)
		if err != nil {
			return nil, err
		}
		v, err := r.Resolve(ctx, h.Package, "latest")
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}
