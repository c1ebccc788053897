package daemon

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/aishell/aishell/config"
)

// TestShortenedKeepsChain checks that errors shown by their short text still unwrap to the
// original error.
func TestShortenedKeepsChain(t *testing.T) {
	orig := &fs.PathError{Op: "stat", Path: "/x", Err: fs.ErrNotExist}
	err := shortened(orig, "no such socket")
	if err.Error() != "no such socket" {
		t.Errorf("Error() = %q", err)
	}
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe != orig {
		t.Errorf("the chain of %v does not reach %v", err, orig)
	}

	// tlsOptions shows a missing file in a few words and keeps the *fs.PathError.
	missing := filepath.Join(t.TempDir(), "ca.pem")
	_, err = tlsOptions("tcp://h:1234", config.TLS{CACert: missing})
	if err == nil || err.Error() != "TLS file "+missing+": no such socket" {
		t.Fatalf("tlsOptions = %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != missing {
		t.Errorf("errors.Is/As do not reach the stat error through %v", err)
	}

	// As Worker wraps a failed ListWorkers.
	rpc := errString(`rpc error: code = Unavailable desc = "error reading server preface: EOF"`)
	err = listWorkersError(rpc)
	if err.Error() != "list buildkitd workers: error reading server preface: EOF" {
		t.Errorf("Error() = %q", err)
	}
	var es errString
	if !errors.Is(err, rpc) || !errors.As(err, &es) || es != rpc {
		t.Errorf("the chain of %v does not reach %v", err, rpc)
	}
}
