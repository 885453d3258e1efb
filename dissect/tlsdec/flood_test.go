package tlsdec

import (
	"bytes"
	"net/netip"
	"testing"
)

// floodHello is a DTLS 1.2 ClientHello of its own (a one-packet flow).
func floodHello(n int) []byte {
	body := []byte{0xfe, 0xfd}
	body = append(body, bytes.Repeat([]byte{byte(n), byte(n >> 8)}, 16)...)
	body = append(body, 0, 0, 0, 2, 0xc0, 0x2b, 1, 0)
	hs := []byte{1, 0, 0, byte(len(body)), 0, 0, 0, 0, 0, 0, 0, byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(hs) >> 8), byte(len(hs))}
	return append(rec, hs...)
}

// TestFloodHoldsFewUnproven (issue 18, item 3): 300 000 one-packet flows
// hold at most MaxUnproven sessions (about 3 KB each), every one past it
// is evicted and counted, and a live session that decrypts is never
// evicted by them.
func TestFloodHoldsFewUnproven(t *testing.T) {
	if testing.Short() {
		t.Skip("300 000 flows: not in -short")
	}
	sess := gcmSession(t)
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{MaxSessions: 1 << 17})
	var got int
	emit := func(r *Record) {
		if r.Decrypted {
			got++
		}
	}
	half := len(sess.dgrams) / 2
	feed := func(from, to int, frame uint64) {
		for i, d := range sess.dgrams[from:to] {
			src, dst := cliAddr, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cliAddr
			}
			tr.DTLSDatagram(src, dst, t0, frame+uint64(i), d.data, emit)
		}
	}
	feed(0, half, 1) // the live session's handshake and first records
	const flows = 300_000
	for n := 0; n < flows; n++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, byte(n >> 16), byte(n >> 8), byte(n)}), uint16(20000+n%30000))
		tr.DTLSDatagram(src, srvAddr, t0, uint64(1000+n), floodHello(n), emit)
	}
	before := got
	feed(half, len(sess.dgrams), 1_000_000) // the live session goes on
	st := tr.Stats()
	if n := len(tr.Sessions()); n > tr.opt.MaxUnproven+1 {
		t.Errorf("%d sessions held after the flood; at most %d unproven and the live one", n, tr.opt.MaxUnproven)
	}
	if st.SessionsEvicted < flows-uint64(tr.opt.MaxUnproven) {
		t.Errorf("%d evictions counted for %d flows", st.SessionsEvicted, flows)
	}
	if got <= before {
		t.Errorf("the live session decrypted nothing after the flood (%d before, %d after): it was evicted", before, got)
	}
}
