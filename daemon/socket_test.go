package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aishell/aishell/config"
)

// staleSocket leaves a unix socket file at path with nothing listening on it, as a daemon that
// died does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// liveSocket listens at path and accepts (and closes) connections until the test ends.
func liveSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// TestCheckSocket runs checkSocket against real files and reads its error through socketWhy,
// as Containerd and Buildkit do.
func TestCheckSocket(t *testing.T) {
	// Unix socket paths are limited to about 100 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		is    error  // errors.Is target of checkSocket's error; nil with why "" means no error
		why   string // socketWhy of it
	}{
		{"missing", func(*testing.T, string) {}, fs.ErrNotExist, "no such socket"},
		{"regular file", func(t *testing.T, p string) {
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, "is not a socket"},
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, nil, "is not a socket"},
		{"stale socket", staleSocket, syscall.ECONNREFUSED, "connection refused (a stale socket: the daemon is not running)"},
		{"live socket", liveSocket, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			c.setup(t, path)
			err := checkSocket(path)
			if c.why == "" {
				if err != nil {
					t.Fatalf("checkSocket = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkSocket = nil, want an error saying %q", c.why)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("checkSocket = %v, not %v", err, c.is)
			}
			if got := socketWhy(err); !strings.Contains(got, c.why) {
				t.Errorf("socketWhy = %q, want %q", got, c.why)
			}
		})
	}
}

// TestCheckSocketPermission needs a user that the file mode stops, which root is not.
func TestCheckSocketPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens any socket regardless of its mode; TestSocketWhy covers the error value")
	}
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700); os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	liveSocket(t, path)
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	err = checkSocket(path)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("checkSocket = %v, want permission denied", err)
	}
	if got := socketWhy(err); got != "permission denied" {
		t.Errorf("socketWhy = %q", got)
	}
	_, err = Containerd(context.Background(), config.Endpoints{ContainerdAddress: path, Namespace: "aishell"})
	checkError(t, err, "cannot reach containerd at "+path+": permission denied", "run aishell as a user that may open the socket", fs.ErrPermission)
}

func TestSocketWhy(t *testing.T) {
	pathErr := func(e error) error { return &fs.PathError{Op: "stat", Path: "/run/x.sock", Err: e} }
	dialErr := func(e error) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", e)}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{pathErr(syscall.ENOENT), "no such socket"},
		{pathErr(syscall.EACCES), "permission denied"},
		{dialErr(syscall.EACCES), "permission denied"},
		{dialErr(syscall.ECONNREFUSED), "connection refused (a stale socket: the daemon is not running)"},
		// Anything else is connWhy's.
		{dialErr(syscall.ETIMEDOUT), "dial unix: connect: connection timed out"},
		{context.DeadlineExceeded, "no answer within 3s"},
	} {
		if got := socketWhy(c.err); got != c.want {
			t.Errorf("socketWhy(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestConnWhy(t *testing.T) {
	const noAnswer = "no answer within 3s"
	for _, c := range []struct {
		err  error
		want string
	}{
		// Error values.
		{context.DeadlineExceeded, noAnswer},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), noAnswer},
		{&net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused (stale socket?)"},
		{&net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}, "permission denied"},
		// gRPC errors, which carry only their text.
		{errString(`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/buildkit/buildkitd.sock: connect: connection refused"`), "connection refused (stale socket?)"},
		{errString(`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/x.sock: connect: permission denied"`), "permission denied"},
		{errString(`rpc error: code = DeadlineExceeded desc = context deadline exceeded`), noAnswer},
		{errString(`failed to dial: DeadlineExceeded`), noAnswer},
		{errString(`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/x.sock: connect: no such file or directory"`), "no such socket"},
		{errString(`rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`),
			"TLS handshake failed: transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{errString("remote error: tls: certificate required"), "TLS handshake failed: remote error: tls: certificate required"},
		// Anything else, shortened.
		{errString("rpc error: code = Unimplemented desc = unknown service moby.buildkit.v1.Control"), "unknown service moby.buildkit.v1.Control"},
		{errors.New("not serving"), "not serving"},
	} {
		if got := connWhy(c.err); got != c.want {
			t.Errorf("connWhy(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestShort(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"boom", "boom"},
		{"  padded  ", "padded"},
		{"rpc error: code = Unavailable desc = connection closed before server preface received", "connection closed before server preface received"},
		// The innermost desc wins.
		{`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /x.sock: connect: connection refused"`,
			"transport: Error while dialing: dial unix /x.sock: connect: connection refused"},
		// One line only.
		{"rpc error: code = Unknown desc = failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n\nstack trace", `failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1`},
		{"first\nsecond", "first"},
		// A quote that does not unquote stays.
		{`rpc error: code = Internal desc = "unterminated`, `"unterminated`},
	} {
		if got := Short(errString(c.in)); got != c.want {
			t.Errorf("Short(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIsTLSError(t *testing.T) {
	for _, c := range []struct {
		err  string
		want bool
	}{
		{"x509: certificate signed by unknown authority", true},
		{"remote error: tls: bad certificate", true},
		{"tls: first record does not look like a TLS handshake", true},
		{"failed to verify certificate", true},
		{"connection refused", false},
		{"context deadline exceeded", false},
	} {
		if got := isTLSError(errString(c.err)); got != c.want {
			t.Errorf("isTLSError(%q) = %v", c.err, got)
		}
	}
}

// TestTLSOptionsNames covers what TestTLSOptions does not: the ca.crt/tls.crt/tls.key names,
// which of two names a directory's file is taken from, and a directory with only some files.
func TestTLSOptionsNames(t *testing.T) {
	mk := func(t *testing.T, names ...string) string {
		dir := t.TempDir()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, c := range []struct {
		name  string
		files []string
		tls   func(dir string) config.TLS
		opts  int
		err   string
	}{
		{"crt names", []string{"ca.crt", "tls.crt", "tls.key"}, func(d string) config.TLS { return config.TLS{Dir: d} }, 2, ""},
		{"CA only in dir", []string{"ca.crt"}, func(d string) config.TLS { return config.TLS{Dir: d} }, 1, ""},
		{"dir cert without key", []string{"ca.pem", "tls.crt"}, func(d string) config.TLS { return config.TLS{Dir: d} }, 0, "needs its key"},
		{"dir key without cert", []string{"ca.pem", "key.pem"}, func(d string) config.TLS { return config.TLS{Dir: d} }, 0, "needs its key"},
		{"dir and key exclusive", []string{"ca.pem"}, func(d string) config.TLS { return config.TLS{Dir: d, Key: "k"} }, 0, "--tlsdir and --tlscacert/--tlscert/--tlskey are exclusive"},
		{"key without cert", nil, func(d string) config.TLS { return config.TLS{Key: filepath.Join(d, "key.pem")} }, 0, "needs its key"},
		{"cert and key, no CA", []string{"cert.pem", "key.pem"}, func(d string) config.TLS {
			return config.TLS{Cert: filepath.Join(d, "cert.pem"), Key: filepath.Join(d, "key.pem")}
		}, 1, ""},
		{"missing key file", []string{"cert.pem"}, func(d string) config.TLS {
			return config.TLS{Cert: filepath.Join(d, "cert.pem"), Key: filepath.Join(d, "key.pem")}
		}, 0, "key.pem: no such socket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, err := tlsOptions("tcp://buildkit.example:1234", c.tls(mk(t, c.files...)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(opts) != c.opts {
				t.Errorf("%d options, %v; want %d", len(opts), err, c.opts)
			}
		})
	}

	both := mk(t, "ca.pem", "ca.crt")
	if got, err := oneOf(both, "ca.pem", "ca.crt"); err != nil || got != filepath.Join(both, "ca.pem") {
		t.Errorf("oneOf with both = %q, %v; want ca.pem first", got, err)
	}
	crt := mk(t, "ca.crt")
	if got, err := oneOf(crt, "ca.pem", "ca.crt"); err != nil || got != filepath.Join(crt, "ca.crt") {
		t.Errorf("oneOf with ca.crt = %q, %v", got, err)
	}
}

// TestConnectFailsFast checks the errors Containerd and Buildkit return before any daemon is
// asked: the socket is not there, or the TLS settings are wrong.
func TestConnectFailsFast(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	ctx := context.Background()

	_, err := Containerd(ctx, config.Endpoints{ContainerdAddress: missing, Namespace: "aishell"})
	checkError(t, err, "cannot reach containerd at "+missing+": no such socket", "CONTAINERD_ADDRESS", fs.ErrNotExist)

	_, err = Buildkit(ctx, config.Endpoints{BuildkitHost: "unix://" + missing})
	checkError(t, err, "cannot reach buildkitd at unix://"+missing+": no such socket", "BUILDKIT_HOST", fs.ErrNotExist)

	ca := filepath.Join(dir, "ca.pem")
	_, err = Buildkit(ctx, config.Endpoints{BuildkitHost: "tcp://buildkit.example:1234", BuildkitTLS: config.TLS{CACert: ca}})
	checkError(t, err, "cannot reach buildkitd at tcp://buildkit.example:1234: TLS file "+ca+": no such socket", "--tlsdir", fs.ErrNotExist)
}

func checkError(t *testing.T, err error, msg, hint string, is error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *daemon.Error", err, err)
	}
	if err.Error() != msg {
		t.Errorf("err = %q\nwant  %q", err, msg)
	}
	if !strings.Contains(e.ErrorHint(), hint) {
		t.Errorf("hint = %q, want it to name %s", e.ErrorHint(), hint)
	}
	if !errors.Is(err, is) {
		t.Errorf("errors.Is(%v, %v) = false", err, is)
	}
}

func TestIsDropped(t *testing.T) {
	for msg, want := range map[string]bool{
		"failed to call info: Unavailable: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe": true,
		"read: connection reset by peer":                                      true,
		"rpc error: code = Unavailable desc = error reading from server: EOF": true,
		"connection refused":                                                  false,
		"x509: certificate signed":                                            false,
	} {
		if got := isDropped(errString(msg)); got != want {
			t.Errorf("isDropped(%q) = %v", msg, got)
		}
	}
}
