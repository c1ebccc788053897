package sensitive

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// skipDirs are the directories the walk does not enter, wherever they are: git's own store,
// other people's code that a package manager put there, and caches and build output that tools
// make again. (Their secrets are not the project's: test keys of a dependency, say.)
var skipDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true,
	"node_modules": true, "bower_components": true, "jspm_packages": true, ".yarn": true, ".pnpm-store": true,
	".venv": true, "__pycache__": true, ".tox": true, ".nox": true, ".eggs": true,
	".mypy_cache": true, ".pytest_cache": true, ".ruff_cache": true, ".hypothesis": true,
	".gradle": true, ".m2": true, ".next": true, ".nuxt": true, ".svelte-kit": true, ".parcel-cache": true,
	".turbo": true, ".angular": true, ".cache": true, ".terragrunt-cache": true, ".direnv": true,
}

// skipMarkers mark a directory as a tool's tree whatever its name: a cache (CACHEDIR.TAG, as
// cargo's target/ has), a Python virtualenv (pyvenv.cfg).
var skipMarkers = map[string]bool{"CACHEDIR.TAG": true, "pyvenv.cfg": true}

// vendorMarkers mark a vendor/ directory as a package manager's copy of dependencies: Go's
// modules.txt, Composer's autoload.php, Bundler's bundle/. A vendor/ without one is walked:
// it may be the project's own code. third_party/ is always walked: it is usually copied by
// hand, and secrets put there are the project's.
var vendorMarkers = []string{"modules.txt", "autoload.php", "bundle"}

// walk calls visit for every regular file under root, with its path relative to root (with /
// between names), the name of its directory and its own name. It never follows a symbolic link
// (a link is not visited, nor a directory it points to) and skips anything that is neither a
// regular file nor a directory (FIFOs, sockets, devices), so nothing it opens can block.
// Directories it cannot read are passed over.
func walk(root string, visit func(rel, dir, name string)) error {
	type pending struct{ abs, rel, name string }
	stack := []pending{{abs: root, name: filepath.Base(root)}}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		entries, err := readDir(d.abs)
		if err != nil {
			if d.rel == "" {
				return err
			}
			continue
		}
		if d.rel != "" && toolTree(d.name, entries) {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			rel := name
			if d.rel != "" {
				rel = d.rel + "/" + name
			}
			switch t := e.Type(); {
			case t.IsDir():
				if !skipDirs[name] {
					stack = append(stack, pending{abs: d.abs + "/" + name, rel: rel, name: name})
				}
			case t.IsRegular():
				visit(rel, d.name, name)
			}
		}
	}
	return nil
}

// toolTree reports whether a directory called name holding entries is a tool's (see
// skipMarkers and vendorMarkers).
func toolTree(name string, entries []os.DirEntry) bool {
	for _, e := range entries {
		if skipMarkers[e.Name()] {
			return true
		}
		if name == "vendor" {
			for _, m := range vendorMarkers {
				if e.Name() == m {
					return true
				}
			}
		}
	}
	return false
}

// readDir lists a directory, unsorted, refusing to follow a symbolic link put in its place.
func readDir(dir string) ([]os.DirEntry, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// errNotRegular is what readHead says of anything but a regular file.
var errNotRegular = errors.New("not a regular file")

// readHead reads up to max bytes from the start of a regular file. It does not follow a
// symbolic link and does not wait on a FIFO or a device swapped in for the file since it was
// listed: it opens without blocking and checks what it opened.
func readHead(path string, max int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	if size := fi.Size(); size >= 0 && size < int64(max) {
		max = int(size) + 1 // +1: a file that grew since is still read to its end, up to max
	}
	buf := make([]byte, max)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}
