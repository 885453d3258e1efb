package analyze

import (
	"testing"
	"unsafe"
)

// The live tables are rows: their size is the analyzer's memory on a large
// fabric (docs/performance.md). A field added to row or version must find
// room in the padding or pay for itself there.
func TestRowLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 4 {
		// 32-bit: pointers of 4 bytes make a row 40 bytes; rowChunk is
		// set for 64-bit systems, where the memory figures are made
		if s := unsafe.Sizeof(rowChunkT{}); s > 2048 {
			t.Errorf("a chunk of rows is %d bytes, more than 2 048", s)
		}
		return
	}
	if s := unsafe.Sizeof(version{}); s != 24 {
		t.Errorf("version is %d bytes, want 24", s)
	}
	if s := unsafe.Sizeof(row{}); s != 48 {
		t.Errorf("row is %d bytes, want 48", s)
	}
	// a chunk fills a size class of Go's allocator (2 048 bytes)
	if s := unsafe.Sizeof(rowChunkT{}); s > 2048 || s+unsafe.Sizeof(row{}) <= 2048 {
		t.Errorf("a chunk of rows is %d bytes, want the most that fit in 2 048", s)
	}
}

// A row finds its table and its history through its chunk: every slot of
// every chunk, in use or freed and reused, with and without a history.
func TestRowChunkHeader(t *testing.T) {
	var hp histPool
	tabs := []*table{{id: 1, hp: &hp}, {id: 2, hp: &hp}}
	var rows []*row
	for i := range 3*rowChunk + 5 {
		tb := tabs[i%2]
		r := tb.newRow()
		r.bits |= uint32(i%7) << rowFamShift
		if i%3 == 0 {
			h := tb.newHistory(r)
			if h == nil {
				t.Fatal("newHistory refused")
			}
			h.first = int64(i) + 1
		}
		rows = append(rows, r)
	}
	check := func() {
		t.Helper()
		for i, r := range rows {
			if r == nil {
				continue
			}
			if r.tab() != tabs[i%2] || int(r.fam()) != i%7 || !r.used() {
				t.Fatalf("row %d: table %d, family %d", i, r.tab().id, r.fam())
			}
			if h := r.pastH(); (h != nil) != (i%3 == 0) || h != nil && h.first != int64(i)+1 {
				t.Fatalf("row %d: history %v", i, h)
			}
		}
	}
	check()
	// free every fifth row, then take the slots again
	for i := 0; i < len(rows); i += 5 {
		r := rows[i]
		r.tab().remove(r)
		if r.used() || r.tab() != nil || r.pastH() != nil {
			t.Fatalf("row %d: a freed slot still has a table or a history", i)
		}
		rows[i] = nil
	}
	check()
	for i := 0; i < len(rows); i += 5 {
		tb := tabs[i%2]
		r := tb.newRow()
		r.bits |= uint32(i%7) << rowFamShift
		if i%3 == 0 {
			tb.newHistory(r).first = int64(i) + 1
		}
		rows[i] = r
	}
	check()
	for _, tb := range tabs {
		n := 0
		for _, h := range tb.hist {
			if h != nil {
				n++
			}
		}
		if want := len(tb.hist) - len(tb.histFree); n != want {
			t.Errorf("table %d: %d histories held, %d slots in use", tb.id, n, want)
		}
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
