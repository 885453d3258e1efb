package omp

import (
	"testing"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TestEnumNamesNeedNoEscape: enumStr copies names without escaping, which
// is right only if no name of any value of any type it is given has a
// character JSON escapes: every value of the 8-bit types, and colors (32
// bits) well past the dense table.
func TestEnumNamesNeedNoEscape(t *testing.T) {
	check := func(s interface{ String() string }) {
		t.Helper()
		name := s.String()
		if got, want := string(enumStr(nil, s)), string(jsonw.String(nil, name)); got != want {
			t.Fatalf("%T %v: %s, escaped %s", s, s, got, want)
		}
		if name == "" {
			t.Fatalf("%T: an empty name", s)
		}
	}
	for v := range 256 {
		u := uint8(v)
		check(AttrType(u))
		check(Family(u))
		check(Type(u))
		check(AlertCode(u))
		check(InformKind(u))
		check(PolicyKind(u))
		check(UltimateAction(u))
		check(CapabilityType(u))
		check(sdwan.DeviceType(u))
		check(sdwan.Encap(u))
		check(sdwan.Service(u))
		check(sdwan.Origin(u))
	}
	for _, v := range []uint32{0, 1, 255, 256, 1000, 1 << 20, 1<<32 - 1} {
		check(sdwan.Color(v))
	}
	for v := range uint32(1024) {
		check(sdwan.Color(v))
	}
}
