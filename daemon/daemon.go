// Package daemon connects to containerd and buildkitd and turns connection failures into one
// clear line that names the socket and says what to do next.
//
// Both clients "succeed" when no daemon is there (they dial lazily), so every connection here
// stats the socket first and then asks the daemon to answer under a short timeout.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/config"
)

// ReadyTimeout bounds how long a connection may take to answer before it is reported as down.
const ReadyTimeout = 3 * time.Second

// Error is a connection failure: one line for the user plus the next step to take.
type Error struct {
	What string // "containerd" or "buildkitd"
	Addr string
	Why  string
	Hint string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %s", e.What, e.Addr, e.Why)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorHint says what to do next.
func (e *Error) ErrorHint() string { return e.Hint }

// shortError reads as a few words about Err but keeps Err in the chain, so errors.Is and
// errors.As still reach it when the message shows only the short account.
type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }

func (e *shortError) Unwrap() error { return e.err }

// shortened is err, reading as msg.
func shortened(err error, msg string) error { return &shortError{msg: msg, err: err} }

// Containerd connects to containerd at the resolved address and checks that it answers.
// The caller closes the client.
func Containerd(ctx context.Context, ep config.Endpoints) (*containerd.Client, error) {
	addr := ep.ContainerdAddress
	fail := func(why string, err error) *Error {
		return &Error{What: "containerd", Addr: addr, Why: why, Err: err,
			Hint: "is containerd running? start it, or point aishell at it with CONTAINERD_ADDRESS or --address"}
	}
	if err := checkSocket(addr); err != nil {
		e := fail(socketWhy(err), err)
		if errors.Is(err, fs.ErrPermission) {
			e.Hint = "run aishell as a user that may open the socket (root, or rootless containerd under your own XDG_RUNTIME_DIR)"
		}
		return nil, e
	}
	c, err := containerd.New(addr, containerd.WithDefaultNamespace(ep.Namespace), containerd.WithTimeout(ReadyTimeout))
	if err != nil {
		return nil, fail(connWhy(err), err)
	}
	cctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	if ok, err := c.IsServing(cctx); err != nil || !ok {
		c.Close()
		if err == nil {
			err = errors.New("not serving")
		}
		return nil, fail(connWhy(err), err)
	}
	return c, nil
}

// Buildkit connects to buildkitd at the resolved address and checks that it answers.
// The caller closes the client.
func Buildkit(ctx context.Context, ep config.Endpoints) (*bkclient.Client, error) {
	addr := ep.BuildkitHost
	fail := func(why string, err error) *Error {
		if config.SocketPath(addr) == "" {
			why = strings.TrimSuffix(why, " (stale socket?)") // a TCP address has no socket file
		}
		return &Error{What: "buildkitd", Addr: addr, Why: why, Err: err,
			Hint: "is buildkitd running with the containerd worker? start it, or point aishell at it with BUILDKIT_HOST or --buildkit-host"}
	}
	if p := config.SocketPath(addr); p != "" {
		if err := checkSocket(p); err != nil {
			return nil, fail(socketWhy(err), err)
		}
	}
	opts, err := tlsOptions(addr, ep.BuildkitTLS)
	if err != nil {
		e := fail(err.Error(), err)
		e.Hint = "give the CA certificate, client certificate and key with --tlscacert, --tlscert and --tlskey, or a directory of them with --tlsdir"
		return nil, e
	}
	cctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	c, err := bkclient.New(cctx, addr, opts...)
	if err != nil {
		return nil, fail(connWhy(err), err)
	}
	if _, err := c.Info(cctx); err != nil {
		c.Close()
		e := fail(connWhy(err), err)
		// A server that wants a client certificate we did not give ends the connection after
		// the TLS handshake; the client then sees it dropped (broken pipe, reset, EOF) rather
		// than a TLS error, depending on timing.
		if isTLSError(err) || (len(opts) > 0 && isDropped(err)) {
			if !isTLSError(err) {
				e.Why = "the connection was closed after the TLS handshake (" + e.Why + "): the server may want a client certificate"
			}
			e.Hint = "check the certificates: --tlscacert must name the CA that signed the server's certificate, --tlsservername a name in it, and the server may want a client certificate (--tlscert, --tlskey)"
		}
		return nil, e
	}
	return c, nil
}

// tlsOptions turns buildctl-style TLS settings into BuildKit client options. The server name
// defaults to the address's host; a directory stands for its ca.pem, cert.pem and key.pem (or
// ca.crt, tls.crt and tls.key).
func tlsOptions(addr string, t config.TLS) ([]bkclient.ClientOpt, error) {
	if t.Dir != "" {
		if t.CACert != "" || t.Cert != "" || t.Key != "" {
			return nil, errors.New("--tlsdir and --tlscacert/--tlscert/--tlskey are exclusive")
		}
		var err error
		if t.CACert, err = oneOf(t.Dir, "ca.pem", "ca.crt"); err != nil {
			return nil, err
		}
		t.Cert, _ = oneOf(t.Dir, "cert.pem", "tls.crt")
		t.Key, _ = oneOf(t.Dir, "key.pem", "tls.key")
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("a client certificate needs its key, and a key its certificate (--tlscert and --tlskey)")
	}
	for _, f := range []string{t.CACert, t.Cert, t.Key} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("TLS file %s: %w", f, shortened(err, socketWhy(err)))
		}
	}
	var opts []bkclient.ClientOpt
	if t.CACert != "" {
		name := t.ServerName
		if name == "" {
			if u, err := url.Parse(addr); err == nil {
				name = u.Hostname()
			}
		}
		opts = append(opts, bkclient.WithServerConfig(name, t.CACert))
	}
	if t.Cert != "" {
		opts = append(opts, bkclient.WithCredentials(t.Cert, t.Key))
	}
	return opts, nil
}

// oneOf returns the first of names that exists in dir.
func oneOf(dir string, names ...string) (string, error) {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("TLS directory %s has none of %s", dir, strings.Join(names, ", "))
}

// isDropped reports whether a connection was closed under the client.
func isDropped(err error) bool {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") || strings.Contains(s, "EOF")
}

func isTLSError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "x509:") || strings.Contains(s, "tls:") || strings.Contains(s, "certificate")
}

func checkSocket(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s is not a socket", path)
	}
	// A socket left by a daemon that died refuses at once; the clients would retry until
	// their timeout instead.
	conn, err := net.DialTimeout("unix", path, ReadyTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

func socketWhy(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such socket"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (a stale socket: the daemon is not running)"
	default:
		return connWhy(err)
	}
}

// connWhy says in a few words why a connection failed.
func connWhy(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", ReadyTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (stale socket?)"
	case errors.Is(err, syscall.EACCES):
		return "permission denied"
	}
	s := err.Error()
	if isTLSError(err) {
		return "TLS handshake failed: " + Short(err)
	}
	for _, known := range []struct{ in, out string }{
		{"connection refused", "connection refused (stale socket?)"},
		{"permission denied", "permission denied"},
		{"DeadlineExceeded", fmt.Sprintf("no answer within %s", ReadyTimeout)},
		{"deadline exceeded", fmt.Sprintf("no answer within %s", ReadyTimeout)},
		{"no such file or directory", "no such socket"},
	} {
		if strings.Contains(s, known.in) {
			return known.out
		}
	}
	return Short(err)
}

// Short reduces a gRPC or build error to its innermost message, on one line.
func Short(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "desc = "); i >= 0 {
		s = s[i+len("desc = "):]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	return s
}
