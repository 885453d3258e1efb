//go:build linux || darwin || freebsd || netbsd || openbsd

package capture

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps a regular file into memory, read only, when want is set;
// nil when it cannot be (not a regular file, empty, larger than the
// address space allows, or mmap refused): the file is then streamed.
func mapFile(f *os.File, want bool) ([]byte, io.Closer) {
	if !want {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= 0 || fi.Size() > maxMapped || int64(int(fi.Size())) != fi.Size() {
		return nil, nil
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	_ = unix.Madvise(mem, unix.MADV_SEQUENTIAL) // a hint: read ahead further
	addMapped(mem)
	return mem, unmapper(mem)
}

type unmapper []byte

func (u unmapper) Close() error {
	dropMapped(u)
	return unix.Munmap(u)
}

// releaseBehind gives back the pages of the mapping before limit: they
// leave the process's resident memory (and stay in the page cache).
func (r *Reader) releaseBehind(limit int) {
	end := limit &^ (os.Getpagesize() - 1)
	if end <= r.dropped {
		return
	}
	_ = unix.Madvise(r.mem[r.dropped:end], unix.MADV_DONTNEED)
	r.dropped = end
}
