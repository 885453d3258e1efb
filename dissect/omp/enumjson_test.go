package omp

import (
	"testing"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TestEnumNamesNeedNoEscape: enumStr copies names without escaping, which
// is right only if no name of any value of any type it is given has a
// character JSON escapes: every value of the 8-bit types, the first 256
// capability types (16 bits; the others are named "capability-N" by the
// same code), and colors (32 bits) well past the dense table.
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

// TestSpareBounded: reused attribute values do not pile up when UPDATEs
// fail to decode after some of their attributes (a truncated header, a
// length past the end): the spare list stays as long as the most values
// one UPDATE used, whatever the number of such UPDATEs, and each decode
// still gives the right values.
func TestSpareBounded(t *testing.T) {
	pref := []byte{0x40, byte(AttrPreference), 0, 4, 0, 0, 0, 100}
	orig := []byte{0x40, byte(AttrOriginator), 0, 4, 10, 0, 0, 5}
	var attrs, spare []Attribute
	for i := range 2000 {
		data := append([]byte(nil), pref...)
		if i%2 == 1 {
			data = append([]byte(nil), orig...)
		}
		switch i % 3 {
		case 0:
			data = append(data, 0x40, 3) // a truncated attribute header
		case 1:
			data = append(data, 0x40, 4, 0, 9, 1) // a length past the end
		}
		hint := len(spare)
		spare = append(spare, attrs...)
		var err error
		attrs, err = decodeAttrs(attrs, data, 0, &spare, hint)
		if (err != nil) != (i%3 != 2) {
			t.Fatalf("%d: err %v", i, err)
		}
		if len(attrs) != 1 {
			t.Fatalf("%d: %d attributes", i, len(attrs))
		}
		if i%2 == 0 {
			if a, ok := attrs[0].(*Uint32Attr); !ok || a.Value != 100 {
				t.Fatalf("%d: %#v", i, attrs[0])
			}
		} else if a, ok := attrs[0].(*Originator); !ok || a.Addr.String() != "10.0.0.5" {
			t.Fatalf("%d: %#v", i, attrs[0])
		}
		for _, a := range spare {
			if a == nil {
				t.Fatalf("%d: a hole in the spare list", i)
			}
		}
		if len(spare) > 2 {
			t.Fatalf("%d: %d spare values", i, len(spare))
		}
	}
}
