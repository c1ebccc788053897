package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/aishell/aishell/errs"
)

// Mode says how aishell reaches containerd, and so who the container's process runs as.
type Mode string

const (
	// ModeRoot is root on the host, on the system containerd: the container runs as root.
	ModeRoot Mode = "root"
	// ModeSudo is a user who ran `sudo aishell`, on the system containerd: the container runs
	// as that user (SUDO_UID/SUDO_GID), so what it writes in the project is theirs.
	ModeSudo Mode = "sudo"
	// ModeRootless is a user on their own rootless containerd (Lima's default): the container
	// runs as uid 0 of containerd's user namespace, which is that user on the host.
	ModeRootless Mode = "rootless"
)

// Person is whoever typed the command. Their home path is HOME inside, their config and
// harness config directories are the ones read and mounted, and they own on the host what the
// container creates in the project, whatever the mode.
type Person struct {
	Mode     Mode
	UID, GID int // on the host
	Name     string
	Group    string
	Home     string
}

// ContainerUser is the uid, gid and names the container's process runs as: the person's own
// under sudo; 0 as root and in rootless mode, where uid 0 of the user namespace is the person.
func (p Person) ContainerUser() (uid, gid uint32, name, group string) {
	if p.Mode == ModeSudo {
		return uint32(p.UID), uint32(p.GID), p.Name, p.Group
	}
	return 0, 0, "root", "root"
}

// Own gives a file or directory aishell created on the person's behalf to the person. Only
// under sudo is there anything to do: otherwise aishell already runs as them (in rootless
// mode, uid 0 of the user namespace is them on the host).
func (p Person) Own(path string) error {
	if p.Mode != ModeSudo {
		return nil
	}
	if err := os.Lchown(path, p.UID, p.GID); err != nil {
		return fmt.Errorf("give %s to %s: %w", path, p.Name, err)
	}
	return nil
}

// MkdirAll creates dir and its missing parents, each owned by the person.
func (p Person) MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := p.MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if os.IsExist(err) {
			return nil
		}
		return err
	}
	return p.Own(dir)
}

// Users looks up accounts; nil fields fall back to the system's user database.
type Users struct {
	ByUID func(uid int) (name, home string, ok bool)
	ByGID func(gid int) (name string, ok bool)
}

func (u Users) byUID(uid int) (string, string, bool) {
	if u.ByUID != nil {
		return u.ByUID(uid)
	}
	acct, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", "", false
	}
	return acct.Username, acct.HomeDir, true
}

func (u Users) byGID(gid int) (string, bool) {
	if u.ByGID != nil {
		return u.ByGID(gid)
	}
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		return "", false
	}
	return g.Name, true
}

// WhoInvoked works out the person and the mode from the host: a non-root user (or aishell
// re-executed inside rootlesskit's namespaces on their behalf) is rootless; root with
// SUDO_UID set is a user through sudo; root otherwise is root.
func WhoInvoked(h Host) (Person, error) {
	getenv := h.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var p Person
	switch {
	case h.Rootless || h.EUID != 0:
		p = Person{Mode: ModeRootless, UID: h.EUID, GID: h.EGID}
		name, home, ok := h.Users.byUID(p.UID)
		p.Name = name
		if !ok {
			p.Name = fmt.Sprintf("user%d", p.UID)
		}
		// Inside rootlesskit's namespaces HOME is still the user's (nsenter keeps the
		// environment); the account's home is the fallback.
		p.Home = getenv("HOME")
		if p.Home == "" {
			p.Home = home
		}
	case getenv("SUDO_UID") != "" && getenv("SUDO_UID") != "0":
		uid, err := strconv.Atoi(getenv("SUDO_UID"))
		if err != nil || uid < 0 {
			return Person{}, &errs.UsageError{Err: fmt.Errorf("SUDO_UID=%q is not a uid", getenv("SUDO_UID")), Hint: "run aishell through sudo, which sets it, or unset it"}
		}
		p = Person{Mode: ModeSudo, UID: uid, GID: -1, Name: getenv("SUDO_USER")}
		if g, err := strconv.Atoi(getenv("SUDO_GID")); err == nil && g >= 0 {
			p.GID = g
		}
		name, home, ok := h.Users.byUID(uid)
		if !ok {
			return Person{}, errs.WithHint(fmt.Errorf("sudo: no account with uid %d (SUDO_UID) in the user database", uid),
				"run aishell as that user, or through sudo from an account that exists")
		}
		if p.Name == "" {
			p.Name = name
		}
		// sudo sets HOME to root's: the person's home comes from their account, never from HOME.
		p.Home = home
		// Forwarded from a Mac into colima's VM (rootful, so through sudo), the person's home is the
		// host's as the VM mounts it, which the forwarder names (vm.EnvHome); taken only when the
		// directory is theirs.
		if vh := getenv("AISHELL_VM_HOME"); vh != "" && getenv("AISHELL_IN_VM") != "" && ownedBy(vh, uid) {
			p.Home = vh
		}
		if p.GID < 0 {
			p.GID = uid
		}
	default:
		p = Person{Mode: ModeRoot, UID: 0, GID: h.EGID}
		p.Name = "root"
		p.Home = getenv("HOME")
		if p.Home == "" {
			if _, home, ok := h.Users.byUID(0); ok {
				p.Home = home
			} else {
				p.Home = "/root"
			}
		}
	}
	if g, ok := h.Users.byGID(p.GID); ok {
		p.Group = g
	} else {
		p.Group = p.Name
	}
	if p.Home == "" {
		p.Home = "/home/" + p.Name
	}
	return p, nil
}

// ownedBy says whether dir is a directory of uid's.
func ownedBy(dir string, uid int) bool {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// EnvHostAddrs carries the host's own addresses (comma-separated) from an aishell on the host
// to the one it re-executes in rootlesskit's namespaces, whose network namespace may not be the
// host's: the network sandbox rejects them (rootless.Enter sets it, network reads it).
const EnvHostAddrs = "AISHELL_HOST_ADDRS"
