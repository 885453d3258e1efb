//go:build unix

package synth

import "syscall"

// reuseAddr sets SO_REUSEADDR before bind: an edge's TLS connections to
// the vManage and both vSmarts share its address and port, as in the
// capture.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}
