package tlsdec

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestSessionCacheFollowsTheMap: through sessions made, replaced by a new
// handshake, evicted by a small table and ended (TLSEnd), between many
// endpoints whose keys share the cache's slots, every filled slot of the
// cache holds what the session map holds for its key, and every lookup
// gives the map's session.
func TestSessionCacheFollowsTheMap(t *testing.T) {
	tr := NewTracker(nil, Options{MaxSessions: 16})
	r := rand.New(rand.NewPCG(11, 12))
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(12346+i%3))
	}
	check := func(step int) {
		t.Helper()
		for i, c := range tr.recent {
			if c.s != nil && tr.sessions[c.key] != c.s {
				t.Fatalf("step %d: slot %d holds a session the map does not have for its key", step, i)
			}
		}
		for k, s := range tr.sessions {
			if got := tr.lookup(k); got != s {
				t.Fatalf("step %d: lookup gives another session than the map", step)
			}
		}
	}
	ended := 0
	for step := range 20000 {
		src := addr(r.IntN(300))
		switch r.IntN(4) {
		case 0, 1: // a ClientHello: a new session, or a new handshake replacing one
			tr.DTLSDatagram(src, srvAddr, t0, uint64(step+1), floodHello(step), nil)
		case 2: // TLS bytes: a TLS session
			tr.TLSData(src, srvAddr, t0, uint64(step+1), []byte{22, 3, 3, 0, 1, 1}, 0, RoleClient, nil)
		case 3:
			if tr.TLSEnd(src, srvAddr) != nil {
				ended++
			}
		}
		check(step)
	}
	st := tr.Stats()
	if st.SessionsEvicted == 0 || ended == 0 {
		t.Fatalf("%d evicted, %d ended: the test sees no eviction or no end", st.SessionsEvicted, ended)
	}
}
