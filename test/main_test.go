// Package test holds aishell's integration tests. They drive the real aishell binary (built
// once in TestMain) against the private containerd and buildkitd that test/env starts.
//
// Without that environment a plain `go test ./...` skips them with the reason; under `make test`
// (AISHELL_TEST_REQUIRE=1) or in CI (CI=true) a missing environment fails them.
package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

var (
	aishellBin string // path of the binary under test
	envErr     error  // why the environment is unusable, if it is
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	loadEnvFile()
	dir, err := os.MkdirTemp("", "aishell-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The rootless tests run the binary as an unprivileged user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aishellBin = filepath.Join(dir, "aishell")
	out, err := exec.Command("go", "build", "-o", aishellBin, "../cmd/aishell").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build aishell: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// loadEnvFile reads the variables test/env/up.sh wrote when they are not in the environment
// already, so `go test ./test/` works after `make env-up` without sourcing anything.
func loadEnvFile() {
	if os.Getenv("CONTAINERD_ADDRESS") != "" {
		return
	}
	vars, err := readEnvFile(envFilePath())
	if err != nil {
		envErr = fmt.Errorf("no test environment (%v): run `make env-up`", err)
		return
	}
	for k, v := range vars {
		if k == "PATH" {
			v = strings.ReplaceAll(v, "$PATH", os.Getenv("PATH"))
		}
		os.Setenv(k, v)
	}
}

func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("AISHELL_TEST_REQUIRE") == "1"
}

// needEnv skips (or, under make test and CI, fails) a test that needs the daemons, and returns
// a containerd client for the test's own checks.
func needEnv(t *testing.T) *containerd.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	stop := func(format string, args ...any) {
		t.Helper()
		if required() {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if envErr != nil {
		stop("%v", envErr)
	}
	addr := os.Getenv("CONTAINERD_ADDRESS")
	if _, err := os.Stat(addr); err != nil {
		stop("containerd socket %q: %v (run `make env-up`)", addr, err)
	}
	c, err := connect(addr, namespace())
	if err != nil {
		stop("%v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connect opens containerd at addr and checks that it answers.
func connect(addr, ns string) (*containerd.Client, error) {
	c, err := containerd.New(addr, containerd.WithDefaultNamespace(ns), containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd client for %s: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ok, err := c.IsServing(ctx); err != nil || !ok {
		c.Close()
		return nil, fmt.Errorf("containerd at %s is not serving: %v", addr, err)
	}
	return c, nil
}

func namespace() string {
	if ns := os.Getenv("CONTAINERD_NAMESPACE"); ns != "" {
		return ns
	}
	return "aishell"
}

// result is what one run of the binary did.
type result struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

// aishell runs the binary with args; extraEnv entries (KEY=VALUE) override the environment.
func aishell(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aishellBin, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: so.String(), Stderr: se.String(), Took: time.Since(start)}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("aishell %v: %v", args, err)
		}
		r.Code = ee.ExitCode()
	}
	t.Logf("aishell %s -> exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
	return r
}
