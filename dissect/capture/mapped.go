package capture

import (
	"fmt"
	"runtime"
)

const (
	// maxMapped is the largest file OpenMapped maps whole (a larger one
	// is streamed): 1 TiB, far under a 64-bit address space; on a 32-bit
	// system a file over 2 GiB is streamed.
	maxMapped = 1 << 40
	// releaseStep is how much of a mapped file is read before the pages
	// behind are given back: the resident memory a mapped file adds.
	releaseStep = 8 << 20
)

// FaultError is the error for a fault while reading a mapped capture
// (OpenMapped): the file lost pages under the reader, as when another
// process truncates it.
type FaultError struct {
	Addr uintptr
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("the capture file changed while it was read (truncated by another process?): reading it faulted at %#x", e.Addr)
}

// AsFault returns the FaultError for a value recovered from a panic that
// is a memory fault (with runtime/debug.SetPanicOnFault set), and nil for
// any other value (which the caller panics with again).
func AsFault(recovered any) error {
	if e, ok := recovered.(runtime.Error); ok {
		if f, ok := e.(interface{ Addr() uintptr }); ok {
			return &FaultError{Addr: f.Addr()}
		}
	}
	return nil
}

// Hold asks that each packet's Data stay valid until n more packets have
// been read, not only until the next call to Next: a reader handing
// packets to other goroutines then need not copy them. It is true when
// the Reader can (a file that OpenMapped mapped into memory), false when
// Data stays valid until the next call only. Call it before the first
// Next.
func (r *Reader) Hold(n int) bool {
	if r.mem == nil || n <= 0 || r.stats.Packets > 0 {
		return false
	}
	r.hold = make([]int, n+1)
	return true
}

// release gives back the mapped pages before the oldest packet still
// valid, once there are releaseStep bytes of them.
func (r *Reader) release() {
	limit := r.pos // the packet before is no longer valid
	if r.hold != nil {
		// about to read packet m: packets m-n .. m-1 stay valid
		m, n := r.stats.Packets+1, uint64(len(r.hold)-1)
		if m <= n {
			return
		}
		limit = r.hold[(m-n)%uint64(len(r.hold))]
	}
	if limit-r.dropped >= releaseStep {
		r.releaseBehind(limit)
	}
}

// Hold holds every file's packets (see Reader.Hold): true when every file
// can.
func (m *Merger) Hold(n int) bool {
	ok := true
	for _, r := range m.rs {
		// a file's reader reads one packet ahead of the merged stream
		ok = r.Hold(n+1) && ok
	}
	return ok
}
