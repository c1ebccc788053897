package test

import "net"

// makeStaleSocket leaves a unix socket file behind with no listener.
func makeStaleSocket(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	return l.Close()
}
