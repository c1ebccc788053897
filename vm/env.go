package vm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
)

// The variables the VM's aishell gets from the host, besides those of the harness catalog
// (API keys and settings, harness.EnvKeys) and AISHELL_*: the terminal, the locale, the
// containerd namespace and snapshotter. Endpoints (CONTAINERD_ADDRESS, BUILDKIT_HOST) are not
// passed: a host's sockets mean nothing in the VM, which has its own defaults.
var passed = []string{"TERM", "COLORTERM", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "NO_COLOR", "CI",
	"CONTAINERD_NAMESPACE", "CONTAINERD_SNAPSHOTTER"}

// notPassed are the AISHELL_ variables that steer the forwarder itself.
var notPassed = map[string]bool{EnvVM: true, EnvLimaInstance: true, EnvColimaProfile: true, EnvInVM: true, EnvEnvFile: true, EnvHome: true}

// forwardedEnv picks, from environ, what the VM's aishell gets, sorted.
func forwardedEnv(environ []string) []string {
	want := map[string]bool{}
	for _, k := range passed {
		want[k] = true
	}
	for _, k := range harness.EnvKeys() {
		want[k] = true
	}
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || notPassed[k] {
			continue
		}
		if want[k] || strings.HasPrefix(k, "AISHELL_") {
			out = append(out, kv)
		}
	}
	sort.Strings(out)
	return out
}

// passEnv says how the variables reach the VM's aishell, as `env` arguments. What is not
// secret goes on the command line: the marker that stops a second forwarding, and the home
// directory (HOME for Lima's rootless aishell; AISHELL_VM_HOME for colima's, through sudo, which
// takes no HOME). The rest (API keys among them) is written to a file only the user can read,
// in a directory of the home the VM mounts, and only its name goes on the command line: host
// processes' arguments are visible to every user in ps, and limactl and ssh carry their
// command in their arguments. The VM's aishell reads and deletes the file before anything else
// (Adopt); cleanup deletes it in any case. When no mounted directory can hold it, the
// variables go on the command line after all, with a one-line notice saying so.
func passEnv(t Target, ms []Mount, home string, environ []string) (argv []string, cleanup func(), err error) {
	cleanup = func() {}
	argv = []string{EnvInVM + "=1"}
	if g, ok := GuestPath(ms, home); ok && home != "" {
		if t.Kind == Colima {
			argv = append(argv, EnvHome+"="+g)
		} else {
			argv = append(argv, "HOME="+g)
		}
	}
	vars := forwardedEnv(environ)
	if len(vars) == 0 {
		return argv, cleanup, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "aishell", "vm")
	guestDir, visible := GuestPath(ms, cache)
	if !visible || home == "" {
		fmt.Fprintf(os.Stderr, "aishell: %s is not mounted in the %s: the variables aishell passes go on the command line instead, visible in ps\n", cache, t)
		return append(argv, vars...), cleanup, nil
	}
	if err := ensureDir(dir); err != nil {
		return nil, nil, fmt.Errorf("a directory for the variables passed to the VM: %w", err)
	}
	f, err := os.CreateTemp(dir, "env-*")
	if err != nil {
		return nil, nil, fmt.Errorf("a file for the variables passed to the VM: %w", err)
	}
	cleanup = func() { os.Remove(f.Name()) }
	var buf bytes.Buffer
	for _, kv := range vars {
		buf.WriteString(kv)
		buf.WriteByte(0)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		cleanup()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return nil, nil, err
	}
	guestFile := filepath.Join(guestDir, "aishell", "vm", filepath.Base(f.Name()))
	return append(argv, EnvEnvFile+"="+guestFile), cleanup, nil
}

// Adopt, in the VM, takes the variables the host's aishell left in AISHELL_VM_ENV_FILE and
// deletes the file. The file must be a regular file of the person's (the user, or SUDO_UID's
// under sudo) that no one else can read or write, or it is refused.
func Adopt() error {
	if os.Getenv(EnvInVM) == "" {
		return nil
	}
	path := os.Getenv(EnvEnvFile)
	if path == "" {
		return nil
	}
	os.Unsetenv(EnvEnvFile)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return errs.WithHint(fmt.Errorf("the variables the host passed (%s): %w", path, err),
			"is the host's home mounted in the VM? (limactl list --json shows the mounts)")
	}
	defer os.Remove(path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	owner := os.Geteuid()
	if s := os.Getenv("SUDO_UID"); owner == 0 && s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			owner = n
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || (ok && int(st.Uid) != owner) {
		return errs.WithHint(fmt.Errorf("refusing the variables in %s: not a private regular file of uid %d (mode %v)", path, owner, fi.Mode()),
			"it is written by aishell on the host; run aishell from the host again")
	}
	b, err := readAll(f, 1<<20)
	if err != nil {
		return err
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
	return nil
}

func readAll(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), max)
	}
	return b, nil
}
