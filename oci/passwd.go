package oci

import (
	"fmt"
	"strings"
)

// Passwd returns the image's /etc/passwd with u's entry in it: an existing line for u's uid or
// name is replaced, so `whoami`, `~` and git see the host's name and home.
func Passwd(image []byte, u User) []byte {
	shell := u.Shell
	if shell == "" {
		shell = "/bin/bash"
	}
	entry := fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, u.UID, u.GID, u.Name, u.Home, shell)
	return merge(image, entry, u.Name, fmt.Sprint(u.UID), 2, defaultPasswd)
}

// Group returns the image's /etc/group with u's primary group in it.
func Group(image []byte, u User) []byte {
	name := u.Group
	if name == "" {
		name = u.Name
	}
	entry := fmt.Sprintf("%s:x:%d:", name, u.GID)
	return merge(image, entry, name, fmt.Sprint(u.GID), 2, defaultGroup)
}

const defaultPasswd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
const defaultGroup = "root:x:0:\nnogroup:x:65534:\n"

// merge drops lines whose name (field 0) or id (field idField) match and appends entry.
func merge(image []byte, entry, name, id string, idField int, fallback string) []byte {
	src := string(image)
	if strings.TrimSpace(src) == "" {
		src = fallback
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) > idField && (f[0] == name || f[idField] == id) {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteString(entry)
	b.WriteByte('\n')
	return []byte(b.String())
}
