// Package part divides the dissector's limits into parts by the pair of
// IP addresses of a flow, so that what a limit keeps or gives up does not
// depend on how many workers share the packets.
//
// A parallel run (dissect's -j) gives each worker whole address pairs. If
// each worker held a share of a limit (the session table, the TCP
// connections, the buffers), a flood of fake flows that fills the table
// would evict different sessions with -j 2 than with -j 3: which flows
// meet in a worker depends on the number of workers. Instead the limits
// are cut, once, into N parts by the address pair's hash (N depends on the
// configuration, never on -j: Count), every part is enforced on its own
// with its own least-recently-active order, and a worker holds whole
// parts (the part's number modulo the workers). A part sees the same
// packets in the same order whatever the number of workers, so it evicts
// the same sessions.
//
// The price is that a part can fill while others have room: with the
// default table of 131 072 sessions, in 64 parts of 2 048, a flood that
// concentrates on a few address pairs evicts within their parts first.
package part

import (
	"encoding/binary"
	"net/netip"
)

// Max is the most parts; a parallel run uses at most this many workers.
const Max = 64

// minSessions is the fewest sessions a part holds: a table smaller than
// Max times this has fewer parts.
const minSessions = 128

// Count is the number of parts for a session table of maxSessions: a
// power of two, at most Max, with at least 128 sessions in each part
// (1 for a table under 256).
func Count(maxSessions int) int {
	n := 1
	for n < Max && maxSessions/(n*2) >= minSessions {
		n *= 2
	}
	return n
}

// Share is a part's share of limit v over n parts: v/n rounded up, and at
// least floor (what one item may hold on its own) where v is: a part can
// always hold one. (So the parts together may hold up to n times floor
// when that is more than v.)
func Share(v, n, floor int) int {
	return max(v/n+min(v%n, 1), min(floor, v)) // (v+n-1)/n would overflow near MaxInt
}

// Hash is a hash of two addresses, the same in either order, never 0.
func Hash(a1, a2 netip.Addr) uint64 { return Hash16(a1.As16(), a2.As16()) }

// Hash16 is Hash of two addresses in their 16-byte form (netip.Addr.As16).
func Hash16(a1, a2 [16]byte) uint64 { return mix(addrHash(&a1), addrHash(&a2)) }

// Hash4 is Hash of two IPv4 addresses (as netip.AddrFrom4 makes them),
// for the reader of a parallel run, which hashes every packet
// (BenchmarkHash: 2.9-3.2 ns, Hash16 3.7-3.9 ns).
func Hash4(a1, a2 [4]byte) uint64 { return mix(addr4Hash(a1), addr4Hash(a2)) }

func mix(h1, h2 uint64) uint64 {
	h := Mix64(h1 ^ h2 + (h1+h2)*0x9e3779b97f4a7c15) // symmetric in the two addresses
	if h == 0 {
		h = 1
	}
	return h
}

// Mix64 scrambles x so that its high bits depend on all of its bits (the
// last steps of splitmix64): for slots taken from the top of a hash of
// values that differ in a few low or middle bits, as pointers do.
func Mix64(x uint64) uint64 {
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>29
}

// Of is the part of hash h among n parts.
func Of(h uint64, n int) int {
	if n <= 1 {
		return 0
	}
	return int(h % uint64(n))
}

func addrHash(b *[16]byte) uint64 {
	x := binary.LittleEndian.Uint64(b[:8])*0xff51afd7ed558ccd ^ binary.LittleEndian.Uint64(b[8:])
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// addr4Hash is addrHash of the 16-byte form of an IPv4 address
// (::ffff:a.b.c.d): its first 8 bytes are 0.
func addr4Hash(b [4]byte) uint64 {
	x := 0xffff0000 | uint64(binary.LittleEndian.Uint32(b[:]))<<32
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}
