package omp

import (
	"github.com/ompscope/ompscope/dissect/internal/race"
	"net/netip"
	"testing"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// benchUpdate is an UPDATE with 200 route-ipv4 NLRI and 8 attributes, the
// size an edge sends in a full-table advertisement.
func benchUpdate(tb testing.TB) []byte {
	u := &Update{Family: FamilyRouteV4}
	sys := netip.MustParseAddr("10.0.0.5")
	u.Attrs = []Attribute{
		&Originator{0x40, sys},
		&TLOCAttr{0x40, TLOCKey{sys, sdwan.ColorBizInternet, sdwan.EncapIPsec}},
		&OriginAttr{0x40, sdwan.OriginOSPFExt2, 20},
		&Uint32Attr{AttrPreference, 0x40, 100},
		&Uint32Attr{AttrSiteID, 0x40, 100},
		&Uint32Attr{AttrLabel, 0x40, 1003},
		&Uint32Attr{AttrDomainID, 0x40, 1},
		&Uint32Attr{AttrOverlayID, 0x40, 1},
	}
	for i := 0; i < 200; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		u.Reachable = append(u.Reachable, NLRI{PathID: uint32(i + 1), VPN: 10, Prefix: p})
	}
	b, err := Marshal(u)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecodeUpdate200 decodes the 200-NLRI UPDATE into a reused
// Update (the dissector's hot path). Reported: NLRI/s.
func BenchmarkDecodeUpdate200(b *testing.B) {
	msg := benchUpdate(b)
	var u Update
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := u.DecodeFromBytes(msg[HeaderLen:]); err != nil {
			b.Fatal(err)
		}
	}
	if len(u.Reachable) != 200 {
		b.Fatalf("%d NLRI", len(u.Reachable))
	}
	b.ReportMetric(float64(b.N)*200/b.Elapsed().Seconds(), "nlri/s")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { u.DecodeFromBytes(msg[HeaderLen:]) }))/200, "allocs/nlri")
}

// BenchmarkDecodeUpdate200Fresh decodes with omp.Decode, a new Update each
// time (what a caller that keeps the messages pays).
func BenchmarkDecodeUpdate200Fresh(b *testing.B) {
	msg := benchUpdate(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*200/b.Elapsed().Seconds(), "nlri/s")
}

// BenchmarkEncodeUpdate200 encodes the same UPDATE into a reused buffer.
func BenchmarkEncodeUpdate200(b *testing.B) {
	msg := benchUpdate(b)
	m, _, _ := Decode(msg)
	buf := make([]byte, 0, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*200/b.Elapsed().Seconds(), "nlri/s")
}

// TestDecodeAllocsPerNLRI holds the allocation budget: decoding into a
// reused Update allocates only for the attributes, never per NLRI.
func TestDecodeAllocsPerNLRI(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	msg := benchUpdate(t)
	var u Update
	u.DecodeFromBytes(msg[HeaderLen:])
	if a := testing.AllocsPerRun(50, func() { u.DecodeFromBytes(msg[HeaderLen:]) }); a > 8 {
		t.Errorf("%v allocations per 200-NLRI UPDATE, want at most 8 (attributes only)", a)
	}
	if a := testing.AllocsPerRun(50, func() { Decode(msg) }); a > 200 {
		t.Errorf("%v allocations for a fresh decode of 200 NLRI, want at most one per NLRI", a)
	}
}
