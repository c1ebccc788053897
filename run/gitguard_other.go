//go:build !linux

package run

import (
	"context"
	"io"
	"os"
)

// newWatcher is nil: inotify is Linux's.
func newWatcher() *os.File { return nil }

// watch sweeps before and after: inotify is Linux's, and aishell runs containers only there.
func (g gitGuard) watch(warn io.Writer, _ *os.File) (stop func(context.Context) error) {
	g.sweep(warn)
	return func(context.Context) error { g.sweep(warn); return nil }
}
