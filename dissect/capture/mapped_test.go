//go:build linux || darwin || freebsd || netbsd || openbsd

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenMappedReadsAsOpen: every sample capture reads the same mapped
// into memory as streamed (packets, secrets, counts), and a compressed
// one is streamed.
func TestOpenMappedReadsAsOpen(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcap*")
	if len(files) < 10 {
		t.Fatalf("only %d sample captures", len(files))
	}
	ng, _, _, _, _ := sampleFiles()
	gzName := filepath.Join(t.TempDir(), "c.pcapng.gz")
	if err := os.WriteFile(gzName, gz(ng), 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, gzName)
	read := func(name string, open func(string) (*Reader, error)) ([]got, []string, Stats, bool) {
		r, err := open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var secrets []string
		pk, _, err := readPackets(t, r, func(k uint32, d []byte) { secrets = append(secrets, fmt.Sprint(k, d)) })
		if err.Error() != "EOF" {
			t.Fatalf("%s: %v", name, err)
		}
		return pk, secrets, r.Stats(), r.mem != nil
	}
	for _, name := range files {
		sp, ss, sst, _ := read(name, Open)
		mp, ms, mst, mapped := read(name, OpenMapped)
		if !reflect.DeepEqual(sp, mp) || !reflect.DeepEqual(ss, ms) || !reflect.DeepEqual(sst, mst) {
			t.Errorf("%s: streamed %d packets, mapped %d, or their secrets or counts differ", name, len(sp), len(mp))
		}
		if want := name != gzName; mapped != want {
			t.Errorf("%s: mapped %v, want %v", name, mapped, want)
		}
	}
}

// bigPcap writes a capture of n packets of size bytes, each filled with
// its frame number, larger than releaseStep.
func bigPcap(t *testing.T, n, size int) string {
	return bigPcapFrom(t, n, size, 0)
}

// bigPcapFrom is bigPcap with times from second base on.
func bigPcapFrom(t *testing.T, n, size, base int) string {
	recs := make([]pcapRec, n)
	for i := range recs {
		d := make([]byte, size)
		for j := 0; j+4 <= size; j += 4 {
			binary.LittleEndian.PutUint32(d[j:], uint32(i+1))
		}
		recs[i] = pcapRec{sec: uint32(base + i), orig: uint32(size), data: d}
	}
	name := filepath.Join(t.TempDir(), fmt.Sprintf("big%d-%d.pcap", n, base))
	if err := os.WriteFile(name, pcapFile(binary.LittleEndian, false, 65535, 1, recs), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// intact says p's bytes are still those of frame f.
func intact(d []byte, f uint64) bool {
	for j := 0; j+4 <= len(d); j += 4 {
		if binary.LittleEndian.Uint32(d[j:]) != uint32(f) {
			return false
		}
	}
	return true
}

// TestHoldAndRelease: a mapped file gives its pages back as it is read
// (the resident memory stays small) and keeps what Hold asks: each packet
// intact until n more packets were read, in place.
func TestHoldAndRelease(t *testing.T) {
	const n, size, hold = 40000, 600, 3000 // 24 MB: three times releaseStep
	name := bigPcap(t, n, size)
	for _, h := range []int{0, hold} {
		r, err := OpenMapped(name)
		if err != nil {
			t.Fatal(err)
		}
		if r.mem == nil {
			t.Fatal("not mapped")
		}
		if h > 0 && !r.Hold(h) {
			t.Fatal("Hold refused on a mapped file")
		}
		ring := make([][]byte, h+1)
		var p Packet
		for f := uint64(1); f <= n; f++ {
			if err := r.Next(&p); err != nil {
				t.Fatal(err)
			}
			if p.Frame != f || !intact(p.Data, f) || &p.Data[0] != &r.mem[p.Offset+16] {
				t.Fatalf("hold %d: frame %d (want %d) not intact, or not in place", h, p.Frame, f)
			}
			ring[f%uint64(len(ring))] = p.Data
			// the oldest packet Hold keeps, read h packets ago: its pages
			// not given back (a page given back is read again from the
			// page cache, so the bytes alone cannot tell)
			if f > uint64(h) {
				old := f - uint64(h)
				if d := ring[old%uint64(len(ring))]; !intact(d, old) {
					t.Fatalf("hold %d: frame %d no longer intact after frame %d", h, old, f)
				}
				if start := 24 + int(old-1)*(16+size); r.dropped > start {
					t.Fatalf("hold %d: %d bytes given back after frame %d, past frame %d at %d", h, r.dropped, f, old, start)
				}
			}
		}
		if r.dropped < 2*releaseStep {
			t.Errorf("hold %d: %d bytes given back of %d", h, r.dropped, len(r.mem))
		}
		r.Close()
	}
	// a file that cannot be mapped (standard input, a pipe) holds nothing
	if r, err := NewReader(bytes.NewReader(pcapFile(binary.LittleEndian, false, 100, 1, nil))); err != nil || r.Hold(10) {
		t.Errorf("a stream: Hold true or %v", err)
	}
}

// TestMergerHold: packets of several mapped files merged stay valid as
// long as Hold asks.
func TestMergerHold(t *testing.T) {
	// records of a page each, so that a page given back one packet too
	// early always reaches into a held one; the second file's packets all
	// after the first's, so that the merged packets held are all of one
	// file while the other's next one waits
	const n, size, hold = 8000, 4096 - 16, 2000
	a, b := bigPcap(t, n, size), bigPcapFrom(t, 3*n/4, size, n) // 32 and 24 MB
	ra, err := OpenMapped(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := OpenMapped(b)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMerger([]*Reader{ra, rb}, []string{a, b})
	defer m.Close()
	if !m.Hold(hold) {
		t.Fatal("Hold refused")
	}
	type kept struct {
		d    []byte
		f    uint64
		file int
	}
	ring := make([]kept, hold+1)
	var p Packet
	for i := 0; ; i++ {
		if err := m.Next(&p); err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		ring[i%len(ring)] = kept{p.Data, p.FileFrame, p.File}
		if i >= hold {
			k := ring[(i-hold)%len(ring)]
			if !intact(k.d, k.f) {
				t.Fatalf("merged packet %d no longer intact after %d", i-hold, i)
			}
		}
		// no file gave back the pages of a packet still held (the bytes
		// alone cannot tell: see TestHoldAndRelease)
		oldest := [2]uint64{}
		for j := max(0, i-hold); j <= i; j++ {
			k := ring[j%len(ring)]
			if oldest[k.file] == 0 || k.f < oldest[k.file] {
				oldest[k.file] = k.f
			}
		}
		for f, r := range []*Reader{ra, rb} {
			if o := oldest[f]; o > 0 && r.dropped > 24+int(o-1)*(16+size) {
				t.Fatalf("after merged packet %d: file %d gave back %d bytes, past its frame %d still held", i, f, r.dropped, o)
			}
		}
	}
	if ra.dropped == 0 || rb.dropped == 0 {
		t.Errorf("given back: %d and %d bytes", ra.dropped, rb.dropped)
	}
}

// TestMappedFileShrinks: a file truncated under a mapped Reader is an
// error (FaultError), never records made of the zeros past its new end
// (an all-zero pcap record header is a valid, empty record), whether the
// cut falls in a record or between two, in pcap or pcapng.
func TestMappedFileShrinks(t *testing.T) {
	const size = 600
	for _, cut := range []int{24 + 5*(16+size) + 100, 24 + 5*(16+size)} {
		name := bigPcap(t, 100, size)
		r, err := OpenMapped(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(name, int64(cut)); err != nil {
			t.Fatal(err)
		}
		var p Packet
		n := 0
		for {
			if err = r.Next(&p); err != nil {
				break
			}
			if n++; p.CapLen != size {
				t.Fatalf("cut at %d: frame %d of %d bytes: not a record of the file", cut, p.Frame, p.CapLen)
			}
		}
		var fe *FaultError
		if !errors.As(err, &fe) || n > 6 {
			t.Errorf("cut at %d: %d packets, then %v", cut, n, err)
		}
		r.Close()
	}
	// pcapng: the zeros are no block
	src, err := os.ReadFile("../../pcaps/route-flap.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "c.pcapng")
	if err := os.WriteFile(name, src, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenMapped(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Truncate(name, 10000); err != nil {
		t.Fatal(err)
	}
	var p Packet
	for err == nil {
		err = r.Next(&p)
	}
	var fe *FaultError
	if !errors.As(err, &fe) {
		t.Errorf("pcapng cut at 10000: %v", err)
	}
}

// TestMappedNextAfterClose: a mapped Reader read after Close says so; it
// does not read the mapping that is gone.
func TestMappedNextAfterClose(t *testing.T) {
	r, err := OpenMapped("../../pcaps/route-flap.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := r.Next(&p); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := r.Next(&p); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}

var faultSink byte

// TestAsFaultOnlyInMappings: a fault is a changed capture file only
// inside a file mapped now; elsewhere it is a bug, and the caller panics
// with it again.
func TestAsFaultOnlyInMappings(t *testing.T) {
	fault := func(mem []byte) (recovered any) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { recovered = recover() }()
		faultSink = mem[0]
		return nil
	}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(mem, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	r := fault(mem)
	if r == nil || AsFault(r) != nil {
		t.Errorf("a fault outside any capture mapping: recovered %v, AsFault %v", r, AsFault(r))
	}
	addMapped(mem)
	r = fault(mem)
	var fe *FaultError
	if !errors.As(AsFault(r), &fe) || fe.Addr == 0 {
		t.Errorf("a fault inside a capture mapping: recovered %v, AsFault %v", r, AsFault(r))
	}
	dropMapped(mem)
	if AsFault(r) != nil {
		t.Error("a fault in a mapping gone still counts")
	}
	unix.Munmap(mem)
}
