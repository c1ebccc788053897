package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aishell/aishell/config"
)

func TestTLSOptions(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	if opts, err := tlsOptions("tcp://h:1234", config.TLS{}); err != nil || len(opts) != 0 {
		t.Errorf("no TLS: %d options, %v", len(opts), err)
	}
	if opts, err := tlsOptions("tcp://h:1234", config.TLS{Dir: dir}); err != nil || len(opts) != 2 {
		t.Errorf("--tlsdir: %d options, %v; want the server config and the client certificate", len(opts), err)
	}
	if opts, err := tlsOptions("tcp://h:1234", config.TLS{CACert: filepath.Join(dir, "ca.pem")}); err != nil || len(opts) != 1 {
		t.Errorf("--tlscacert only: %d options, %v", len(opts), err)
	}
	for _, c := range []struct {
		tls  config.TLS
		want string
	}{
		{config.TLS{Dir: dir, CACert: "x"}, "exclusive"},
		{config.TLS{Cert: filepath.Join(dir, "cert.pem")}, "needs its key"},
		{config.TLS{CACert: filepath.Join(dir, "missing.pem")}, "missing.pem: no such"},
		{config.TLS{Dir: t.TempDir()}, "has none of ca.pem, ca.crt"},
	} {
		if _, err := tlsOptions("tcp://h:1234", c.tls); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.tls, err, c.want)
		}
	}
}

func TestShortUnquotes(t *testing.T) {
	err := errString(`rpc error: code = Unavailable desc = "error reading server preface: EOF"`)
	if got := Short(err); got != "error reading server preface: EOF" {
		t.Errorf("Short = %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
