package run

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
)

// rootfsFile reads a regular file of a snapshot from the directories its mounts name (overlay
// upper and lower dirs, or a bind source), top layer first, without mounting anything. Nothing
// is followed through a symbolic link: the image's links point into the image, and followed on
// the host they would read the host's files. A whiteout, a link or a missing file gives
// fs.ErrNotExist (the caller falls back to defaults).
func rootfsFile(mounts []mount.Mount, path string) ([]byte, error) {
	for _, dir := range layerDirs(mounts) {
		fi, err := lstatInLayer(dir, path)
		if errors.Is(err, errShadowed) {
			return nil, fs.ErrNotExist // this layer hides the lower ones' file
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() { // whiteout, link, directory...
			return nil, fs.ErrNotExist
		}
		return os.ReadFile(filepath.Join(dir, path))
	}
	return nil, fs.ErrNotExist
}

// errShadowed: a layer has something other than a directory where path needs one, so lower
// layers' files at path are hidden.
var errShadowed = errors.New("shadowed by a non-directory")

// lstatInLayer stats path inside a layer directory, refusing any symbolic link on the way.
func lstatInLayer(dir, path string) (fs.FileInfo, error) {
	parts := strings.Split(filepath.Clean(path), string(filepath.Separator))
	cur := dir
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return nil, err
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return nil, errShadowed // a link or whiteout in place of a directory
		}
		if i == len(parts)-1 {
			return fi, nil
		}
	}
	return nil, fs.ErrNotExist
}

// rootfsHas reports whether path exists in the snapshot.
func rootfsHas(mounts []mount.Mount, path string) bool {
	for _, dir := range layerDirs(mounts) {
		fi, err := lstatInLayer(dir, path)
		if err == nil {
			return fi.Mode()&fs.ModeCharDevice == 0
		}
		if errors.Is(err, errShadowed) {
			return false
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
