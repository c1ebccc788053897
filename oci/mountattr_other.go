//go:build !linux

package oci

// recursiveAttrs: no mount_setattr(2) off Linux (aishell forwards itself to a Linux VM there).
var recursiveAttrs = func() bool { return false }
