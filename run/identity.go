package run

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/oci"
	"github.com/aishell/aishell/rootless"
)

// ContainerUser is who the container's process runs as on the person's behalf: the person's
// own uid and gid under sudo, 0 as root and in rootless mode (where 0 is the person on the
// host), with HOME at the person's home path either way.
func ContainerUser(p config.Person) oci.User {
	uid, gid, name, group := p.ContainerUser()
	return oci.User{UID: uid, GID: gid, Name: name, Group: group, Home: p.Home, Shell: "/bin/bash"}
}

// GitIdentity returns GIT_AUTHOR_* and GIT_COMMITTER_* from the person's git config in dir, and
// the same values as command-line config (GIT_CONFIG_COUNT) so `git config user.email` inside
// answers as on the host (without git on the host, no identity), with safe.directory=* beside
// them: inside, the project and a worktree's repository may belong to another uid than the
// process's (a CI checkout, root in rootless mode seeing an unmapped owner), and git must not
// refuse them there.
func GitIdentity(dir string, p config.Person) []string {
	// One git for both keys: each value is the rest of its line after the key.
	var name, email string
	out, _ := asPerson(exec.Command("git", "-C", dir, "config", "--get-regexp", `^user\.(name|email)$`), p).Output()
	for _, line := range strings.Split(string(out), "\n") {
		key, value, _ := strings.Cut(line, " ")
		switch key {
		case "user.name":
			name = strings.TrimSpace(value)
		case "user.email":
			email = strings.TrimSpace(value)
		}
	}
	var env []string
	var keys, vals []string
	if name != "" {
		env = append(env, "GIT_AUTHOR_NAME="+name, "GIT_COMMITTER_NAME="+name)
		keys, vals = append(keys, "user.name"), append(vals, name)
	}
	if email != "" {
		env = append(env, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_EMAIL="+email)
		keys, vals = append(keys, "user.email"), append(vals, email)
	}
	keys, vals = append(keys, "safe.directory"), append(vals, "*")
	env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(keys)))
	for i := range keys {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, keys[i]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, vals[i]))
	}
	return env
}

// EarlyIdentity starts GitIdentity(dir, p) now and returns what waits for it (once; later calls
// return the same), so that git runs while the run's other steps do.
func EarlyIdentity(dir string, p config.Person) func() []string {
	ch := make(chan []string, 1)
	go func() { ch <- GitIdentity(dir, p) }()
	return sync.OnceValue(func() []string { return <-ch })
}

// asPerson makes cmd run as the person, with their HOME, when aishell runs as root on their
// behalf (sudo): git then reads their ~/.gitconfig, not root's, and trusts their repository.
func asPerson(cmd *exec.Cmd, p config.Person) *exec.Cmd {
	if p.Mode != config.ModeSudo {
		return cmd
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.GID)}}
	env := []string{"HOME=" + p.Home, "USER=" + p.Name, "LOGNAME=" + p.Name}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "USER", "LOGNAME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL":
		default:
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd
}

// DetectRuntime says how containers run for the host h: as root on the system containerd, or
// rootless, with the user's runtime directory and, on cgroup v2 with delegated controllers,
// systemd cgroups.
func DetectRuntime(h config.Host) Runtime {
	if !h.Rootless {
		return Runtime{}
	}
	return Runtime{Rootless: true, RuntimeDir: h.RuntimeDir(), SystemdCgroup: rootless.DetectCgroups(h.EUID).Delegated}
}
