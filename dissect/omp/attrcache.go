package omp

import "hash/maphash"

// AttrCache keeps decoded path-attribute sections by their bytes, for the
// Updates that share it (Update.UseAttrCache): a fabric's UPDATEs carry a
// few hundred distinct sections again and again (the 15-minute churn
// capture: 179 000 UPDATEs with attributes, about a hundred sections),
// and finding one here costs a third of decoding it (BenchmarkAttrSection:
// about 100 against 300 ns for an UPDATE of six attributes). A section is
// kept the second time it is decoded, so a stream of sections that never
// repeat costs a map lookup and a hash more per UPDATE (7-24 %) and
// allocates nothing; the cache holds at most
// attrCacheEntries sections of at most attrCacheKey bytes, attrCacheAttrs
// attributes in all (about 2.5 MB at most: TestAttrCacheMemoryBounded),
// and is emptied when full (Resets counts it).
//
// The attributes a hit returns are the cache's: they stay valid while the
// cache lives, and a caller must not change them (as with any decoded
// value, it clones what it keeps). An AttrCache is not safe for concurrent
// use: the Updates that share one are decoded by one goroutine.
//
// The analyzer keeps its attribute sets by the same bytes (analyze's
// interner, internRaw): a consumer's cache of what it builds from the
// values, where this one saves the decoding of them.
type AttrCache struct {
	m     map[string][]Attribute
	seen  [attrSeenSlots]uint64 // hashes of sections decoded once
	seed  maphash.Seed
	attrs int // attributes kept

	// Hits counts sections found; Misses sections decoded; Kept sections
	// stored; Resets the times the cache was full and emptied.
	Hits, Misses, Kept, Resets uint64
}

const (
	attrCacheEntries = 1024
	attrCacheKey     = 1024
	attrCacheAttrs   = 16384
	attrSeenSlots    = 1024
)

// NewAttrCache returns an empty cache.
func NewAttrCache() *AttrCache {
	return &AttrCache{m: make(map[string][]Attribute), seed: maphash.MakeSeed()}
}

// get returns the attributes of section raw if the cache holds it.
func (c *AttrCache) get(raw []byte) ([]Attribute, bool) {
	l, ok := c.m[string(raw)]
	if ok {
		c.Hits++
	} else {
		c.Misses++
	}
	return l, ok
}

// offer is told a section raw decoded to list (values the caller will
// overwrite): the second time in a row of attrSeenSlots-slot sightings,
// the cache keeps copies.
func (c *AttrCache) offer(raw []byte, list []Attribute) {
	if len(raw) > attrCacheKey {
		return
	}
	h := maphash.Bytes(c.seed, raw) | 1 // never the empty slot's 0
	if s := &c.seen[h%attrSeenSlots]; *s != h {
		*s = h
		return
	}
	if len(c.m) >= attrCacheEntries || c.attrs+len(list) > attrCacheAttrs {
		clear(c.m)
		c.attrs = 0
		c.Resets++
	}
	kept := make([]Attribute, len(list))
	for i, a := range list {
		kept[i] = a.Clone()
	}
	c.m[string(raw)] = kept
	c.attrs += len(list)
	c.Kept++
}

// AttrCacheStats are an AttrCache's counts.
type AttrCacheStats struct {
	Hits, Misses, Kept, Resets uint64
}

// Stats returns c's counts (zero for a nil cache).
func (c *AttrCache) Stats() AttrCacheStats {
	if c == nil {
		return AttrCacheStats{}
	}
	return AttrCacheStats{c.Hits, c.Misses, c.Kept, c.Resets}
}
