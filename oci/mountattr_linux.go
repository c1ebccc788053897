package oci

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// recursiveAttrs says whether the kernel has mount_setattr(2) (Linux 5.12), by which runc sets
// "rro", "rnosuid" and "rnodev": called with no mount, it fails with EBADF or EINVAL where it
// exists.
var recursiveAttrs = sync.OnceValue(func() bool {
	return !errors.Is(unix.MountSetattr(-1, "", 0, &unix.MountAttr{}), unix.ENOSYS)
})
