package oci

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithReadOnlySnapshot(t *testing.T) {
	var s specs.Spec
	m := []mount.Mount{{Type: "bind", Source: "/var/lib/snap/7/fs", Options: []string{"ro", "rbind"}}}
	if err := WithReadOnlySnapshot("/opt/harness/claude", m)(context.Background(), nil, &containers.Container{}, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Mounts) != 1 {
		t.Fatalf("mounts %+v", s.Mounts)
	}
	got := s.Mounts[0]
	if got.Destination != "/opt/harness/claude" || got.Source != "/var/lib/snap/7/fs" || got.Type != "bind" {
		t.Errorf("mount %+v", got)
	}
	if !strings.Contains(strings.Join(got.Options, ","), "ro") {
		t.Errorf("mount not read-only: %v", got.Options)
	}
}

func TestWithReadOnlySnapshotRejectsOverlay(t *testing.T) {
	var s specs.Spec
	m := []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a:/b"}}}
	err := WithReadOnlySnapshot("/opt/harness/x", m)(context.Background(), nil, &containers.Container{}, &s)
	if err == nil || !strings.Contains(err.Error(), "single layer") {
		t.Fatalf("want single-layer error, got %v", err)
	}
}

func TestWithPathPrepend(t *testing.T) {
	s := specs.Spec{Process: &specs.Process{Env: []string{"A=1", "PATH=/usr/bin:/bin"}}}
	if err := WithPathPrepend("/opt/harness/a/bin", "/opt/harness/b/bin")(context.Background(), nil, nil, &s); err != nil {
		t.Fatal(err)
	}
	if s.Process.Env[1] != "PATH=/opt/harness/a/bin:/opt/harness/b/bin:/usr/bin:/bin" {
		t.Errorf("env %v", s.Process.Env)
	}
	s = specs.Spec{}
	WithPathPrepend("/x/bin")(context.Background(), nil, nil, &s)
	if len(s.Process.Env) != 1 || !strings.HasPrefix(s.Process.Env[0], "PATH=/x/bin:/usr/local/sbin") {
		t.Errorf("env %v", s.Process.Env)
	}
}
