package run

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// newWatcher is an inotify instance for the git guard, made before the run's reaper starts so
// that the reaper holds it too (startReaper): the last close of an inotify instance waits for
// the kernel's SRCU grace period (5-16 ms here), and the reaper, not the aishell whose exit the
// user waits for, then pays it. Nil when inotify is not available.
func newWatcher() *os.File {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "inotify")
}

// watch sweeps now and then removes a commondir the moment one is created in a git directory,
// until stop is called (which sweeps once more). It watches with inotify instance w (newWatcher;
// nil: one of its own), whose watches stop removes before it closes w. Without inotify it
// sweeps before and after.
func (g gitGuard) watch(warn io.Writer, w *os.File) (stop func(context.Context) error) {
	g.sweep(warn)
	if len(g.Dirs) == 0 {
		if w != nil {
			w.Close()
		}
		return func(context.Context) error { return nil }
	}
	if w == nil {
		if w = newWatcher(); w == nil {
			return func(context.Context) error { g.sweep(warn); return nil }
		}
	}
	fd := int(w.Fd())
	wds := map[int32]string{}
	for _, d := range g.Dirs {
		if wd, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE|unix.IN_MOVED_TO); err == nil {
			wds[int32(wd)] = d
		}
	}
	// A pipe wakes the reader when the run ends: closing an inotify descriptor does not.
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		w.Close()
		return func(context.Context) error { g.sweep(warn); return nil }
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readEvents(fd, wake[0], func(wd int32, name string) {
			switch {
			case wd == -1: // the queue overflowed: events were lost
				g.sweep(warn)
			case name == redirectFile:
				removeRedirect(filepath.Join(wds[wd], name), warn)
			}
		})
	}()
	return func(context.Context) error {
		unix.Write(wake[1], []byte{0})
		wg.Wait()
		// Another process (the reaper) may hold the instance: it watches nothing from now on.
		for wd := range wds {
			unix.InotifyRmWatch(fd, uint32(wd))
		}
		w.Close()
		unix.Close(wake[0])
		unix.Close(wake[1])
		g.sweep(warn)
		return nil
	}
}

// readEvents calls on for each inotify event on fd until wake is readable.
func readEvents(fd, wake int, on func(wd int32, name string)) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: int32 wd, uint32 mask, cookie, len, then len bytes of name.
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			end := min(off+unix.SizeofInotifyEvent+size, n)
			on(wd, strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:end]), "\x00"))
			off = end
		}
	}
}
