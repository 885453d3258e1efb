package omp

import (
	"fmt"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/jsonname"
)

// TestEnumNamesNeedNoEscape: enumStr copies names without escaping
// (jsonw.Name), which is right only if no name of any value of the
// package's types has a character JSON escapes: every value of the 8-bit
// types and the first 256 capability types (16 bits; the others are named
// "capability-N" by the same code). The sdwan types are checked in sdwan.
func TestEnumNamesNeedNoEscape(t *testing.T) {
	for v := range 256 {
		u := uint8(v)
		for _, s := range []fmt.Stringer{AttrType(u), Family(u), Type(u), AlertCode(u), InformKind(u), PolicyKind(u),
			UltimateAction(u), CapabilityType(u)} {
			jsonname.Check(t, s)
		}
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
