package omp

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/race"
)

// updateBodies returns the bodies (header stripped) of n random UPDATEs.
func updateBodies(t testing.TB, g gen, n int) [][]byte {
	var out [][]byte
	for len(out) < n {
		b, err := Marshal(g.message(TypeUpdate))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[HeaderLen:])
	}
	return out
}

// TestAttrCacheMatchesDecode decodes a stream of UPDATEs, drawn from a
// pool (sections that repeat) and fresh ones (that never do), into one
// Update with ReuseAttributes and an AttrCache; after every decode its
// value equals a fresh decode of the same bytes. The attributes a hit
// returned are checked again at the end: later decodes must not have
// overwritten them. A pool larger than the cache makes it empty itself
// (Resets) on the way.
func TestAttrCacheMatchesDecode(t *testing.T) {
	for _, poolSize := range []int{30, 3 * attrCacheEntries} {
		g := gen{rand.New(rand.NewPCG(uint64(poolSize), 3))}
		pool := updateBodies(t, g, poolSize)
		c := NewAttrCache()
		u := &Update{}
		u.ReuseAttributes(true)
		u.UseAttrCache(c)
		type held struct {
			body  []byte
			attrs []Attribute
		}
		var hits []held
		for i := range 20 * poolSize {
			body := pool[g.r.IntN(len(pool))]
			if g.r.IntN(5) == 0 {
				body = updateBodies(t, g, 1)[0]
			}
			before := c.Hits
			if err := u.DecodeFromBytes(body); err != nil {
				t.Fatalf("decode %d: %v", i, err)
			}
			var want Update
			if err := want.DecodeFromBytes(body); err != nil {
				t.Fatal(err)
			}
			got := *u
			got.RawAttrs, got.reuseAttrs, got.spare, got.cache, got.shared, got.own = nil, false, nil, nil, false, nil
			if !reflect.DeepEqual(canon(&got), canon(&want)) {
				t.Fatalf("decode %d (cache hits %d) differs from a fresh decode:\n %#v\n %#v", i, c.Hits, &got, &want)
			}
			if c.Hits > before && len(hits) < 200 {
				hits = append(hits, held{body, u.Attrs})
			}
		}
		for _, h := range hits {
			var want Update
			if err := want.DecodeFromBytes(h.body); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(canon(&Update{Attrs: h.attrs}), canon(&Update{Attrs: want.Attrs})) {
				t.Fatalf("cached attributes changed by later decodes:\n %#v\n %#v", h.attrs, want.Attrs)
			}
		}
		if c.Hits == 0 || len(hits) == 0 || c.Kept == 0 || len(c.m) > attrCacheEntries {
			t.Fatalf("pool %d: hits %d, kept %d, held %d", poolSize, c.Hits, c.Kept, len(c.m))
		}
		if (poolSize > attrCacheEntries) != (c.Resets > 0) {
			t.Fatalf("pool %d: %d resets", poolSize, c.Resets)
		}
		t.Logf("pool %d: %d hits, %d misses, %d kept, %d resets", poolSize, c.Hits, c.Misses, c.Kept, c.Resets)
	}
}

// TestAttrCacheAllocatesNothing: once warm, neither a stream of sections
// that repeat (hits) nor one where none ever does (each hashed, none kept)
// allocates.
func TestAttrCacheAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	g := gen{rand.New(rand.NewPCG(5, 5))}
	for _, tc := range []struct {
		name   string
		bodies [][]byte
	}{
		{"repeating", updateBodies(t, g, 50)},
		{"never repeating", updateBodies(t, g, 4000)},
	} {
		u := &Update{}
		u.ReuseAttributes(true)
		c := NewAttrCache()
		u.UseAttrCache(c)
		i := 0
		next := func() {
			if err := u.DecodeFromBytes(tc.bodies[i%len(tc.bodies)]); err != nil {
				t.Fatal(err)
			}
			i++
		}
		n := len(tc.bodies)
		if n < 1000 {
			for range 3 * n {
				next() // warm: every section kept, the reused values at their size
			}
		} else {
			for range 200 {
				next()
			}
		}
		kept := c.Kept
		if allocs := testing.AllocsPerRun(1000, next); allocs != 0 {
			t.Errorf("%s: %.2f allocations per UPDATE", tc.name, allocs)
		}
		if tc.name == "never repeating" && c.Kept != kept {
			t.Errorf("%s: %d sections kept", tc.name, c.Kept-kept)
		}
		if tc.name == "repeating" && c.Hits == 0 {
			t.Errorf("%s: no hit", tc.name)
		}
	}
}
