package network

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// inNetns runs open (which makes sockets) on an OS thread moved into the network namespace at
// path, and moves the thread back before it runs anything else (or, if it cannot be, lets it die
// with its goroutine). Sockets keep the namespace they were made in.
func inNetns(path string, open func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer own.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter the namespace: %w", err)
			return
		}
		err = open()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // back home; else the thread ends with this goroutine
		}
		ch <- err
	}()
	return <-ch
}

// Namespace is a network namespace made by aishell for a container that does not exist yet, so
// that its network is set up while the container is made: the container joins it (its spec
// names Path). One OS thread of aishell lives in it until Release; by then the container's
// process holds it.
type Namespace struct {
	Path    string
	release chan struct{}
}

// NewNamespace makes a network namespace with its loopback up (what runc does for a namespace it
// makes itself), owned by aishell's user namespace.
func NewNamespace() (*Namespace, error) {
	ns := &Namespace{release: make(chan struct{})}
	made := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			made <- fmt.Errorf("make a network namespace: %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			made <- err
			return
		}
		ns.Path = "/proc/" + strconv.Itoa(os.Getpid()) + "/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		made <- nil
		<-ns.release
	}()
	if err := <-made; err != nil {
		return nil, err
	}
	return ns, nil
}

// Release lets aishell's thread in the namespace end: once a container has joined it, the
// namespace lives as long as the container's processes do. Nil does nothing.
func (ns *Namespace) Release() {
	if ns != nil {
		select {
		case <-ns.release:
		default:
			close(ns.release)
		}
	}
}

// loopbackUp brings lo up in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}
