package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestGroupIndex checks the index against a map through random adds and
// deletes over a small key space, so that probes wrap around the table,
// deletions shift runs back, and the table grows and shrinks.
func TestGroupIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newGroupIndex()
	peak := 0
	ref := map[groupKey]*group{}
	key := func(i int) groupKey {
		return groupKey{addr: [16]byte{10, byte(i >> 8), byte(i), 0}, bits: 24, vpn: uint32(i % 3), kind: kRoute}
	}
	for step := 0; step < 200000; step++ {
		k := key(rng.IntN(3000))
		g := x.get(&k)
		if g != ref[k] {
			t.Fatalf("step %d: get(%v) = %p, want %p", step, k, g, ref[k])
		}
		switch {
		case g == nil && (step < 120000 || rng.IntN(8) == 0):
			g = &group{key: k}
			x.put(g)
			ref[k] = g
		case g != nil && (step >= 120000 || rng.IntN(3) == 0): // later mostly deletes: it shrinks
			x.del(g)
			delete(ref, k)
		}
		peak = max(peak, len(x.slots))
		if x.len() != len(ref) {
			t.Fatalf("step %d: %d groups, want %d", step, x.len(), len(ref))
		}
	}
	n := 0
	for g := range x.all {
		if ref[g.key] != g {
			t.Fatalf("all yields %v, not in the reference", g.key)
		}
		n++
	}
	if n != len(ref) {
		t.Fatalf("all yields %d groups, want %d", n, len(ref))
	}
	for k, g := range ref {
		x.del(g)
		delete(ref, k)
		for k2, g2 := range ref {
			if x.get(&k2) != g2 {
				t.Fatalf("after deleting %v, %v is lost", k, k2)
			}
			break
		}
	}
	if x.len() != 0 || len(x.slots) != minGroupSlots || peak < 4096 {
		t.Errorf("emptied: %d groups in %d slots (peak %d slots)", x.len(), len(x.slots), peak)
	}
	x.del(&group{key: key(99999)}) // absent: nothing happens
	if x.len() != len(ref) {
		t.Fatal("deleting an absent group changed the count")
	}
}
