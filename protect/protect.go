// Package protect decides what a run may change of the person's harness config on the host,
// so that nothing an agent writes inside runs on the host later. Each harness's config
// directories are mounted read-write (credentials, history, sessions and state persist), and
// over them, read-only, what executes or decides what executes: the catalog's Protected paths
// and the scripts at the top of a config directory. A protected path that is missing is made
// on the host first, empty, so the container cannot create it. A file that mixes state with
// commands (~/.claude.json) is given to the container as a private copy and written back
// after the run with its command-bearing keys as the host has them.
//
// Prepare decides from the host (no writes); Plan.Start makes the placeholders and the private
// copies just before the container is created; Session.Finish, once nothing runs in the container,
// writes the copies back and checks that the protected paths are still what they were.
package protect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/project"
)

// Mount is one bind mount of a host path.
type Mount struct {
	Source, Destination string
	ReadWrite           bool
}

// Plan is what a run mounts of the person's harness config.
type Plan struct {
	// Binds are the config paths that exist on the host (but those inside the project, which
	// is mounted already, and the merged files), mounted read-write at the same paths.
	Binds []string

	person   config.Person
	pinned   []string            // directories between a config directory and a protected path, bound onto themselves first
	pinOnly  []string            // protected links that point out of the config directories: not mounted, put back after the run
	readOnly []string            // host paths mounted read-only at the same paths, after Binds
	create   []harness.Protected // placeholders to make at Start, Path absolute
	merged   []harness.Merged    // files given as private copies, Path absolute
}

// scriptExts name the files at the top of a config directory that are protected as scripts
// (a status line, a hook) even without an executable bit.
var scriptExts = map[string]bool{
	".sh": true, ".bash": true, ".zsh": true, ".fish": true, ".py": true, ".js": true, ".mjs": true,
	".cjs": true, ".ts": true, ".rb": true, ".pl": true, ".php": true, ".lua": true, ".ps1": true,
}

// Prepare plans the mounts of the harnesses' config for person, whose project proj is
// mounted already. It reads the host and writes nothing.
func Prepare(hs []harness.Harness, person config.Person, proj string) (Plan, error) {
	pl := Plan{person: person}
	home := person.Home
	ro, pinned := map[string]bool{}, map[string]bool{}
	addRO := func(p string) {
		if !ro[p] {
			ro[p] = true
			pl.readOnly = append(pl.readOnly, p)
		}
	}
	for _, h := range hs {
		merged := map[string]harness.Merged{}
		for _, m := range h.Merged {
			merged[m.Path] = m
		}
		var dirs []string // the harness's config directories that are there, so mounted
		for _, cp := range h.ConfigPaths {
			full := filepath.Join(home, cp)
			fi, err := os.Stat(full)
			if err != nil {
				continue
			}
			if m, ok := merged[cp]; ok {
				if fi.Mode().IsRegular() {
					m.Path = full
					pl.merged = append(pl.merged, m)
				}
				continue
			}
			if !project.Within(full, proj) {
				pl.Binds = append(pl.Binds, full)
			}
			if fi.IsDir() {
				dirs = append(dirs, full)
			}
		}
		inDirs := func(p string) bool {
			for _, d := range dirs {
				if project.Within(p, d) {
					return true
				}
			}
			return false
		}
		// protectPath mounts full read-only, with the directories between its config
		// directory and it bound onto themselves (a mount point cannot be moved aside, its
		// read-only content with it). A link that leads out of the config directories is not
		// mounted (that would show its target, say ~/.ssh, inside): it is put back after the run.
		protectPath := func(full string) error {
			if err := mountable(full); err != nil {
				return err
			}
			if !resolvesWithin(full, dirs) {
				pl.pinOnly = append(pl.pinOnly, full)
				return nil
			}
			for _, d := range dirs {
				if project.Within(full, d) {
					for a := filepath.Dir(full); a != d && project.Within(a, d); a = filepath.Dir(a) {
						if !pinned[a] {
							pinned[a] = true
							pl.pinned = append(pl.pinned, a)
						}
					}
				}
			}
			addRO(full)
			return nil
		}
		for _, pr := range h.Protected {
			full := filepath.Join(home, pr.Path)
			if !inDirs(full) {
				continue // its config directory is not there: nothing of it is mounted
			}
			if strings.ContainsAny(pr.Path, "*?[") {
				matches, _ := filepath.Glob(full)
				for _, m := range matches {
					if err := protectPath(m); err != nil {
						return Plan{}, err
					}
				}
				continue
			}
			if _, err := os.Lstat(full); err != nil {
				if errors.Is(err, fs.ErrNotExist) && pr.Create {
					pr.Path = full
					pl.create = append(pl.create, pr)
					addRO(full)
				}
				continue
			}
			if err := protectPath(full); err != nil {
				return Plan{}, err
			}
		}
		for _, m := range h.Merged {
			full := filepath.Join(home, m.Path)
			if _, isConfigPath := indexOf(h.ConfigPaths, m.Path); isConfigPath || !inDirs(full) || ro[full] {
				continue
			}
			if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() {
				m.Path = full
				pl.merged = append(pl.merged, m)
			}
		}
		for _, d := range dirs {
			for _, s := range scripts(d) {
				if err := protectPath(s); err != nil {
					return Plan{}, err
				}
			}
		}
	}
	sort.Strings(pl.pinned)
	sort.Strings(pl.readOnly) // a directory before what is under it
	return pl, nil
}

func indexOf(list []string, s string) (int, bool) {
	for i, v := range list {
		if v == s {
			return i, true
		}
	}
	return -1, false
}

// mountable fails for a protected path that is a link to nothing: it cannot be mounted, and
// what the container wrote through it would land where the link points.
func mountable(p string) error {
	if _, err := os.Stat(p); err != nil {
		target, _ := os.Readlink(p)
		return errs.WithHint(fmt.Errorf("cannot protect %s from the container: it is a link to %s, which is not there", p, target),
			"create "+target+", or remove the link")
	}
	return nil
}

// resolvesWithin reports whether p, its links followed, lies in one of dirs (also followed).
func resolvesWithin(p string, dirs []string) bool {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	for _, d := range dirs {
		if project.Within(r, d) {
			return true
		}
		if rd, err := filepath.EvalSymlinks(d); err == nil && project.Within(r, rd) {
			return true
		}
	}
	return false
}

// scripts are the regular files at the top of config directory d that look like programs: an
// executable bit, or a script's extension. Settings point at them (a status line, a hook).
func scripts(d string) []string {
	entries, err := os.ReadDir(d)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		p := filepath.Join(d, e.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if fi.Mode().Perm()&0o111 != 0 || scriptExts[strings.ToLower(filepath.Ext(e.Name()))] {
			out = append(out, p)
		}
	}
	return out
}

// ReadOnly are the host paths the plan mounts read-only (those to be made at Start included).
func (pl Plan) ReadOnly() []string { return pl.readOnly }

// Session is one run's protected config: its mounts, and what Finish does after the run.
type Session struct {
	person config.Person
	mounts []Mount
	copies []privateCopy
	dir    string // holds the private copies
	pins   []pin
}

type privateCopy struct {
	harness.Merged        // Path: the host file
	copy           string // the container's copy
	original       []byte // what the copy held at the start
}

// pin is what a protected path was when the run started.
type pin struct {
	path string
	fi   fs.FileInfo // from Lstat
	link string      // its target, when it is a symbolic link
}

// Start makes the missing protected paths on the host (owned by the person) and the private
// copies of the merged files, in a directory named after the run id, and returns the session,
// whose Mounts go after the read-write Binds.
func (pl Plan) Start(id string) (*Session, error) {
	s := &Session{person: pl.person}
	for _, c := range pl.create {
		if err := Placeholder(c, pl.person); err != nil {
			return nil, err
		}
	}
	for _, d := range pl.pinned {
		s.mounts = append(s.mounts, Mount{Source: d, Destination: d, ReadWrite: true})
	}
	for _, p := range pl.pinOnly {
		if fi, err := os.Lstat(p); err == nil {
			link, _ := os.Readlink(p)
			s.pins = append(s.pins, pin{path: p, fi: fi, link: link})
		}
	}
	for _, p := range pl.readOnly {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone since Prepare (not one it makes): nothing to mount, as when absent
		}
		if err != nil {
			return nil, fmt.Errorf("protect %s: %w", p, err)
		}
		pn := pin{path: p, fi: fi}
		if fi.Mode()&fs.ModeSymlink != 0 {
			pn.link, _ = os.Readlink(p)
		}
		s.pins = append(s.pins, pn)
		s.mounts = append(s.mounts, Mount{Source: p, Destination: p})
	}
	if len(pl.merged) > 0 {
		dir, err := os.MkdirTemp("", id+"-config-")
		if err != nil {
			return nil, fmt.Errorf("private copies of the harness config: %w", err)
		}
		s.dir = dir
		for i, m := range pl.merged {
			b, err := os.ReadFile(m.Path)
			if err != nil {
				s.Finish(io.Discard)
				return nil, fmt.Errorf("private copy of %s: %w", m.Path, err)
			}
			cp := filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(m.Path)))
			if err := os.WriteFile(cp, b, 0o600); err != nil {
				s.Finish(io.Discard)
				return nil, fmt.Errorf("private copy of %s: %w", m.Path, err)
			}
			if err := pl.person.Own(cp); err != nil {
				s.Finish(io.Discard)
				return nil, err
			}
			s.copies = append(s.copies, privateCopy{Merged: m, copy: cp, original: b})
			s.mounts = append(s.mounts, Mount{Source: cp, Destination: m.Path, ReadWrite: true})
		}
	}
	return s, nil
}

// Placeholder makes a missing protected path as the harness reads "nothing configured": an
// empty directory, or a file holding c.Empty, owned by the person. One made meanwhile (by
// another run) is left as it is. The git guard makes its .git placeholders with it too.
func Placeholder(c harness.Protected, person config.Person) error {
	if c.Dir {
		if err := person.MkdirAll(c.Path, 0o755); err != nil {
			return fmt.Errorf("make %s, to protect it from the container: %w", c.Path, err)
		}
		return nil
	}
	if err := person.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return fmt.Errorf("make %s, to protect it from the container: %w", c.Path, err)
	}
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make %s, to protect it from the container: %w", c.Path, err)
	}
	_, err = f.WriteString(c.Empty)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = person.Own(c.Path)
	}
	if err != nil {
		os.Remove(c.Path)
		return fmt.Errorf("make %s, to protect it from the container: %w", c.Path, err)
	}
	return nil
}

// Dir is the directory of the private copies ("" when there are none): Finish removes it, and
// whoever removes a run whose aishell died removes it too, with what was never written back.
func (s *Session) Dir() string { return s.dir }

// Mounts are the session's mounts, in order: the protected paths read-only, then the private
// copies read-write. They go after the read-write config Binds they cover.
func (s *Session) Mounts() []Mount { return s.mounts }

// Finish, once nothing runs in the container (its PID 1 has exited), writes each private copy
// back to its host file with the command-bearing keys as the host has them, puts back a protected link the container
// replaced, warns about a protected path replaced on the host during the run (the container
// could write it from then on), and removes the copies. What it could not do is said on warn;
// the host's file is then left as it was.
func (s *Session) Finish(warn io.Writer) error {
	for _, c := range s.copies {
		if err := writeBack(c, s.person); err != nil {
			fmt.Fprintf(warn, "aishell: warning: %v\n", err)
		}
	}
	for _, p := range s.pins {
		if msg := p.check(s.person); msg != "" {
			fmt.Fprintf(warn, "aishell: warning: %s\n", msg)
		}
	}
	if s.dir == "" {
		return nil
	}
	return os.RemoveAll(s.dir)
}

// writeBack merges what the container wrote into the host file, unless it wrote nothing.
func writeBack(c privateCopy, person config.Person) error {
	got, err := os.ReadFile(c.copy)
	if err != nil {
		return fmt.Errorf("%s: what the container wrote is lost: %w", c.Path, err)
	}
	if bytes.Equal(got, c.original) {
		return nil
	}
	host, err := os.ReadFile(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s was removed on the host during the run; what the container wrote to it is dropped", c.Path)
	}
	if err != nil {
		return fmt.Errorf("%s: what the container wrote is dropped: %w", c.Path, err)
	}
	out, err := Merge(host, got, c.Keys, c.Nested)
	if err != nil {
		return fmt.Errorf("%s is left as it was: %w", c.Path, err)
	}
	if err := writeAtomic(c.Path, out, person); err != nil {
		return fmt.Errorf("%s is left as it was: %w", c.Path, err)
	}
	return nil
}

// writeAtomic replaces path (the file a link points at, when it is one) with data: a new file
// in the same directory with path's permissions, owned by the person, renamed over it.
func writeAtomic(path string, data []byte, person config.Person) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".aishell-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(fi.Mode().Perm())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = person.Own(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// check compares a protected path with what it was at the start. A link can only have been
// replaced by the container (the mount covers what it points at, not the link itself): it is
// put back. Anything else the container cannot replace (it is a mount point inside), so a
// different file there was put by the host during the run, and from then on the container saw
// the new one through the read-write directory: that is said, for the person to check.
func (p pin) check(person config.Person) string {
	fi, err := os.Lstat(p.path)
	if p.link != "" {
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if now, _ := os.Readlink(p.path); now == p.link {
				return ""
			}
		}
		if err := os.RemoveAll(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("%s, a link to %s, was replaced in the container, and could not be put back: %v; check it before running the harness", p.path, p.link, err)
		}
		if err := os.Symlink(p.link, p.path); err != nil {
			return fmt.Sprintf("%s, a link to %s, was replaced in the container, and could not be put back: %v; check it before running the harness", p.path, p.link, err)
		}
		person.Own(p.path)
		return fmt.Sprintf("%s, a link to %s, was replaced in the container; the link is put back", p.path, p.link)
	}
	if err != nil || os.SameFile(fi, p.fi) {
		return "" // gone: removed on the host, and nothing was put there
	}
	return fmt.Sprintf("%s was replaced on the host during the run; from then on the container could write it: check it before running the harness", p.path)
}
