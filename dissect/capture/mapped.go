package capture

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

const (
	// maxMapped is the largest file OpenMapped maps whole (a larger one
	// is streamed): 1 TiB on a 64-bit system; on a 32-bit one 256 MiB,
	// to leave the address space to the heap.
	maxMapped = 1<<40*(strconv.IntSize/64) + 256<<20*(1-strconv.IntSize/64)
	// releaseStep is how much of a mapped file is read before the pages
	// behind are given back: the resident memory a mapped file adds.
	releaseStep = 8 << 20
)

// FaultError is the error for a mapped capture (OpenMapped) that lost
// bytes under the reader, as when another process truncates it: a fault
// reading a page it lost (Addr), or the file found shorter than it was
// mapped (Addr 0).
type FaultError struct {
	Addr uintptr
}

func (e *FaultError) Error() string {
	const msg = "the capture file changed while it was read (truncated by another process?)"
	if e.Addr == 0 {
		return msg + ": it is now shorter than when it was opened"
	}
	return fmt.Sprintf("%s: reading it faulted at %#x", msg, e.Addr)
}

// mapped holds the address ranges of the files mapped now: a fault is a
// FaultError only inside one of them.
var mapped struct {
	sync.Mutex
	ranges [][2]uintptr
}

func addMapped(mem []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	mapped.Lock()
	mapped.ranges = append(mapped.ranges, [2]uintptr{start, start + uintptr(len(mem))})
	mapped.Unlock()
}

func dropMapped(mem []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	mapped.Lock()
	mapped.ranges = slices.DeleteFunc(mapped.ranges, func(r [2]uintptr) bool { return r[0] == start })
	mapped.Unlock()
}

// AsFault returns the FaultError for a value recovered from a panic that
// is a memory fault (with runtime/debug.SetPanicOnFault set) inside a
// mapped capture file, and nil for any other value (which the caller
// panics with again: a fault elsewhere is a bug, not a changed file).
func AsFault(recovered any) error {
	e, ok := recovered.(runtime.Error)
	if !ok {
		return nil
	}
	f, ok := e.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	a := f.Addr()
	mapped.Lock()
	defer mapped.Unlock()
	for _, r := range mapped.ranges {
		if a >= r[0] && a < r[1] {
			return &FaultError{Addr: a}
		}
	}
	return nil
}

// shrunk tells whether the mapped file is now shorter than its mapping:
// the bytes past its new end read as zeros up to the end of their page
// (and fault after it), and an all-zero pcap record header is a valid,
// empty record. Asked when a mapped read meets zeros or an error.
func (r *Reader) shrunk() bool {
	if r.file == nil {
		return false
	}
	fi, err := r.file.Stat()
	return err == nil && fi.Size() < int64(len(r.mem))
}

// release gives back the mapped pages before the packet about to be
// read (the one before it is no longer valid), once there are
// releaseStep bytes of them.
func (r *Reader) release() {
	if r.pos-r.dropped >= releaseStep {
		r.releaseBehind(r.pos)
	}
}
