package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Two aishell commands of one person may run at once: two `aishell update`s in two terminals, a
// build while a run approves an extension, a gc while a build tags. Two locks beside the config
// file keep them from losing each other's work:
//
//   - builds.lock is held by a build or update from before it reads the harness set until the
//     set is saved, and by a run while it rebuilds a missing harness: one builds, the other
//     waits and then finds the result built;
//   - config.lock is held while the file is read, changed and written again (Update), so no
//     write is lost; the write itself is a rename, so the file is never half-written.
//
// They are flock(2) locks on a file opened for each hold: a process that dies lets go of them,
// and two holds in one process exclude each other as two processes' do (a command that must
// not wait for itself takes the build lock once: build.Builder does).

const (
	buildsLock = "builds.lock"
	configLock = "config.lock"
	pollLock   = 100 * time.Millisecond
)

// LockBuilds takes the person's build lock (beside the config file at cfgPath), waiting while
// another aishell holds it; waiting is told the holder's pid once, when the wait begins. The
// returned function lets go of it. Where the config's directory cannot be written (a read-only
// home), there is no lock to take and the build goes on without it.
func LockBuilds(ctx context.Context, cfgPath string, p Person, waiting func(pid string)) (func(), error) {
	unlock, err := lock(ctx, filepath.Join(filepath.Dir(cfgPath), buildsLock), p, waiting, true)
	if errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) {
		return func() {}, nil
	}
	return unlock, err
}

// TryLockBuilds takes the person's build lock if nobody holds it; ok is false when another
// aishell does.
func TryLockBuilds(cfgPath string, p Person) (unlock func(), ok bool, err error) {
	unlock, err = lock(context.Background(), filepath.Join(filepath.Dir(cfgPath), buildsLock), p, nil, false)
	if errors.Is(err, errBusy) {
		return nil, false, nil
	}
	return unlock, err == nil, err
}

// Update reads the person's config file, lets change change it, and writes it back, all under
// the config lock, so that a change another aishell made meanwhile is kept. It returns the file
// as written. An error from change writes nothing.
func Update(ctx context.Context, cfgPath string, p Person, change func(*File) error) (File, error) {
	unlock, err := lock(ctx, filepath.Join(filepath.Dir(cfgPath), configLock), p, nil, true)
	if err != nil {
		return File{}, err
	}
	defer unlock()
	f, err := Load(cfgPath)
	if err != nil {
		return File{}, err
	}
	if err := change(&f); err != nil {
		return File{}, err
	}
	if err := Save(cfgPath, f, p); err != nil {
		return File{}, err
	}
	return f, nil
}

var errBusy = errors.New("held by another aishell")

// lock takes the flock on path (made, owned by the person, when missing). With wait it polls
// until it gets it or ctx ends; without, it returns errBusy at once.
func lock(ctx context.Context, path string, p Person, waiting func(pid string), wait bool) (func(), error) {
	if err := p.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := p.Own(path); err != nil {
		f.Close()
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			f.Close()
			return nil, errBusy
		}
		if !told && waiting != nil {
			waiting(holderPID(path))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(pollLock):
		}
	}
	// Who holds it, for whoever waits next.
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// holderPID is the pid the lock's holder wrote into it, or "?".
func holderPID(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "?"
}
