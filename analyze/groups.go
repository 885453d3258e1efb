package analyze

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// groupIndex finds a group by its key. It is an open-addressing table of
// pointers to the groups with their keys' hashes, probed linearly, at most
// 3/4 full: 16 to 32 bytes a group (32 just after it doubled) where a Go
// map keyed by the 32-byte key took 96, and lookups as fast
// (BenchmarkGroupIndex, a million groups in random order: both about 190
// ns, a cache miss); the 2 000-edge capture's peak went from 1.31 to 1.24
// GB. A probe reads a group only when the hashes
// match (without the hashes, every probe past the first read a group from
// memory: slower than the map). The hash is seeded per analyzer, as Go's
// maps are, so crafted prefixes cannot make the probes long; the order of
// all is therefore unspecified (nothing printed depends on it).
type groupIndex struct {
	seed  [3]uint64
	slots []groupSlot
	n     int
}

type groupSlot struct {
	h uint64 // the key's hash (any value: g says whether the slot is used)
	g *group
}

const minGroupSlots = 64

func newGroupIndex() groupIndex {
	return groupIndex{seed: [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}, slots: make([]groupSlot, minGroupSlots)}
}

// mum is wyhash's mixing step: the two halves of the product, folded.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash is a wyhash-style hash of the key's fields under the index's random
// seed (maphash.Comparable, which makes its argument escape, cost an
// allocation per lookup).
func (x *groupIndex) hash(k *groupKey) uint64 {
	a := binary.LittleEndian.Uint64(k.addr[:8])
	b := binary.LittleEndian.Uint64(k.addr[8:])
	c := uint64(k.vpn) | uint64(k.color)<<32
	d := uint64(k.kind) | uint64(k.bits)<<8 | uint64(k.encap)<<16 | uint64(k.svc)<<24
	if k.v6 {
		d |= 1 << 32
	}
	h := mum(a^x.seed[0], b^x.seed[1]) ^ mum(c^x.seed[2], d^0x9e3779b97f4a7c15)
	return mum(h, 0xa0761d6478bd642f)
}

// len is the number of groups.
func (x *groupIndex) len() int { return x.n }

// get returns the group of key k, or nil.
func (x *groupIndex) get(k *groupKey) *group {
	h := x.hash(k)
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		sl := &x.slots[i]
		if sl.g == nil || sl.h == h && sl.g.key == *k {
			return sl.g
		}
	}
}

// put adds g, whose key is not in the index.
func (x *groupIndex) put(g *group) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(len(x.slots) * 2)
	}
	x.insert(groupSlot{x.hash(&g.key), g})
	x.n++
}

func (x *groupIndex) insert(sl groupSlot) {
	mask := len(x.slots) - 1
	i := int(sl.h) & mask
	for x.slots[i].g != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = sl
}

// del removes g (if it is there), shifting back the groups probed past it
// (no tombstones: a lookup stops at the first empty slot).
func (x *groupIndex) del(g *group) {
	mask := len(x.slots) - 1
	i := int(x.hash(&g.key)) & mask
	for x.slots[i].g != g {
		if x.slots[i].g == nil {
			return
		}
		i = (i + 1) & mask
	}
	for j := i; ; {
		x.slots[i] = groupSlot{}
		for {
			j = (j + 1) & mask
			y := x.slots[j]
			if y.g == nil {
				x.n--
				if x.n*8 < len(x.slots) && len(x.slots) > minGroupSlots {
					x.resize(len(x.slots) / 2)
				}
				return
			}
			// y stays unless its home is cyclically outside (i, j]
			if h := int(y.h) & mask; (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
				x.slots[i] = y
				i = j
				break
			}
		}
	}
}

func (x *groupIndex) resize(n int) {
	old := x.slots
	x.slots = make([]groupSlot, n)
	for _, sl := range old {
		if sl.g != nil {
			x.insert(sl)
		}
	}
}

// all yields every group, in no particular order.
func (x *groupIndex) all(yield func(*group) bool) {
	for _, sl := range x.slots {
		if sl.g != nil && !yield(sl.g) {
			return
		}
	}
}
