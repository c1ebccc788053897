package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// aishell builds for the Macs the VM forwarder serves, darwin/arm64 and darwin/amd64, from the
// same source (no cgo). The sizes are logged (go test -v).
func TestDarwinBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds for darwin: not in -short")
	}
	for _, arch := range []string{"arm64", "amd64"} {
		out := filepath.Join(t.TempDir(), "aishell-darwin-"+arch)
		cmd := exec.Command("go", "build", "-o", out, "../cmd/aishell")
		cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH="+arch, "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=darwin GOARCH=%s go build ./cmd/aishell: %v\n%s", arch, err, b)
			continue
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("darwin/%s: %d bytes (%.1f MiB)", arch, fi.Size(), float64(fi.Size())/(1<<20))
	}
}
