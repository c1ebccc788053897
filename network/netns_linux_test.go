package network

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A namespace made for a container is a new one, named by a path any process may open while
// aishell holds it, with its loopback up; aishell's own threads stay in aishell's namespace.
func TestNewNamespace(t *testing.T) {
	ns, err := NewNamespace()
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("no network namespace without privileges: %v", err)
		}
		t.Fatal(err)
	}
	var made, own unix.Stat_t
	if err := unix.Stat(ns.Path, &made); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	if made.Ino == own.Ino {
		t.Fatal("the namespace made is aishell's own")
	}
	var up bool
	if err := inNetns(ns.Path, func() error {
		lo, err := net.InterfaceByName("lo")
		up = err == nil && lo.Flags&net.FlagUp != 0
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !up {
		t.Error("loopback is down in the namespace made")
	}
	// This goroutine's thread is in aishell's own namespace: the one that made it moved back.
	for i := 0; i < 20; i++ {
		var cur unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &cur); err != nil || cur.Ino != own.Ino {
			t.Fatalf("a thread of aishell is in namespace %d, not its own %d", cur.Ino, own.Ino)
		}
	}
	path := ns.Path
	ns.Release()
	ns.Release()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s still names a namespace after Release", path)
	}
}
