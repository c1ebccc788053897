package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/aishell/aishell/errs"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client certificate, signed by it,
// into dir (ca.pem, server.pem, server-key.pem, cert.pem, key.pem), and a second, unrelated CA
// (other-ca.pem).
func pki(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serial := int64(1)
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	}
	makeCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		key := newKey()
		tmpl := template(name)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key
	}
	ca, caKey := makeCA("aishell test CA")
	write("ca.pem", "CERTIFICATE", ca.Raw)
	other, _ := makeCA("some other CA")
	write("other-ca.pem", "CERTIFICATE", other.Raw)
	leaf := func(cn string, usage x509.ExtKeyUsage, certFile, keyFile string) {
		key := newKey()
		tmpl := template(cn)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(certFile, "CERTIFICATE", der)
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(keyFile, "EC PRIVATE KEY", kb)
	}
	leaf("buildkitd", x509.ExtKeyUsageServerAuth, "server.pem", "server-key.pem")
	leaf("aishell", x509.ExtKeyUsageClientAuth, "cert.pem", "key.pem")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A remote buildkitd over TCP with mutual TLS, as BUILDKIT_HOST=tcp://… with buildctl's
// certificate flags: doctor reaches it, an extension builds through it, and a missing client
// certificate or a wrong CA is one line with a hint.
func TestRemoteBuildkitOverTLS(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	bin, err := exec.LookPath("buildkitd")
	if err != nil {
		t.Fatalf("buildkitd: %v", err)
	}
	certs := t.TempDir()
	pki(t, certs)
	// The client side of --tlsdir: ca.pem, cert.pem, key.pem.
	clientDir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		b, _ := os.ReadFile(filepath.Join(certs, f))
		os.WriteFile(filepath.Join(clientDir, f), b, 0o600)
	}
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	root := t.TempDir()
	cmd := exec.Command(bin, "--root", root, "--addr", addr,
		"--tlscacert", filepath.Join(certs, "ca.pem"), "--tlscert", filepath.Join(certs, "server.pem"), "--tlskey", filepath.Join(certs, "server-key.pem"),
		"--oci-worker=false", "--containerd-worker=true", "--containerd-worker-addr", os.Getenv("CONTAINERD_ADDRESS"),
		"--containerd-worker-namespace", namespace(), "--containerd-worker-net", "host")
	log, _ := os.Create(filepath.Join(root, "buildkitd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	// Up once it answers a client holding the certificates aishell is given below.
	bk, err := bkclient.New(context.Background(), addr,
		bkclient.WithServerConfig("localhost", filepath.Join(clientDir, "ca.pem")),
		bkclient.WithCredentials(filepath.Join(clientDir, "cert.pem"), filepath.Join(clientDir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	waitUntil(t, 2*time.Minute, "buildkitd answering at "+addr, func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(root, "buildkitd.log"))
			t.Fatalf("buildkitd exited during start-up:\n%s", b)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := bk.ListWorkers(ctx)
		return err == nil
	})
	tls := []string{"--buildkit-host", addr, "--tlsdir", clientDir}
	r := aishell(t, "", env, append(tls, "doctor")...)
	mustSucceed(t, r)
	if !strings.Contains(r.Stdout, "ok    buildkitd    buildkitd v") || !strings.Contains(r.Stdout, addr) {
		t.Errorf("doctor through TLS: %q", r.Stdout)
	}

	proj := project(t, "tlsext")
	os.MkdirAll(filepath.Join(proj, ".aishell"), 0o755)
	os.WriteFile(filepath.Join(proj, ".aishell", "Dockerfile"), []byte(fmt.Sprintf("FROM aishell:foundation\nRUN echo built-over-tls-%d > /etc/tls-marker\n", time.Now().UnixNano())), 0o644)
	mustSucceed(t, aishell(t, proj, env, "ext", "trust"))
	r = aishell(t, proj, env, append(tls, "ext", "rebuild", "--progress=plain")...)
	mustSucceed(t, r)
	// The separate files, as buildctl names them, work as well as the directory.
	files := []string{"--buildkit-host", addr, "--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "cert.pem"), "--tlskey", filepath.Join(certs, "key.pem"), "--tlsservername", "localhost"}
	r = aishell(t, proj, env, append(files, "exec", "--", "cat", "/etc/tls-marker")...)
	mustSucceed(t, r)
	if !strings.HasPrefix(r.Stdout, "built-over-tls-") {
		t.Errorf("the extension built over TLS: %q", r.Stdout)
	}

	oneLine := func(r result, want, hint string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != errs.CodeError || len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[1], hint) {
			t.Errorf("exit %d, stderr %q: want one line with %q and a hint with %q", r.Code, r.Stderr, want, hint)
		}
	}
	// The server wants a client certificate.
	r = aishell(t, proj, env, "--buildkit-host", addr, "--tlscacert", filepath.Join(certs, "ca.pem"), "ext", "rebuild")
	oneLine(r, "cannot reach buildkitd at "+addr, "--tlscert")
	// A CA that did not sign the server's certificate.
	r = aishell(t, proj, env, "--buildkit-host", addr, "--tlscacert", filepath.Join(certs, "other-ca.pem"),
		"--tlscert", filepath.Join(certs, "cert.pem"), "--tlskey", filepath.Join(certs, "key.pem"), "ext", "rebuild")
	oneLine(r, "TLS handshake failed", "--tlscacert")
	// A certificate without its key is a mistake caught before dialling.
	r = aishell(t, proj, env, "--buildkit-host", addr, "--tlscert", filepath.Join(certs, "cert.pem"), "ext", "rebuild")
	oneLine(r, "needs its key", "--tlscert")
}
