package analyze

import "testing"

// A history from the pool is empty, and the pool keeps at most
// histPoolMax of them.
func TestHistPool(t *testing.T) {
	var p histPool
	at := &Attrs{}
	for i := range histPoolMax + 10 {
		h := &history{first: 5, trimmedTo: 7}
		h.v = h.buf[:0]
		for j := range 1 + i%5 {
			h.v = append(h.v, version{attrs: at, t: int64(j)})
		}
		p.put(h)
	}
	p.put(nil)
	if len(p.free) != histPoolMax {
		t.Fatalf("pool holds %d, want %d", len(p.free), histPoolMax)
	}
	for range histPoolMax {
		h := p.get()
		if h.v != nil || h.buf != [2]version{} || h.first != 0 || h.trimmedTo != 0 {
			t.Fatalf("a history from the pool holds %+v", h)
		}
	}
	if h := p.get(); h == nil || len(p.free) != 0 {
		t.Fatalf("an empty pool: %v, %d left", h, len(p.free))
	}
}
