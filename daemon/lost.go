package daemon

import (
	"errors"
	"io"
	"syscall"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Lost reports whether err says that the connection to a daemon is gone or cannot be made now,
// rather than that the daemon refused or failed a request: gRPC's Unavailable (the server
// went away under a call, or nothing listens while the client redials), containerd's
// ErrUnavailable, or the socket closed under the client.
func Lost(err error) bool {
	if err == nil {
		return false
	}
	if errdefs.IsUnavailable(err) || status.Code(err) == codes.Unavailable {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}
