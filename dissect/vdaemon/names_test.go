package vdaemon

import (
	"testing"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TestNamesNeedNoEscape: the JSON writer copies the names of message
// types, devices, TLV types, colors and tear-down codes with jsonw.Name,
// without escaping,
// which is right only if none has a character JSON escapes, for any value.
func TestNamesNeedNoEscape(t *testing.T) {
	check := func(s interface{ String() string }) {
		t.Helper()
		n := s.String()
		if got, want := string(jsonw.Name(nil, n)), string(jsonw.String(nil, n)); got != want || n == "" {
			t.Fatalf("%T %v: %s, escaped %s", s, s, got, want)
		}
	}
	for v := range 256 {
		check(MsgType(v))
		check(sdwan.DeviceType(v))
		check(sdwan.ConnError(v))
		check(sdwan.Color(v))
	}
	for v := range 1 << 16 {
		check(TLVType(v))
	}
	for _, v := range []uint32{1 << 10, 1 << 20, 1<<32 - 1} {
		check(sdwan.Color(v))
	}
}
