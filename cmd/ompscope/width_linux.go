//go:build linux

package main

import (
	"os"
	"syscall"
	"unsafe"
)

// ttyWidth is the width of the terminal f is, or 0.
func ttyWidth(f *os.File) int {
	var ws struct{ row, col, x, y uint16 }
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); e != 0 {
		return 0
	}
	return int(ws.col)
}
