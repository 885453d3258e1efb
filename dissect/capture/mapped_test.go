//go:build linux || darwin || freebsd || netbsd || openbsd

package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
	const n, size, hold = 20000, 600, 2000
	a, b := bigPcap(t, n, size), bigPcap(t, n/2, size)
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
		d []byte
		f uint64
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
		ring[i%len(ring)] = kept{p.Data, p.FileFrame}
		if i >= hold {
			k := ring[(i-hold)%len(ring)]
			if !intact(k.d, k.f) {
				t.Fatalf("merged packet %d no longer intact after %d", i-hold, i)
			}
		}
	}
	if ra.dropped == 0 {
		t.Error("nothing given back")
	}
}
