//go:build !linux

package run

import (
	"context"
	"io"
)

// watch sweeps before and after: inotify is Linux's, and aishell runs containers only there.
func (g gitGuard) watch(warn io.Writer) (stop func(context.Context) error) {
	g.sweep(warn)
	return func(context.Context) error { g.sweep(warn); return nil }
}
