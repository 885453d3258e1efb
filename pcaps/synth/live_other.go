//go:build !unix

package synth

import "syscall"

// reuseAddr does nothing here: sharing a TCP source address and port
// between connections is left to the system's defaults.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
