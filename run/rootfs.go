package run

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
)

// rootfsFile reads a file of a snapshot from the directories its mounts name (overlay
// upper and lower dirs, or a bind source), top layer first, without mounting anything.
// A whiteout or a missing file gives fs.ErrNotExist.
func rootfsFile(mounts []mount.Mount, path string) ([]byte, error) {
	for _, dir := range layerDirs(mounts) {
		p := filepath.Join(dir, path)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeCharDevice != 0 { // overlay whiteout
			return nil, fs.ErrNotExist
		}
		return os.ReadFile(p)
	}
	return nil, fs.ErrNotExist
}

// rootfsHas reports whether path exists in the snapshot.
func rootfsHas(mounts []mount.Mount, path string) bool {
	for _, dir := range layerDirs(mounts) {
		fi, err := os.Lstat(filepath.Join(dir, path))
		if err == nil {
			return fi.Mode()&fs.ModeCharDevice == 0
		}
	}
	return false
}

// layerDirs lists the directories of a snapshot's mounts, top first.
func layerDirs(mounts []mount.Mount) []string {
	var dirs []string
	for _, m := range mounts {
		switch m.Type {
		case "bind", "rbind":
			dirs = append(dirs, m.Source)
		case "overlay":
			var upper string
			var lower []string
			for _, o := range m.Options {
				if v, ok := strings.CutPrefix(o, "upperdir="); ok {
					upper = v
				}
				if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
					lower = strings.Split(v, ":")
				}
			}
			if upper != "" {
				dirs = append(dirs, upper)
			}
			dirs = append(dirs, lower...)
		}
	}
	return dirs
}
