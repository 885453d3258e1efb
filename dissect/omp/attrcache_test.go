package omp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/race"
	"github.com/ompscope/ompscope/dissect/sdwan"
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

// routeUpdate is the body of a route UPDATE whose attributes are those a
// fabric sends (originator, TLOC, origin, preference, site-id, tag); n
// makes the tag, so that sections with different n differ.
func routeUpdate(t testing.TB, n int) []byte {
	sys := netip.AddrFrom4([4]byte{10, 255, 0, byte(n%4 + 1)})
	u := &Update{Family: FamilyRouteV4, Attrs: []Attribute{
		&Originator{Flag: FlagTransitive, Addr: sys},
		&TLOCAttr{Flag: FlagTransitive, TLOCKey: TLOCKey{SystemIP: sys, Color: sdwan.ColorBizInternet, Encap: sdwan.EncapIPsec}},
		&OriginAttr{Flag: FlagTransitive, Protocol: sdwan.OriginConnected},
		&Uint32Attr{Type: AttrPreference, Flag: FlagTransitive, Value: 100},
		&Uint32Attr{Type: AttrSiteID, Flag: FlagTransitive, Value: 100 + uint32(n%4)},
		&Uint32Attr{Type: AttrTag, Flag: FlagTransitive, Value: uint32(n)},
	}, Reachable: []NLRI{{PathID: uint32(n), VPN: 1, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 8), byte(n), 0}), 24)}}}
	b, err := Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return b[HeaderLen:]
}

// TestAttrCacheAllocatesNothing: once warm, neither a stream of sections
// that repeat (hits) nor one where none ever does (each hashed, none kept)
// allocates.
func TestAttrCacheAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	bodies := func(n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, routeUpdate(t, i))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		bodies [][]byte
		warm   int
	}{
		{"repeating", bodies(50), 150}, // every section seen three times
		{"never repeating", bodies(4000), 200},
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
		for range tc.warm {
			next() // the reused values at their size; the repeating sections kept
		}
		kept, hits := c.Kept, c.Hits
		if allocs := testing.AllocsPerRun(1000, next); allocs != 0 {
			t.Errorf("%s: %.2f allocations per UPDATE", tc.name, allocs)
		}
		switch {
		case tc.name == "never repeating" && (c.Kept != kept || c.Hits != hits):
			t.Errorf("%s: %d sections kept, %d hits", tc.name, c.Kept-kept, c.Hits-hits)
		case tc.name == "repeating" && c.Hits-hits < 500: // (two sections that share a seen slot may never be kept)
			t.Errorf("%s: %d hits in 1 001 decodes", tc.name, c.Hits-hits)
		}
	}
}

// TestAttrCacheMemoryBounded fills a cache to its brim with the sections
// that cost it the most memory: 1 020 bytes of empty unknown attributes
// (255 values from 1 KB), of 4-byte ones, and single 1 016-byte values
// (the most key and value bytes). Each section is decoded twice, so that
// it is kept. The heap the full cache holds stays under 3 MB; going on,
// the cache empties itself (Resets).
func TestAttrCacheMemoryBounded(t *testing.T) {
	for _, size := range []int{0, 4, 1016} {
		section := func(i int) []byte {
			var attrs []Attribute
			for k := range 1020 / (4 + size) {
				v := make([]byte, size)
				if size >= 4 {
					binary.BigEndian.PutUint32(v, uint32(i))
				} else if k == 0 {
					v = binary.BigEndian.AppendUint32(nil, uint32(i)) // makes the section unique
				}
				attrs = append(attrs, &UnknownAttr{Type: 99, Flag: FlagOptional, Value: v})
			}
			b, err := Marshal(&Update{Family: FamilyRouteV4, Attrs: attrs, Reachable: []NLRI{{VPN: 1, Prefix: netip.MustParsePrefix("10.0.0.0/8")}}})
			if err != nil {
				t.Fatal(err)
			}
			return b[HeaderLen:]
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		c := NewAttrCache()
		u := &Update{}
		u.ReuseAttributes(true)
		u.UseAttrCache(c)
		decode := func(b []byte) {
			for range 2 {
				if err := u.DecodeFromBytes(b); err != nil {
					t.Fatal(err)
				}
			}
		}
		i := 0
		for ; c.Resets == 0; i++ {
			b := section(i)
			if len(c.m) == attrCacheEntries || c.attrs+len(u.Attrs) > attrCacheAttrs {
				break // the next would empty the cache
			}
			decode(b)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		held := int64(ms.HeapAlloc) - int64(before)
		if held > 3<<20 || c.Resets != 0 {
			t.Errorf("values of %d bytes: the full cache holds %d KB (%d sections, %d attributes)", size, held>>10, len(c.m), c.attrs)
		}
		t.Logf("values of %d bytes: the full cache holds %d KB (%d sections, %d attributes)", size, held>>10, len(c.m), c.attrs)
		for range 2 * i {
			i++
			decode(section(i))
		}
		if c.Resets == 0 {
			t.Errorf("values of %d bytes: no reset after %d sections kept", size, c.Kept)
		}
		runtime.KeepAlive(u)
	}
}

// BenchmarkAttrSection measures what the cache saves on the UPDATEs a
// fabric sends (routeUpdate: six attributes, one NLRI): "decoded" decodes
// the attribute section into reused values, as without a cache; "cached"
// finds it in the cache; "never repeating" is the cost of the cache on
// sections that never come back (decoded, and hashed to be remembered).
// Each loop decodes one of 64 UPDATEs in turn, or the one whose tag
// counts up.
func BenchmarkAttrSection(b *testing.B) {
	var bodies [][]byte
	for i := range 64 {
		bodies = append(bodies, routeUpdate(b, i))
	}
	// a section that never comes back: the same UPDATE with the tag
	// (the last attribute, just before the NLRI) counting up
	fresh := routeUpdate(b, 1<<20)
	tag := bytes.Index(fresh, binary.BigEndian.AppendUint32(nil, 1<<20))
	if tag < 0 {
		b.Fatal("no tag")
	}
	for _, bc := range []struct {
		name  string
		cache bool
		fresh bool
	}{
		{"decoded", false, false},
		{"cached", true, false},
		{"never repeating", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u := &Update{}
			u.ReuseAttributes(true)
			if bc.cache {
				u.UseAttrCache(NewAttrCache())
			}
			for _, x := range bodies { // warm: the reused values at their size, the sections kept
				for range 2 {
					if err := u.DecodeFromBytes(x); err != nil {
						b.Fatal(err)
					}
				}
			}
			c := u.cache
			var hits uint64
			if c != nil {
				hits = c.Hits
			}
			b.ReportAllocs()
			i := 0
			if bc.fresh {
				i = 1 << 24 // past the warm-up sections' tags
			}
			for b.Loop() {
				in := bodies[i%len(bodies)]
				if bc.fresh {
					binary.BigEndian.PutUint32(fresh[tag:], uint32(i)) // (the section, not the NLRI's path-id)
					in = fresh
				}
				if err := u.DecodeFromBytes(in); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if bc.fresh && c.Hits != hits {
				b.Fatalf("%d hits on sections that never repeat", c.Hits-hits)
			}
		})
	}
}
