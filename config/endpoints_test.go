package config

import "testing"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestResolveDefaultsRoot(t *testing.T) {
	e := Resolve(Overrides{}, Host{Getenv: env(nil), EUID: 0})
	if e.ContainerdAddress != "/run/containerd/containerd.sock" || e.ContainerdFrom != "default" {
		t.Errorf("containerd = %q (%s)", e.ContainerdAddress, e.ContainerdFrom)
	}
	if e.Namespace != "aishell" {
		t.Errorf("namespace = %q", e.Namespace)
	}
	if e.BuildkitHost != "unix:///run/buildkit/buildkitd.sock" {
		t.Errorf("buildkit = %q", e.BuildkitHost)
	}
}

func TestResolveRootlessDefaults(t *testing.T) {
	e := Resolve(Overrides{}, Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), EUID: 1000})
	if e.ContainerdAddress != "/run/user/1000/containerd/containerd.sock" {
		t.Errorf("containerd = %q", e.ContainerdAddress)
	}
	if e.BuildkitHost != "unix:///run/user/1000/buildkit/buildkitd.sock" {
		t.Errorf("buildkit = %q", e.BuildkitHost)
	}
	// Without XDG_RUNTIME_DIR the conventional /run/user/UID is used.
	e = Resolve(Overrides{}, Host{Getenv: env(nil), EUID: 1234})
	if e.ContainerdAddress != "/run/user/1234/containerd/containerd.sock" {
		t.Errorf("containerd without XDG_RUNTIME_DIR = %q", e.ContainerdAddress)
	}
}

func TestResolveNamespacedBuildkitPreferred(t *testing.T) {
	exists := func(p string) bool { return p == "/run/buildkit-aishell/buildkitd.sock" }
	e := Resolve(Overrides{}, Host{Getenv: env(nil), EUID: 0, Exists: exists})
	if e.BuildkitHost != "unix:///run/buildkit-aishell/buildkitd.sock" {
		t.Errorf("buildkit = %q", e.BuildkitHost)
	}
	exists = func(p string) bool { return p == "/run/buildkit-default/buildkitd.sock" }
	e = Resolve(Overrides{}, Host{Getenv: env(nil), EUID: 0, Exists: exists})
	if e.BuildkitHost != "unix:///run/buildkit-default/buildkitd.sock" {
		t.Errorf("buildkit = %q", e.BuildkitHost)
	}
}

func TestResolveEnvBeatsDefaults(t *testing.T) {
	e := Resolve(Overrides{}, Host{Getenv: env(map[string]string{
		"CONTAINERD_ADDRESS":   "unix:///tmp/c.sock",
		"CONTAINERD_NAMESPACE": "other",
		"BUILDKIT_HOST":        "/tmp/b.sock",
	}), EUID: 1000})
	if e.ContainerdAddress != "/tmp/c.sock" || e.ContainerdFrom != "env" {
		t.Errorf("containerd = %q (%s)", e.ContainerdAddress, e.ContainerdFrom)
	}
	if e.Namespace != "other" || e.NamespaceFrom != "env" {
		t.Errorf("namespace = %q (%s)", e.Namespace, e.NamespaceFrom)
	}
	if e.BuildkitHost != "unix:///tmp/b.sock" || e.BuildkitFrom != "env" {
		t.Errorf("buildkit = %q (%s)", e.BuildkitHost, e.BuildkitFrom)
	}
}

func TestResolveFlagsBeatEnv(t *testing.T) {
	e := Resolve(Overrides{ContainerdAddress: "/f/c.sock", Namespace: "flagns", BuildkitHost: "tcp://127.0.0.1:1234"},
		Host{Getenv: env(map[string]string{
			"CONTAINERD_ADDRESS": "/e/c.sock", "CONTAINERD_NAMESPACE": "envns", "BUILDKIT_HOST": "unix:///e/b.sock",
		}), EUID: 0})
	if e.ContainerdAddress != "/f/c.sock" || e.Namespace != "flagns" || e.BuildkitHost != "tcp://127.0.0.1:1234" {
		t.Errorf("got %+v", e)
	}
	if e.ContainerdFrom != "flag" || e.NamespaceFrom != "flag" || e.BuildkitFrom != "flag" {
		t.Errorf("sources %+v", e)
	}
}

func TestSocketPath(t *testing.T) {
	if got := SocketPath("unix:///a/b.sock"); got != "/a/b.sock" {
		t.Errorf("got %q", got)
	}
	if got := SocketPath("tcp://1.2.3.4:5"); got != "" {
		t.Errorf("got %q", got)
	}
}
