package network

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// inNetns runs open (which makes sockets) on an OS thread moved into the network namespace of
// pid, and moves the thread back before it runs anything else (or, if it cannot be, lets it die
// with its goroutine). Sockets keep the namespace they were made in.
func inNetns(pid int, open func() error) error {
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
		target, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
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
