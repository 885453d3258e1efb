//go:build !linux

// Command loopbench measures dissect/live's capture speed on Linux.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "loopbench: live capture is only supported on Linux")
	os.Exit(1)
}
