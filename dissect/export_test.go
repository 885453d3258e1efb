package dissect

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzExportedPDU: an exported PDU parses back to its frame, endpoints and
// payload; any bytes parse without panicking.
func FuzzExportedPDU(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint32(10), true, uint16(12346))
	f.Add([]byte{}, uint32(0), false, uint16(23456))
	f.Fuzz(func(t *testing.T, payload []byte, frame uint32, v4 bool, port uint16) {
		src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), port)
		if !v4 {
			src, dst = netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), port)
		}
		e := &Event{Frame: uint64(frame), Src: src, Dst: dst, Transport: "dtls", Plaintext: payload}
		b := AppendExportedPDU(nil, e)
		fr, s, d, p, ok := ParseExportedPDU(b)
		if !ok || fr != uint64(frame) || s != src || d != dst || !bytes.Equal(p, payload) {
			t.Fatalf("round trip: %v %d %v %v %x", ok, fr, s, d, p)
		}
		ParseExportedPDU(payload) // arbitrary bytes
	})
}
