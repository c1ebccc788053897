//go:build !linux

package network

import "errors"

// inNetns needs Linux's network namespaces; aishell runs containers only there (elsewhere it
// forwards to a VM).
func inNetns(path string, open func() error) error {
	return errors.New("network namespaces are Linux's")
}

// Namespace is a network namespace made before its container (Linux only).
type Namespace struct{ Path string }

// NewNamespace fails: network namespaces are Linux's.
func NewNamespace() (*Namespace, error) { return nil, errors.New("network namespaces are Linux's") }

// Release does nothing.
func (ns *Namespace) Release() {}
