package live

import (
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/filter"
	"syscall"
	"time"
)

// DefaultSnapLen is the number of bytes kept of each packet when
// Options.SnapLen is 0: libpcap's maximum, so nothing is cut (segmentation
// offload can hand over frames far larger than the MTU).
const DefaultSnapLen = 262144

// DefaultBufferSize is the socket receive buffer requested when
// Options.BufferSize is 0. The kernel queues received packets there while
// the reader is busy. It grants twice the size asked for and charges each
// queued packet its whole allocation — measured on loopback, about 830
// bytes for a 162-byte frame and 2 300 for a 1 242-byte one — so 32 MiB
// hold about 80 000 small packets: 0.8 s of backlog at 100 000 packets/s.
const DefaultBufferSize = 32 << 20

// Options configure Open.
type Options struct {
	// SnapLen is the most bytes kept of each packet (0: DefaultSnapLen).
	SnapLen int
	// Promiscuous puts the interface in promiscuous mode while the
	// source is open, to see traffic not addressed to this host (on a
	// SPAN port, say).
	Promiscuous bool
	// Filter is the kernel filter; nil admits every packet. It is
	// compiled for the interface's link type, and attached before the
	// socket starts receiving, so no unfiltered packet slips through.
	Filter *filter.Filter
	// BufferSize is the socket receive buffer in bytes (0:
	// DefaultBufferSize). Beyond net.core.rmem_max it takes
	// CAP_NET_ADMIN (SO_RCVBUFFORCE); without it the size is capped at
	// rmem_max. Source.BufferSize tells what the kernel granted.
	BufferSize int
	// Timeout, if positive, makes Next return ErrTimeout when no packet
	// arrived for that long, so that a capture loop can do periodic work
	// (status lines, retrying sessions after new keys) while the line is
	// quiet.
	Timeout time.Duration
}

// Stats are a Source's counters since Open.
type Stats struct {
	// Packets is the number of packets Next delivered.
	Packets uint64
	// KernelReceived is the number of packets the kernel passed through
	// the filter to the socket, including those it then dropped.
	KernelReceived uint64
	// KernelDropped is the number of packets the kernel dropped because
	// the socket buffer was full (the reader fell behind).
	KernelDropped uint64
}

var (
	// ErrTimeout is returned by Next when Options.Timeout passed without
	// a packet, or when Wake interrupted the wait. It is not fatal: call
	// Next again.
	ErrTimeout = capture.ErrIdle
	// ErrClosed is returned by Next and Stats after Close.
	ErrClosed = errors.New("live: source closed")
	// ErrUnsupported is returned by Open on systems other than Linux.
	ErrUnsupported = errors.New("live capture is only supported on Linux (AF_PACKET)")
)

// PermissionError reports that the process may not capture: opening an
// AF_PACKET socket takes root or the CAP_NET_RAW capability.
type PermissionError struct {
	Iface string
	Op    string // the operation that was refused
	Err   error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("capturing on %s needs root or the CAP_NET_RAW capability (%s: %v); run as root, or grant the capability: setcap cap_net_raw,cap_net_admin=eip /path/to/ompscope",
		e.Iface, e.Op, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// openError maps an error of a system call made while opening the capture
// on iface: refused permissions become a *PermissionError, anything else
// names the operation and the interface.
func openError(iface, op string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return &PermissionError{Iface: iface, Op: op, Err: err}
	}
	return fmt.Errorf("live: capturing on %s: %s: %w", iface, op, err)
}
