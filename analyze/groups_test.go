package analyze

import (
	"math/rand/v2"
	"runtime"
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

// BenchmarkGroupIndex looks up a million groups in random order, in the
// index and in the Go map it replaced, and reports the bytes each holds
// per group (docs/performance.md, issue 11).
func BenchmarkGroupIndex(b *testing.B) {
	const n = 1 << 20
	keys := make([]groupKey, n)
	groups := make([]group, n)
	for i := range keys {
		keys[i] = groupKey{addr: [16]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, bits: 32, vpn: uint32(i % 7), kind: kRoute}
		groups[i].key = keys[i]
	}
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	heap := func(build func()) uint64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		build()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		return m1.HeapAlloc - m0.HeapAlloc
	}
	b.Run("index", func(b *testing.B) {
		var x groupIndex
		bytes := heap(func() {
			x = newGroupIndex()
			for i := range groups {
				x.put(&groups[i])
			}
		})
		b.ResetTimer()
		for i := range b.N {
			if x.get(&keys[order[i%n]]) == nil {
				b.Fatal("lost")
			}
		}
		b.ReportMetric(float64(bytes)/n, "B/group") // after ResetTimer, which drops reported metrics
		runtime.KeepAlive(x)
	})
	b.Run("map", func(b *testing.B) {
		var m map[groupKey]*group
		bytes := heap(func() {
			m = make(map[groupKey]*group)
			for i := range groups {
				m[keys[i]] = &groups[i]
			}
		})
		b.ResetTimer()
		for i := range b.N {
			if m[keys[order[i%n]]] == nil {
				b.Fatal("lost")
			}
		}
		b.ReportMetric(float64(bytes)/n, "B/group")
		runtime.KeepAlive(m)
	})
}
