package tlsdec

import (
	"crypto/tls"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
	"unsafe"
)

// recordBufBytes is the capacity of the record buffers the tracker's
// sessions hold.
func recordBufBytes(tr *Tracker) (n int) {
	for _, s := range tr.Sessions() {
		n += cap(s.state.half[0].stream) + cap(s.state.half[1].stream)
	}
	return
}

// partialRecord is a TLS application-data record header announcing 16 384
// bytes, followed by only body of them.
func partialRecord(body int) []byte {
	b := make([]byte, tlsRecordHeaderLen+body)
	b[0], b[1], b[2], b[3], b[4] = ContentApplicationData, 3, 3, 0x40, 0
	return b
}

// TestPartialRecordsBounded: 8 000 TCP flows each sending 12 000 bytes of
// a 16 KiB record (96 MB of incomplete records) hold at most the default
// MaxTotalRecordBytes (64 MiB) of record buffers; the records dropped for
// it are counted (Stats, lost-sync failures, skipped bytes), and a live
// session, interleaved with the flood and cut into small chunks, loses
// nothing.
func TestPartialRecordsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("8 000 flows of 12 KB: not in -short")
	}
	sess := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, msgs: 8})
	chunks := resplit(rand.New(rand.NewPCG(3, 4)), sess.dgrams)
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{MaxSessions: 1 << 17})
	var r result
	const flows = 8000
	every := flows / len(chunks)
	live := 0
	for n := 0; n < flows; n++ {
		if n%every == 0 && live < len(chunks) {
			d := chunks[live]
			src, dst := cliAddr, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cliAddr
			}
			tr.TLSData(src, dst, t0.Add(time.Duration(n)), uint64(n+1), d.data, 0, RoleUnknown, r.emit)
			live++
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, byte(n >> 16), byte(n >> 8), byte(n)}), uint16(20000+n%30000))
		tr.TLSData(src, srvAddr, t0.Add(time.Duration(n)), uint64(n+1), partialRecord(12000), 0, RoleClient, r.emit)
		if n%1000 == 999 {
			if held := recordBufBytes(tr); held > tr.opt.MaxTotalRecordBytes {
				t.Fatalf("after %d flows: %d bytes of record buffers held, over the %d-byte bound", n+1, held, tr.opt.MaxTotalRecordBytes)
			}
		}
	}
	for ; live < len(chunks); live++ {
		d := chunks[live]
		src, dst := cliAddr, srvAddr
		if !d.fromClient {
			src, dst = srvAddr, cliAddr
		}
		tr.TLSData(src, dst, t0.Add(time.Hour), uint64(flows+live), d.data, 0, RoleUnknown, r.emit)
	}
	checkApp(t, "live session", r, sess)
	checkAccounting(t, tr)
	st := tr.Stats()
	var lostSync, skipped uint64
	for _, s := range tr.Sessions() {
		if s.Client == cliAddr {
			if s.TotalFailures() != 0 {
				t.Errorf("live session: %v", s.Diagnostics())
			}
			continue
		}
		lostSync += s.Failures(ReasonLostSync)
		skipped += s.BytesSkipped
	}
	if st.RecordDrops == 0 || lostSync != st.RecordDrops || skipped != st.RecordBytesDropped || skipped != 12005*st.RecordDrops {
		t.Errorf("drops %d of %d bytes counted; sessions say %d lost-sync, %d bytes skipped", st.RecordDrops, st.RecordBytesDropped, lostSync, skipped)
	}
	if want := uint64(flows - tr.opt.MaxTotalRecordBytes/(tlsRecordHeaderLen+16384)); st.RecordDrops < want {
		t.Errorf("%d drops, want at least %d", st.RecordDrops, want)
	}
}

// TestRecordBufferReleased: once a large record is complete, or the bytes
// searched after a gap are trimmed, the direction's buffer does not keep
// its capacity; an ended connection lets go of an incomplete record.
func TestRecordBufferReleased(t *testing.T) {
	tr := NewTracker(nil, Options{})
	rec := partialRecord(16384)
	tr.TLSData(cliAddr, srvAddr, t0, 1, rec[:9000], 0, RoleClient, nil)
	tr.TLSData(cliAddr, srvAddr, t0, 2, rec[9000:], 0, RoleClient, nil)
	s := onlySession(t, tr)
	if c := cap(s.state.half[0].stream); c > streamIdleCap {
		t.Errorf("record complete: its buffer keeps %d bytes, more than a record", c)
	}
	checkAccounting(t, tr)
	// the next record in two pieces reuses the buffer
	if cap(s.state.half[0].stream) == 0 {
		t.Fatal("record complete: its buffer let go (the next allocates another)")
	}
	buf := unsafe.SliceData(s.state.half[0].stream[:1])
	tr.TLSData(cliAddr, srvAddr, t0, 2, rec[:9000], 0, RoleClient, nil)
	tr.TLSData(cliAddr, srvAddr, t0, 2, rec[9000:], 0, RoleClient, nil)
	if cap(s.state.half[0].stream) == 0 || unsafe.SliceData(s.state.half[0].stream[:1]) != buf {
		t.Errorf("a record in two pieces: a new buffer")
	}
	// a gap, then 60 000 bytes in which no record header is found
	tr.TLSData(cliAddr, srvAddr, t0, 3, make([]byte, 60000), 10, RoleClient, nil)
	if c := cap(s.state.half[0].stream); c > streamIdleCap {
		t.Errorf("after the search for a record: the buffer keeps %d bytes", c)
	}
	checkAccounting(t, tr)
	// an incomplete record, then the end of the connection
	tr.TLSData(srvAddr, cliAddr, t0, 4, rec[:9000], 0, RoleServer, nil)
	if tr.parts[0].streamTotal < 9000 {
		t.Errorf("an incomplete record of 9 000 bytes: %d accounted", tr.parts[0].streamTotal)
	}
	tr.TLSEnd(cliAddr, srvAddr)
	if n := recordBufBytes(tr); n != 0 || tr.parts[0].streamTotal != 0 {
		t.Errorf("connection ended: %d bytes of record buffers held, %d accounted", n, tr.parts[0].streamTotal)
	}
	checkAccounting(t, tr)
}

// TestEmptyBuffersGoFirst: under the bound, sessions holding only empty
// record buffers (a large record completed) let them go before a session
// holding an incomplete record loses it.
func TestEmptyBuffersGoFirst(t *testing.T) {
	tr := NewTracker(nil, Options{MaxTotalRecordBytes: 1 << 20, Parts: 1})
	rec := partialRecord(3000)
	rec[3], rec[4] = 3000>>8, 3000&0xff // a whole record of 3 000 bytes
	victim := netip.MustParseAddrPort("192.0.2.200:40000")
	tr.TLSData(victim, srvAddr, t0, 1, rec[:1500], 0, RoleClient, nil)
	for i := range 400 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 40000)
		tr.TLSData(c, srvAddr, t0, uint64(10+2*i), rec[:1500], 0, RoleClient, nil)
		tr.TLSData(c, srvAddr, t0, uint64(11+2*i), rec[1500:], 0, RoleClient, nil)
	}
	checkAccounting(t, tr)
	if st := tr.Stats(); st.RecordDrops != 0 {
		t.Fatalf("%d incomplete records dropped while empty buffers were held", st.RecordDrops)
	}
	tr.TLSData(victim, srvAddr, t0, 2000, rec[1500:], 0, RoleClient, nil)
	for _, s := range tr.Sessions() {
		if s.Client == victim && (s.Failures(ReasonLostSync) != 0 || s.BytesSkipped != 0) {
			t.Errorf("the incomplete record was lost: %v", s.Diagnostics())
		}
	}
}

// TestEvictedLeaveRecordBudget: sessions evicted while holding incomplete
// records leave the budget's accounting and lists with their buffers.
func TestEvictedLeaveRecordBudget(t *testing.T) {
	tr := NewTracker(nil, Options{MaxSessions: 2, Parts: 1})
	rec := partialRecord(9000)
	for i := range 10 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 40000)
		tr.TLSData(c, srvAddr, t0, uint64(1+i), rec, 0, RoleClient, nil)
	}
	if st := tr.Stats(); st.SessionsEvicted != 8 {
		t.Fatalf("%d sessions evicted, want 8", st.SessionsEvicted)
	}
	checkAccounting(t, tr)
	if n := recordBufBytes(tr); n != tr.parts[0].streamTotal {
		t.Errorf("the sessions held hold %d bytes of record buffers, %d accounted", n, tr.parts[0].streamTotal)
	}
}
