//go:build linux || darwin || freebsd || netbsd || openbsd

package capture

import (
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
	recs := make([]pcapRec, n)
	for i := range recs {
		d := make([]byte, size)
		for j := 0; j+4 <= size; j += 4 {
			binary.LittleEndian.PutUint32(d[j:], uint32(i+1))
		}
		recs[i] = pcapRec{sec: uint32(i), orig: uint32(size), data: d}
	}
	name := filepath.Join(t.TempDir(), fmt.Sprintf("big%d.pcap", n))
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

// TestRelease: a mapped file gives its pages back as it is read (the
// resident memory stays small), never those of the packet just read,
// which is taken in place.
func TestRelease(t *testing.T) {
	// records of a page each, so that giving back one packet too many
	// always reaches into the packet just read
	const n, size = 8000, 4096 - 16 // 32 MB: four times releaseStep
	r, err := OpenMapped(bigPcap(t, n, size))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.mem == nil {
		t.Fatal("not mapped")
	}
	var p Packet
	for f := uint64(1); f <= n; f++ {
		if err := r.Next(&p); err != nil {
			t.Fatal(err)
		}
		if p.Frame != f || !intact(p.Data, f) || &p.Data[0] != &r.mem[p.Offset+16] {
			t.Fatalf("frame %d (want %d) not intact, or not in place", p.Frame, f)
		}
		// a page given back is read again from the page cache, so the
		// bytes alone cannot tell
		if r.dropped > int(p.Offset) {
			t.Fatalf("%d bytes given back after frame %d, which begins at %d", r.dropped, f, p.Offset)
		}
	}
	if r.dropped < 3*releaseStep {
		t.Errorf("%d bytes given back of %d", r.dropped, len(r.mem))
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

// BenchmarkReadFile reads the same capture file (100 000 packets of 200
// bytes, 22 MB, in the page cache) streamed (Open) and mapped
// (OpenMapped), to the end.
func BenchmarkReadFile(b *testing.B) {
	var recs []pcapRec
	for i := range 100000 {
		recs = append(recs, pcapRec{sec: uint32(i), data: make([]byte, 200), orig: 200})
	}
	name := filepath.Join(b.TempDir(), "bench.pcap")
	if err := os.WriteFile(name, pcapFile(binary.LittleEndian, false, 65535, 1, recs), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		open func(string) (*Reader, error)
	}{{"streamed", Open}, {"mapped", OpenMapped}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(24 + len(recs)*(16+200)))
			b.ReportAllocs()
			var p Packet
			n := 0
			for b.Loop() {
				r, err := c.open(name)
				if err != nil {
					b.Fatal(err)
				}
				for r.Next(&p) == nil {
					n++
				}
				r.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// TestOpenMappedRefusesAsOpen: a file that is no capture, or whose header
// is cut short, gets from OpenMapped the error Open gives (the mapping is
// let go and the file read as a stream).
func TestOpenMappedRefusesAsOpen(t *testing.T) {
	ng, _, _, pc, _ := sampleFiles()
	for i, b := range [][]byte{[]byte("GET / HTTP/1.1\r\n"), pc[:10], ng[:20], {0x1f, 0x8b, 8}} {
		name := filepath.Join(t.TempDir(), fmt.Sprintf("bad%d", i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, serr := Open(name)
		_, merr := OpenMapped(name)
		if serr == nil || fmt.Sprint(serr) != fmt.Sprint(merr) {
			t.Errorf("%q: Open says %v, OpenMapped %v", b, serr, merr)
		}
	}
}
