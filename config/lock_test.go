package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestLockBuildsWaitsForTheHolder(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aishell", "config.yaml")
	root := Person{Mode: ModeRoot}
	unlock, err := LockBuilds(context.Background(), cfg, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := TryLockBuilds(cfg, root); ok || err != nil {
		t.Fatalf("a second hold while the first is held: ok=%v err=%v", ok, err)
	}
	var told []string
	got := make(chan error, 1)
	go func() {
		u, err := LockBuilds(context.Background(), cfg, root, func(pid string) { told = append(told, pid) })
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the waiter got the lock while it was held: %v", err)
	case <-time.After(3 * pollLock):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(told, []string{strconv.Itoa(os.Getpid())}) {
		t.Errorf("waiting was told %q, want this process's pid once", told)
	}
	u, ok, err := TryLockBuilds(cfg, root)
	if !ok || err != nil {
		t.Fatalf("the lock after both let go: ok=%v err=%v", ok, err)
	}
	u()
}

func TestLockGivesUpWithTheContext(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	unlock, err := LockBuilds(context.Background(), cfg, Person{Mode: ModeRoot}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*pollLock)
	defer cancel()
	if _, err := LockBuilds(ctx, cfg, Person{Mode: ModeRoot}, nil); err == nil {
		t.Fatal("the lock was taken twice")
	}
}

// Updates from many writers at once each keep what the others wrote.
func TestUpdateLosesNoWrite(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aishell", "config.yaml")
	root := Person{Mode: ModeRoot}
	var wg sync.WaitGroup
	const n = 20
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Update(context.Background(), cfg, root, func(f *File) error {
				time.Sleep(time.Millisecond) // widen the window between read and write
				f.TrustedProjects = append(f.TrustedProjects, "/src/p"+strconv.Itoa(i))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.TrustedProjects) != n {
		t.Errorf("%d of %d writes kept: %q", len(f.TrustedProjects), n, f.TrustedProjects)
	}
}

// A lock file planted as a link is not followed.
func TestLockRefusesALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, filepath.Join(dir, buildsLock)); err != nil {
		t.Fatal(err)
	}
	if _, err := LockBuilds(context.Background(), filepath.Join(dir, "config.yaml"), Person{Mode: ModeRoot}, nil); err == nil {
		t.Error("a lock through a link was taken")
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the link's target was created")
	}
}

// Only a config file of this host's view that is certainly gone keeps nothing.
func TestKeeperAlive(t *testing.T) {
	dir := t.TempDir()
	here := filepath.Join(dir, "config.yaml")
	os.WriteFile(here, nil, 0o600)
	gone := filepath.Join(dir, "gone.yaml")
	if !KeeperAlive(View(), here) {
		t.Error("an existing config judged gone")
	}
	if View() != "" && KeeperAlive(View(), gone) {
		t.Error("a missing config of this view judged alive")
	}
	if !KeeperAlive("ffffffffffff", gone) || !KeeperAlive("", gone) {
		t.Error("a config of another view, or of none, judged")
	}
}
