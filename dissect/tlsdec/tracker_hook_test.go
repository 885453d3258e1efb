package tlsdec

import (
	"net/netip"
	"testing"
	"time"
)

// OnFailure hears every counted failure, with the session's last frame.
func TestOnFailureHook(t *testing.T) {
	var got []struct {
		r     Reason
		n     int
		frame uint64
	}
	tr := NewTracker(NewKeyStore(), Options{OnFailure: func(s *Session, r Reason, n int) {
		got = append(got, struct {
			r     Reason
			n     int
			frame uint64
		}{r, n, s.LastFrame})
	}})
	src := netip.MustParseAddrPort("192.0.2.1:12346")
	dst := netip.MustParseAddrPort("192.0.2.2:12346")
	// An epoch-1 application-data record of a session whose handshake
	// was never seen: no-handshake.
	rec := []byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 5, 0, 24}
	rec = append(rec, make([]byte, 24)...)
	tr.DTLSDatagram(src, dst, time.Unix(100, 0), 7, rec, func(*Record) { t.Fatal("emitted") })
	tr.Finish()
	var total uint64
	for _, s := range tr.Sessions() {
		total += s.TotalFailures()
	}
	if len(got) == 0 || total == 0 {
		t.Fatalf("hook calls %v, failures %d", got, total)
	}
	var sum uint64
	for _, g := range got {
		sum += uint64(g.n)
		if g.frame != 7 {
			t.Errorf("frame %d, want 7", g.frame)
		}
	}
	if sum != total {
		t.Errorf("hook saw %d failures, sessions count %d", sum, total)
	}
}
