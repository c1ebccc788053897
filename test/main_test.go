// Package test holds aishell's integration tests. They drive the real aishell binary (built
// once in TestMain) against the private containerd and buildkitd that test/env starts.
//
// Without that environment a plain `go test ./...` skips them with the reason; under `make test`
// (AISHELL_TEST_REQUIRE=1) or in CI (CI=true) a missing environment fails them.
package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
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
	loadEnv()
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

// loadEnv sets the variables test/env/up.sh wrote when they are not in the environment
// already, so `go test ./test/` works after `make env-up` without sourcing anything.
func loadEnv() {
	if os.Getenv("CONTAINERD_ADDRESS") != "" {
		return
	}
	e, err := readTestEnv(filepath.Join(envDir(), "env.json"))
	if err != nil {
		envErr = fmt.Errorf("no test environment (%v): run `make env-up`", err)
		return
	}
	for k, v := range e.Env {
		os.Setenv(k, v)
	}
	if e.PathPrepend != "" {
		os.Setenv("PATH", e.PathPrepend+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
}

// testEnv is an environment the test/env scripts describe in env.json (write_env in
// test/env/common.sh): variables to set as they are, and a directory to put first on PATH.
type testEnv struct {
	Env         map[string]string `json:"env"`
	PathPrepend string            `json:"path_prepend"`
}

// envDir is where the test environment lives: $AISHELL_TEST_DIR, as for the test/env scripts
// (the env file sets it), or their default.
func envDir() string {
	if d := os.Getenv("AISHELL_TEST_DIR"); d != "" {
		return d
	}
	return "/tmp/aishell-test-env"
}

func readTestEnv(path string) (testEnv, error) {
	var e testEnv
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%s: %v", path, err)
	}
	if len(e.Env) == 0 {
		return e, fmt.Errorf("%s names no variables", path)
	}
	return e, nil
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

// cmdTimeout bounds every command a test runs to its end (runCmd).
const cmdTimeout = 30 * time.Minute

// aishellCmd is the binary under test with args, run in dir (the test's working directory when
// dir is "") with env (KEY=VALUE entries) over the test's own environment: how every test
// starts it, whether to its end (aishell) or in the background.
func aishellCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(aishellBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// aishell runs the binary to its end (see aishellCmd) and records what it did.
func aishell(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	what := "aishell " + strings.Join(args, " ")
	if dir != "" {
		what = "(in " + dir + ") " + what
	}
	return runCmd(t, aishellCmd(dir, env, args...), what)
}

// runCmd runs cmd to its end, killing it after cmdTimeout, and records what it did.
func runCmd(t *testing.T, cmd *exec.Cmd, what string) result {
	t.Helper()
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(cmdTimeout, func() {
		timedOut.Store(true)
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	timer.Stop()
	r := result{Stdout: so.String(), Stderr: se.String(), Took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s -> exit %d in %s\nstdout:\n%s\nstderr:\n%s", what, r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
	if timedOut.Load() {
		// Errorf, not Fatalf: runCmd may run in a goroutine of the test.
		t.Errorf("%s: killed after %s", what, cmdTimeout)
	}
	return r
}
