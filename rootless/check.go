package rootless

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Finding is one thing rootless use needs, found present or not.
type Finding struct {
	Name   string
	OK     bool
	Warn   bool // missing, but aishell works without it
	Detail string
	Hint   string // the command that fixes it
}

// Prerequisites checks what rootless containerd needs for the user name/uid, besides the
// daemons themselves: subordinate ids, the setuid id-mapping helpers, nsenter, and cgroup
// delegation (a warning only: without it containers run with no resource limits).
func Prerequisites(name string, uid int) []Finding {
	var out []Finding
	subuid, subgid := hasSubIDs("/etc/subuid", name, uid), hasSubIDs("/etc/subgid", name, uid)
	f := Finding{Name: "subids", OK: subuid && subgid, Detail: fmt.Sprintf("%s has subordinate uids and gids in /etc/subuid and /etc/subgid", name)}
	if !f.OK {
		var missing []string
		if !subuid {
			missing = append(missing, "/etc/subuid")
		}
		if !subgid {
			missing = append(missing, "/etc/subgid")
		}
		f.Detail = fmt.Sprintf("no entry for %s in %s", name, strings.Join(missing, " and "))
		f.Hint = fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s (pick a range no other user has)", name)
	}
	out = append(out, f)

	f = Finding{Name: "uidmap", OK: true}
	var missing []string
	for _, b := range []string{"newuidmap", "newgidmap"} {
		if p, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		} else if f.Detail == "" {
			f.Detail = p
		} else {
			f.Detail += ", " + p
		}
	}
	if len(missing) > 0 {
		f.OK, f.Detail = false, strings.Join(missing, " and ")+" not found on PATH"
		f.Hint = "install them (Debian/Ubuntu: sudo apt-get install uidmap)"
	}
	out = append(out, f)

	f = Finding{Name: "nsenter", OK: true}
	if p, err := exec.LookPath("nsenter"); err != nil {
		f.OK, f.Detail, f.Hint = false, "nsenter not found on PATH (aishell enters rootlesskit's namespaces with it)", "install util-linux (Debian/Ubuntu: sudo apt-get install util-linux)"
	} else {
		f.Detail = p
	}
	out = append(out, f)

	cg := DetectCgroups(uid)
	f = Finding{Name: "cgroups", OK: cg.Delegated, Warn: !cg.Delegated, Detail: cg.Detail, Hint: cg.Hint}
	return append(out, f)
}

// hasSubIDs reports whether file has a range for the user, by name or by uid.
func hasSubIDs(file, name string, uid int) bool {
	fh, err := os.Open(file)
	if err != nil {
		return false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(uid)) {
			continue
		}
		if n, err := strconv.Atoi(f[2]); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// Cgroups says whether rootless containers can be put in cgroups here.
type Cgroups struct {
	// Delegated: cgroup v2 under systemd, with the memory and pids controllers delegated
	// to the user's systemd instance. Containers then use systemd's cgroup driver.
	Delegated bool
	Detail    string
	Hint      string
}

// delegateHint is how to delegate controllers to users' systemd instances (rootlesscontaine.rs).
const delegateHint = "delegate controllers: sudo mkdir -p /etc/systemd/system/user@.service.d && " +
	"printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && " +
	"sudo systemctl daemon-reload, then log in again"

// DetectCgroups looks at the host's cgroup hierarchy for the user uid.
func DetectCgroups(uid int) Cgroups {
	return detectCgroups("/sys/fs/cgroup", "/run/systemd/system", uid)
}

func detectCgroups(root, systemd string, uid int) Cgroups {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		return Cgroups{Detail: "cgroup v1: rootless containers run without resource limits (no controller can be delegated to a user)",
			Hint: "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) to get limits; Lima's VMs have it"}
	}
	if fi, err := os.Stat(systemd); err != nil || !fi.IsDir() {
		return Cgroups{Detail: "cgroup v2 without systemd: no controllers are delegated to rootless containers; they run without resource limits",
			Hint: "run under systemd, which delegates controllers to users"}
	}
	p := filepath.Join(root, "user.slice", fmt.Sprintf("user-%d.slice", uid), fmt.Sprintf("user@%d.service", uid), "cgroup.controllers")
	b, err := os.ReadFile(p)
	if err != nil {
		return Cgroups{Detail: fmt.Sprintf("cgroup v2, but %s cannot be read: is the user logged in through systemd (loginctl enable-linger)?", p),
			Hint: "sudo loginctl enable-linger " + strconv.Itoa(uid)}
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		have[c] = true
	}
	var missing []string
	for _, c := range []string{"memory", "pids"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return Cgroups{Detail: fmt.Sprintf("cgroup v2, but the %s controller(s) are not delegated to uid %d; containers run without those limits", strings.Join(missing, ", "), uid),
			Hint: delegateHint}
	}
	return Cgroups{Delegated: true, Detail: "cgroup v2 with " + strings.TrimSpace(string(b)) + " delegated (systemd cgroup driver)"}
}
