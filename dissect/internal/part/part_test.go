package part

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestHashForms: the reader's forms of the hash (16 bytes, IPv4's 4) give
// the hash of the addresses the decoders see, in either order, so a flow's
// packets and its sessions fall in the same part.
func TestHashForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		var a, b [4]byte
		var c, d [16]byte
		for i := range a {
			a[i], b[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		for i := range c {
			c[i], d[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		v4a, v4b := netip.AddrFrom4(a), netip.AddrFrom4(b)
		h := Hash(v4a, v4b)
		if Hash4(a, b) != h || Hash4(b, a) != h || Hash(v4b, v4a) != h || Hash16(v4a.As16(), v4b.As16()) != h {
			t.Fatalf("%v %v: the forms disagree", v4a, v4b)
		}
		// an IPv4-mapped IPv6 address is the IPv4 address's 16-byte form
		if Hash(netip.AddrFrom16(v4a.As16()), v4b) != h {
			t.Fatalf("%v: its IPv4-mapped form hashes elsewhere", v4a)
		}
		v6c, v6d := netip.AddrFrom16(c), netip.AddrFrom16(d)
		if h6 := Hash(v6c, v6d); Hash16(c, d) != h6 || Hash16(d, c) != h6 || h6 == 0 {
			t.Fatalf("%v %v: the forms disagree", v6c, v6d)
		}
	}
}

// TestCount: the number of parts for a table, from the table alone.
func TestCount(t *testing.T) {
	for _, c := range []struct{ sessions, parts int }{{16, 1}, {255, 1}, {256, 2}, {2000, 8}, {4096, 32}, {8191, 32}, {8192, 64}, {1 << 17, 64}, {1 << 30, 64}} {
		if got := Count(c.sessions); got != c.parts {
			t.Errorf("Count(%d) = %d, want %d", c.sessions, got, c.parts)
		}
		if n := Count(c.sessions); n > 1 && c.sessions/n < minSessions {
			t.Errorf("Count(%d) = %d: fewer than %d sessions a part", c.sessions, n, minSessions)
		}
	}
}

// TestShare: v/n rounded up, at least the floor where v allows it, for
// limits up to the largest int (a share must not wrap to nothing).
func TestShare(t *testing.T) {
	for _, c := range []struct{ v, n, floor, want int }{
		{1 << 17, 64, 1, 2048},
		{1<<17 + 1, 64, 1, 2049},
		{10, 64, 1, 1},
		{4 << 20, 64, 65535, 65536},
		{64 << 10, 64, 65535, 65535},
		{100, 64, 65535, 100}, // the floor is never more than the limit
		{math.MaxInt, 64, 1, math.MaxInt/64 + 1},
		{math.MaxInt, 1, 1, math.MaxInt},
		{math.MaxInt - 1, 2, 1, math.MaxInt / 2},
	} {
		if got := Share(c.v, c.n, c.floor); got != c.want {
			t.Errorf("Share(%d, %d, %d) = %d, want %d", c.v, c.n, c.floor, got, c.want)
		}
	}
}

// BenchmarkHash: the reader of a parallel run hashes every packet's
// addresses; an IPv4 packet's from their 4 bytes (Hash4) or from their
// 16-byte form (Hash16).
func BenchmarkHash(b *testing.B) {
	a1, a2 := [4]byte{198, 18, 0, 1}, [4]byte{203, 0, 113, 13}
	v1, v2 := netip.AddrFrom4(a1).As16(), netip.AddrFrom4(a2).As16()
	var sink uint64
	b.Run("Hash4", func(b *testing.B) {
		for b.Loop() {
			sink += Hash4(a1, a2)
		}
	})
	b.Run("Hash16", func(b *testing.B) {
		for b.Loop() {
			sink += Hash16(v1, v2)
		}
	})
	_ = sink
}
