package network

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// inNetns runs open (which makes sockets) on an OS thread moved into the network namespace at
// path (awayAndBack). Sockets keep the namespace they were made in.
func inNetns(path string, open func() error) error {
	return awayAndBack(func() error {
		target, err := os.Open(path)
		if err != nil {
			return err
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter the namespace: %w", err)
		}
		return nil
	}, open)
}

// awayAndBack runs work on an OS thread of its own that move has taken into another network
// namespace (a setns or an unshare), and moves the thread back to aishell's namespace before it
// runs anything else (or, if it cannot be, lets it end with its goroutine). A move that fails
// leaves the thread where it was.
func awayAndBack(move, work func() error) error {
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
		if err := move(); err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		err = work()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // back home; else the thread ends with this goroutine
		}
		ch <- err
	}()
	return <-ch
}

// Namespace is a network namespace made by aishell for a container that does not exist yet, so
// that its network is set up while the task is made: the container joins it (its spec
// names Path). aishell holds it by a file descriptor until Release; by then the container's
// process holds it.
type Namespace struct {
	Path string // /proc/<aishell>/fd/<n>
	f    *os.File
}

// NewNamespace makes a network namespace with its loopback up (what runc does for a namespace it
// makes itself), owned by aishell's user namespace. The thread that makes it moves back to
// aishell's own namespace afterwards (or, if it cannot, ends with its goroutine). It fails where
// /proc is not aishell's pid namespace's (the path would name another process's descriptor):
// runc then makes the namespace.
func NewNamespace() (*Namespace, error) {
	var f *os.File
	err := awayAndBack(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("make a network namespace: %w", err)
		}
		return nil
	}, func() error {
		var err error
		if f, err = os.Open("/proc/thread-self/ns/net"); err != nil {
			return err
		}
		if err := loopbackUp(); err != nil {
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	path := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(f.Fd()))
	var byPath, held unix.Stat_t
	if unix.Stat(path, &byPath) != nil || unix.Fstat(int(f.Fd()), &held) != nil || byPath.Ino != held.Ino || byPath.Dev != held.Dev {
		f.Close()
		return nil, fmt.Errorf("%s does not name the namespace made: /proc is another pid namespace's", path)
	}
	return &Namespace{Path: path, f: f}, nil
}

// Release lets go of aishell's hold on the namespace: once a container has joined it, it lives
// as long as the container's processes (and slirp4netns) do. Nil does nothing.
func (ns *Namespace) Release() {
	if ns != nil && ns.f != nil {
		ns.f.Close()
		ns.f = nil
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
