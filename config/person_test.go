package config

import (
	"os"
	"strconv"
	"testing"
)

var testUsers = Users{
	ByUID: func(uid int) (string, string, bool) {
		switch uid {
		case 0:
			return "root", "/root", true
		case 1000:
			return "alice", "/home/alice", true
		}
		return "", "", false
	},
	ByGID: func(gid int) (string, bool) {
		switch gid {
		case 0:
			return "root", true
		case 1000:
			return "alice", true
		case 27:
			return "sudo", true
		}
		return "", false
	},
}

func TestWhoInvokedRoot(t *testing.T) {
	p, err := WhoInvoked(Host{Getenv: env(map[string]string{"HOME": "/root"}), EUID: 0, EGID: 0, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeRoot || p.UID != 0 || p.Home != "/root" || p.Name != "root" {
		t.Errorf("got %+v", p)
	}
	if uid, gid, name, _ := p.ContainerUser(); uid != 0 || gid != 0 || name != "root" {
		t.Errorf("container user %d:%d %s", uid, gid, name)
	}
}

func TestWhoInvokedSudoIsThePersonNotRoot(t *testing.T) {
	// sudo leaves HOME at root's and sets SUDO_*: the person is alice, with her own home.
	p, err := WhoInvoked(Host{Getenv: env(map[string]string{"HOME": "/root", "SUDO_UID": "1000", "SUDO_GID": "1000", "SUDO_USER": "alice"}),
		EUID: 0, EGID: 0, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeSudo || p.UID != 1000 || p.GID != 1000 || p.Name != "alice" || p.Home != "/home/alice" || p.Group != "alice" {
		t.Errorf("got %+v", p)
	}
	if uid, gid, name, group := p.ContainerUser(); uid != 1000 || gid != 1000 || name != "alice" || group != "alice" {
		t.Errorf("container user %d:%d %s:%s", uid, gid, name, group)
	}
	// sudo as root from root is just root.
	p, _ = WhoInvoked(Host{Getenv: env(map[string]string{"HOME": "/root", "SUDO_UID": "0", "SUDO_USER": "root"}), Users: testUsers})
	if p.Mode != ModeRoot {
		t.Errorf("sudo from root: %+v", p)
	}
}

func TestWhoInvokedSudoErrors(t *testing.T) {
	if _, err := WhoInvoked(Host{Getenv: env(map[string]string{"SUDO_UID": "x"}), Users: testUsers}); err == nil {
		t.Error("a SUDO_UID that is not a number was accepted")
	}
	if _, err := WhoInvoked(Host{Getenv: env(map[string]string{"SUDO_UID": "777"}), Users: testUsers}); err == nil {
		t.Error("a SUDO_UID with no account was accepted")
	}
}

func TestWhoInvokedRootless(t *testing.T) {
	// Inside rootlesskit's namespaces aishell is uid 0, but the person is the parent's uid.
	p, err := WhoInvoked(Host{Getenv: env(map[string]string{"HOME": "/home/alice"}), EUID: 1000, EGID: 1000, Rootless: true, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeRootless || p.UID != 1000 || p.Name != "alice" || p.Home != "/home/alice" {
		t.Errorf("got %+v", p)
	}
	if uid, gid, name, _ := p.ContainerUser(); uid != 0 || gid != 0 || name != "root" {
		t.Errorf("rootless container user %d:%d %s, want 0:0 root", uid, gid, name)
	}
	// SUDO_* left in a rootless user's environment change nothing.
	p, _ = WhoInvoked(Host{Getenv: env(map[string]string{"HOME": "/home/alice", "SUDO_UID": "0"}), EUID: 1000, EGID: 1000, Rootless: true, Users: testUsers})
	if p.Mode != ModeRootless || p.UID != 1000 {
		t.Errorf("got %+v", p)
	}
}

func TestResolveRootlessChildUsesRootlessDefaults(t *testing.T) {
	// Inside rootlesskit's namespaces aishell's euid is 0, but the host's user is not root.
	e := Resolve(Overrides{}, Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), EUID: 1000, Rootless: true})
	if e.ContainerdAddress != "/run/user/1000/containerd/containerd.sock" {
		t.Errorf("containerd = %q", e.ContainerdAddress)
	}
	exists := func(p string) bool { return p == "/run/user/1000/buildkit-aishell/buildkitd.sock" }
	e = Resolve(Overrides{}, Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), EUID: 1000, Rootless: true, Exists: exists})
	if e.BuildkitHost != "unix:///run/user/1000/buildkit-aishell/buildkitd.sock" {
		t.Errorf("buildkit = %q", e.BuildkitHost)
	}
}

// Forwarded into colima's VM through sudo, the person's home is the host's (AISHELL_VM_HOME),
// when that directory is theirs and aishell was forwarded; otherwise their account's.
func TestWhoInvokedSudoInVMHome(t *testing.T) {
	uid := os.Geteuid()
	vmHome := t.TempDir()
	if uid == 0 {
		uid = 1000
		if err := os.Chown(vmHome, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	users := Users{ByUID: func(u int) (string, string, bool) { return "alice", "/home/alice.linux", u == uid }, ByGID: testUsers.ByGID}
	vars := map[string]string{"HOME": "/root", "SUDO_UID": strconv.Itoa(uid), "SUDO_GID": strconv.Itoa(uid), "SUDO_USER": "alice",
		"AISHELL_VM_HOME": vmHome, "AISHELL_IN_VM": "1"}
	p, err := WhoInvoked(Host{Getenv: env(vars), Users: users})
	if err != nil || p.Home != vmHome {
		t.Errorf("forwarded: home %q (%v), want %q", p.Home, err, vmHome)
	}
	delete(vars, "AISHELL_IN_VM")
	if p, _ := WhoInvoked(Host{Getenv: env(vars), Users: users}); p.Home != "/home/alice.linux" {
		t.Errorf("not forwarded: home %q, want the account's", p.Home)
	}
	vars["AISHELL_IN_VM"] = "1"
	vars["AISHELL_VM_HOME"] = "/"
	if p, _ := WhoInvoked(Host{Getenv: env(vars), Users: users}); p.Home != "/home/alice.linux" {
		t.Errorf("a home not theirs: home %q, want the account's", p.Home)
	}
}
