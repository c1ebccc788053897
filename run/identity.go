package run

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"

	"github.com/aishell/aishell/oci"
)

// CurrentUser is the invoking user as the container will see them: uid, gid, name, group and
// HOME at the host's home path. as ("UID[:GID]", empty for the invoking user) runs as another
// identity, e.g. when aishell itself runs as root on behalf of a user (CI, tests).
func CurrentUser(as string) (oci.User, error) {
	uid, gid := os.Getuid(), os.Getgid()
	if as != "" {
		u, g, hasGID := strings.Cut(as, ":")
		var err error
		if uid, err = strconv.Atoi(u); err != nil || uid < 0 {
			return oci.User{}, fmt.Errorf("--run-as %q: want UID[:GID]", as)
		}
		gid = uid
		if hasGID {
			if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
				return oci.User{}, fmt.Errorf("--run-as %q: want UID[:GID]", as)
			}
		}
	}
	out := oci.User{UID: uint32(uid), GID: uint32(gid), Shell: "/bin/bash"}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		out.Name, out.Home = u.Username, u.HomeDir
		if as == "" {
			if h := os.Getenv("HOME"); h != "" {
				out.Home = h
			}
		}
	} else {
		out.Name, out.Home = fmt.Sprintf("user%d", uid), fmt.Sprintf("/home/user%d", uid)
	}
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		out.Group = g.Name
	} else {
		out.Group = out.Name
	}
	return out, nil
}

// GitIdentity returns GIT_AUTHOR_* and GIT_COMMITTER_* from the host's git config in dir, and
// the same values as command-line config (GIT_CONFIG_COUNT) so `git config user.email` inside
// answers as on the host. Without git on the host it returns nothing.
func GitIdentity(dir string) []string {
	get := func(key string) string {
		out, err := exec.Command("git", "-C", dir, "config", "--get", key).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	name, email := get("user.name"), get("user.email")
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
	if len(keys) > 0 {
		env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(keys)))
		for i := range keys {
			env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, keys[i]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, vals[i]))
		}
	}
	return env
}
