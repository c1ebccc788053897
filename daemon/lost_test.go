package daemon

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestLost(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.Unavailable, "error reading from server: EOF"),
		fmt.Errorf("wait: %w", status.Error(codes.Unavailable, "connection error")),
		fmt.Errorf("task status: %w", errdefs.ErrUnavailable),
		io.EOF,
		fmt.Errorf("read: %w", syscall.ECONNRESET),
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED),
	} {
		if !Lost(err) {
			t.Errorf("Lost(%v) = false, want true", err)
		}
	}
	for _, err := range []error{
		nil,
		status.Error(codes.NotFound, "task x not found"),
		fmt.Errorf("kill: %w", errdefs.ErrNotFound),
		errors.New(`process "/bin/sh -c false" did not complete successfully: exit code: 1`),
	} {
		if Lost(err) {
			t.Errorf("Lost(%v) = true, want false", err)
		}
	}
}
