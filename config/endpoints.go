// Package config resolves where aishell finds its daemons and reads the user's and the
// project's configuration files.
package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultNamespace is the containerd namespace aishell keeps its images, snapshots and
// containers in unless CONTAINERD_NAMESPACE or --namespace says otherwise.
const DefaultNamespace = "aishell"

// DefaultSnapshotter is the containerd snapshotter aishell unpacks images into.
const DefaultSnapshotter = "overlayfs"

// Endpoints says where containerd and buildkitd listen, and which containerd namespace to use.
type Endpoints struct {
	ContainerdAddress string // a unix socket path (no scheme)
	Namespace         string
	BuildkitHost      string // a BuildKit address with a scheme, e.g. unix:///run/buildkit/buildkitd.sock
	Snapshotter       string // containerd snapshotter (overlayfs unless CONTAINERD_SNAPSHOTTER says otherwise)
	BuildkitTLS       TLS    // certificates for a tcp:// buildkitd
	// Where each value came from ("flag", "env" or "default"), for doctor's report.
	ContainerdFrom, NamespaceFrom, BuildkitFrom string
}

// Overrides are the command-line flags; an empty field means "not given".
type Overrides struct {
	ContainerdAddress string
	Namespace         string
	BuildkitHost      string
	Snapshotter       string
	BuildkitTLS       TLS
}

// TLS is how aishell authenticates a remote buildkitd and itself to it, with buildctl's
// flags: the CA that signed the server's certificate, a client certificate and key, and the
// name to verify (the address's host unless given). Dir holds ca.pem, cert.pem and key.pem (or
// ca.crt, tls.crt and tls.key) instead of naming each file.
type TLS struct {
	ServerName string
	CACert     string
	Cert       string
	Key        string
	Dir        string
}

// Host describes the environment endpoints are resolved in. It is a struct rather than
// direct os calls so resolution is testable without touching the machine.
type Host struct {
	Getenv func(string) string
	// EUID and EGID are the invoking user's on the host. Inside rootlesskit's namespaces,
	// where aishell runs as uid 0, they are the user's as rootlesskit recorded them.
	EUID, EGID int
	// Rootless is set when aishell runs inside rootlesskit's namespaces on the user's behalf.
	Rootless bool
	Exists   func(path string) bool // whether a socket file exists
	Users    Users                  // account lookups (the system's when empty)
}

// root reports whether aishell uses the system containerd (as root, or through sudo).
func (h Host) root() bool { return h.EUID == 0 && !h.Rootless }

// Resolve picks each endpoint from, in order: the flag, the environment variable, and the
// default for root or rootless use. Rootless defaults follow nerdctl: sockets under
// $XDG_RUNTIME_DIR (or /run/user/UID when it is unset).
func Resolve(o Overrides, h Host) Endpoints {
	var e Endpoints
	e.ContainerdAddress, e.ContainerdFrom = pick(o.ContainerdAddress, h.Getenv("CONTAINERD_ADDRESS"), func() string {
		if h.root() {
			return "/run/containerd/containerd.sock"
		}
		return filepath.Join(runtimeDir(h), "containerd", "containerd.sock")
	})
	e.ContainerdAddress = strings.TrimPrefix(e.ContainerdAddress, "unix://")
	e.Namespace, e.NamespaceFrom = pick(o.Namespace, h.Getenv("CONTAINERD_NAMESPACE"), func() string { return DefaultNamespace })
	e.BuildkitHost, e.BuildkitFrom = pick(o.BuildkitHost, h.Getenv("BUILDKIT_HOST"), func() string {
		return defaultBuildkit(h, e.Namespace)
	})
	e.Snapshotter, _ = pick(o.Snapshotter, h.Getenv("CONTAINERD_SNAPSHOTTER"), func() string { return DefaultSnapshotter })
	if !strings.Contains(e.BuildkitHost, "://") {
		e.BuildkitHost = "unix://" + e.BuildkitHost
	}
	e.BuildkitTLS = o.BuildkitTLS
	return e
}

func pick(flag, env string, def func() string) (string, string) {
	switch {
	case flag != "":
		return flag, "flag"
	case env != "":
		return env, "env"
	default:
		return def(), "default"
	}
}

// RuntimeDir is the user's runtime directory, $XDG_RUNTIME_DIR or /run/user/UID, where a
// rootless containerd keeps its sockets and aishell its FIFOs and runc state.
func (h Host) RuntimeDir() string { return runtimeDir(h) }

func runtimeDir(h Host) string {
	if d := h.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return fmt.Sprintf("/run/user/%d", h.EUID)
}

// defaultBuildkit looks, like nerdctl, for a buildkitd dedicated to the namespace first, then
// for the shared one; when none exists it names the conventional socket so errors point there.
func defaultBuildkit(h Host, namespace string) string {
	dir := "/run"
	if !h.root() {
		dir = runtimeDir(h)
	}
	candidates := []string{
		filepath.Join(dir, "buildkit-"+namespace, "buildkitd.sock"),
		filepath.Join(dir, "buildkit-default", "buildkitd.sock"),
		filepath.Join(dir, "buildkit", "buildkitd.sock"),
	}
	for _, c := range candidates {
		if h.Exists != nil && h.Exists(c) {
			return "unix://" + c
		}
	}
	return "unix://" + candidates[len(candidates)-1]
}

// SocketPath returns the filesystem path of a unix:// BuildKit address, or "" for other schemes.
func SocketPath(addr string) string {
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		return p
	}
	return ""
}
