//go:build !linux

package network

import "errors"

// inNetns needs Linux's network namespaces; aishell runs containers only there (elsewhere it
// forwards to a VM).
func inNetns(pid int, open func() error) error {
	return errors.New("network namespaces are Linux's")
}
