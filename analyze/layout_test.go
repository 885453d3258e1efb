package analyze

import (
	"testing"
	"unsafe"
)

// The live tables are rows: their size is the analyzer's memory on a large
// fabric (docs/performance.md). A field added to row or version must find
// room in the padding or pay for itself there.
func TestRowLayout(t *testing.T) {
	if s := unsafe.Sizeof(version{}); s != 24 {
		t.Errorf("version is %d bytes, want 24", s)
	}
	if s := unsafe.Sizeof(row{}); s != 64 {
		t.Errorf("row is %d bytes, want 64", s)
	}
}

func TestVersionPacking(t *testing.T) {
	at := &Attrs{}
	for _, c := range []struct {
		frame   uint64
		gr      uint32
		why     uint8
		counted bool
		sat     bool
	}{
		{0, 0, whyUpdate, false, false},
		{1, 1, whyWithdraw, true, false},
		{maxFrame, maxGR, whyRefresh, true, false},
		{maxFrame + 1, 3, whyGRFlush, false, true},
		{12345, maxGR + 1, whySessionDown, true, true},
		{1 << 63, 1 << 31, whyGRExpired, false, true},
	} {
		v, sat := mkVersion(-42, c.frame, at, c.gr, c.why, c.counted)
		if sat != c.sat {
			t.Errorf("%+v: saturated %v", c, sat)
		}
		if v.t != -42 || v.attrs != at || v.frame() != min(c.frame, maxFrame) || v.gr() != min(c.gr, maxGR) ||
			v.why() != c.why || v.counted() != c.counted {
			t.Errorf("%+v: got frame %d gr %d why %d counted %v", c, v.frame(), v.gr(), v.why(), v.counted())
		}
		v.setGR(7)
		if v.gr() != 7 || v.frame() != min(c.frame, maxFrame) || v.why() != c.why || v.counted() != c.counted {
			t.Errorf("%+v: setGR disturbed the other fields", c)
		}
	}
}
