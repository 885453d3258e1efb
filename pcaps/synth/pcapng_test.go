package synth

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// TestPcapngDSB walks the pcapng file block by block: a section header,
// one interface, a Decryption Secrets Block holding exactly the key log
// the .keys file gets, then enhanced packet blocks with the same frames
// and times as the classic pcap.
func TestPcapngDSB(t *testing.T) {
	var ng, pc, keys bytes.Buffer
	if _, _, err := Run(Options{Scenario: "missing-keys", Seed: 8, Edges: 3}, Writers{PcapNG: &ng, Pcap: &pc, Keys: &keys}); err != nil {
		t.Fatal(err)
	}
	b := ng.Bytes()
	var types []uint32
	var dsb []byte
	var epbs [][]byte
	var times []time.Time
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			t.Fatalf("%d stray bytes at %d", len(b)-off, off)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		l := int(binary.LittleEndian.Uint32(b[off+4:]))
		if l < 12 || l%4 != 0 || off+l > len(b) || binary.LittleEndian.Uint32(b[off+l-4:]) != uint32(l) {
			t.Fatalf("block at %d: type 0x%x, bad length %d", off, typ, l)
		}
		body := b[off+8 : off+l-4]
		switch typ {
		case 0x0A:
			if binary.LittleEndian.Uint32(body) != secretsTLSKeyLog {
				t.Errorf("DSB secrets type 0x%x", binary.LittleEndian.Uint32(body))
			}
			n := int(binary.LittleEndian.Uint32(body[4:]))
			dsb = body[8 : 8+n]
		case 6:
			capLen := int(binary.LittleEndian.Uint32(body[12:]))
			epbs = append(epbs, body[20:20+capLen])
			ts := uint64(binary.LittleEndian.Uint32(body[4:]))<<32 | uint64(binary.LittleEndian.Uint32(body[8:]))
			times = append(times, time.Unix(0, int64(ts)).UTC())
		}
		types = append(types, typ)
		off += l
	}
	if len(types) < 4 || types[0] != 0x0A0D0D0A || types[1] != 1 || types[2] != 0x0A {
		t.Fatalf("block types start %x, want SHB, IDB, DSB", types[:min(4, len(types))])
	}
	if !bytes.Equal(dsb, keys.Bytes()) || !bytes.Contains(dsb, []byte("CLIENT_RANDOM ")) {
		t.Errorf("the DSB holds %d bytes, the key log %d", len(dsb), keys.Len())
	}
	pr, err := pcapgo.NewReader(&pc)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := pr.ReadPacketData()
		if err == io.EOF {
			if i != len(epbs) {
				t.Errorf("pcap has %d frames, pcapng %d", i, len(epbs))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(epbs) || !bytes.Equal(data, epbs[i]) || !ci.Timestamp.Equal(times[i]) {
			t.Fatalf("frame %d differs between pcap and pcapng", i+1)
		}
	}
}

func TestFlapWindow(t *testing.T) {
	s := vtSec
	for _, c := range []struct {
		ts         []vt
		start, end vt
		ok         bool
	}{
		{[]vt{0, 1 * s, 2 * s, 3 * s, 4 * s}, 0, 0, false},                // 5 changes: not more than 5
		{[]vt{0, 1 * s, 2 * s, 3 * s, 4 * s, 5 * s}, 5 * s, 60 * s, true}, // 6th at 5 s; drops to 5 when the first leaves
		{[]vt{0, 10 * s, 20 * s, 30 * s, 40 * s, 70 * s}, 0, 0, false},    // never 6 within 60 s
		{[]vt{0, 1 * s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s}, 5 * s, 62 * s, true},
	} {
		st, en, ok := flapWindow(c.ts, 5, 60*s)
		if ok != c.ok || (ok && (st != c.start || en != c.end)) {
			t.Errorf("%v: got %v %v %v, want %v %v %v", c.ts, st, en, ok, c.start, c.end, c.ok)
		}
	}
}
