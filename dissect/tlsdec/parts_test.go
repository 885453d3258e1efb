package tlsdec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/part"
	"github.com/ompscope/ompscope/pcaps/linediff"
)

// TestPartsDecompose: with the table in parts, a tracker given every
// datagram gives each part's sessions exactly what a tracker given only
// that part's datagrams gives them, while a flood of one-packet flows
// fills every part. This is what makes a parallel run's evictions the same
// with any number of workers: a worker holds whole parts. Two runs: the
// session shares reached while live sessions go on (none evicted, all
// decrypt); and the byte shares reached (handshake bytes held by the
// flood, records waiting for keys that arrive at the end).
func TestPartsDecompose(t *testing.T) {
	const parts = 4
	sess := gcmSession(t)
	t.Run("sessions", func(t *testing.T) {
		decompose(t, sess, Options{MaxSessions: 2048, Parts: parts}, false) // 64 unproven a part
	})
	t.Run("bytes", func(t *testing.T) {
		// a part holds 3 000 handshake bytes (the flood's ClientHellos,
		// 75 bytes each, fill it) and 3 000 bytes of records waiting
		decompose(t, sess, Options{MaxSessions: 2048, Parts: parts, MaxHandshakeBytes: 3000, MaxTotalHandshakeBytes: parts * 3000,
			MaxPendingBytes: 1000, MaxTotalPendingBytes: parts * 3000}, true)
	})
}

// decompose runs the test with opts; with keysLater the trackers start
// without keys, which arrive after the last datagram (Retry).
func decompose(t *testing.T, sess session, opts Options, keysLater bool) {
	parts := opts.Parts
	type dgram struct {
		src, dst netip.AddrPort
		data     []byte
	}
	// eight live sessions (the same handshake from eight clients) among
	// 3 000 ClientHellos of their own, in a seeded order
	var live [][]dgram
	for c := 0; c < 8; c++ {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + c)}), 12346)
		var l []dgram
		for _, d := range sess.dgrams {
			if d.fromClient {
				l = append(l, dgram{cli, srvAddr, d.data})
			} else {
				l = append(l, dgram{srvAddr, cli, d.data})
			}
		}
		live = append(live, l)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var all []dgram
	next := make([]int, len(live))
	left := func() bool {
		for c := range live {
			if next[c] < len(live[c]) {
				return true
			}
		}
		return false
	}
	for n := 0; n < 3000 || left(); n++ {
		if c := rng.IntN(len(live)); rng.IntN(4) == 0 && next[c] < len(live[c]) {
			all = append(all, live[c][next[c]])
			next[c]++
			continue
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64, byte(n >> 8), byte(n)}), uint16(20000+n%7))
		all = append(all, dgram{src, srvAddr, floodHello(n)})
	}
	partOf := func(a, b netip.AddrPort) int { return part.Of(part.Hash(a.Addr(), b.Addr()), parts) }
	type log struct {
		lines []string
		of    []int
	}
	emitTo := func(l *log) func(*Record) {
		return func(r *Record) {
			l.lines = append(l.lines, fmt.Sprintf("%s f%d %d/%d dec %v %d", r.Session.ID, r.Frame, r.Epoch, r.Seq, r.Decrypted, len(r.Plaintext)))
			l.of = append(l.of, partOf(r.Session.Client, r.Session.Server))
		}
	}
	keys := keyStoreFrom(t, sess.keylog)
	// what one live session decrypts alone
	alone := NewTracker(keys, Options{})
	for i, d := range live[0] {
		alone.DTLSDatagram(d.src, d.dst, t0, uint64(i+1), d.data, nil)
	}
	one := onlySession(t, alone).Decrypted

	if keysLater {
		keys = NewKeyStore()
	}
	whole := NewTracker(keys, opts)
	each := make([]*Tracker, parts)
	var wl log
	el := make([]log, parts)
	for k := range each {
		each[k] = NewTracker(keys, opts)
	}
	for i, d := range all {
		whole.DTLSDatagram(d.src, d.dst, t0, uint64(i+1), d.data, emitTo(&wl))
		k := partOf(d.src, d.dst)
		each[k].DTLSDatagram(d.src, d.dst, t0, uint64(i+1), d.data, emitTo(&el[k]))
	}
	checkParts(t, whole)
	if keysLater {
		keys.LoadKeyLog(bytes.NewReader(sess.keylog), "k")
		whole.Retry(emitTo(&wl))
		for k, tr := range each {
			tr.Retry(emitTo(&el[k]))
		}
		checkParts(t, whole)
	}
	var decrypted, evicted uint64
	for k, tr := range each {
		checkParts(t, tr)
		var want, got []string
		for _, s := range whole.Sessions() {
			if partOf(s.Client, s.Server) == k {
				want = append(want, fmt.Sprintf("%s dec %d fail %d", s.ID, s.Decrypted, s.TotalFailures()))
				decrypted += s.Decrypted
			}
		}
		for _, s := range tr.Sessions() {
			got = append(got, fmt.Sprintf("%s dec %d fail %d", s.ID, s.Decrypted, s.TotalFailures()))
		}
		sameLines(t, fmt.Sprintf("part %d, the sessions held", k), want, got)
		want = want[:0]
		for i, l := range wl.lines {
			if wl.of[i] == k {
				want = append(want, l)
			}
		}
		sameLines(t, fmt.Sprintf("part %d, the records", k), want, el[k].lines)
		if st := tr.Stats(); st.SessionsEvicted == 0 {
			t.Errorf("part %d evicted nothing: the flood did not fill it", k)
		} else {
			evicted += st.SessionsEvicted
		}
	}
	if st := whole.Stats(); st.SessionsEvicted != evicted {
		t.Errorf("%d sessions evicted by one tracker, %d by the parts' trackers", st.SessionsEvicted, evicted)
	}
	if !keysLater {
		if decrypted != 8*one || one == 0 {
			t.Errorf("the live sessions decrypted %d records, want 8 × %d: the flood evicted one", decrypted, one)
		}
		return
	}
	// the byte shares were reached: handshakes dropped, records refused
	// for want of room while others waited and were decrypted
	var dropped, noKey uint64
	for _, s := range whole.Sessions() {
		dropped += s.Failures(ReasonHandshakeDropped)
		noKey += s.Failures(ReasonNoKey)
	}
	if dropped == 0 || noKey == 0 || decrypted == 0 {
		t.Errorf("handshake bytes dropped %d, records not kept for a key %d, decrypted %d: a byte share was not reached", dropped, noKey, decrypted)
	}
}

// sameLines fails t at the first line where got differs from want.
func sameLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if i, w, g, differ := linediff.First(want, got); differ {
		t.Fatalf("%s, line %d of %d/%d:\n  one tracker:     %s\n  the part's own:  %s", what, i, len(want), len(got), w, g)
	}
}
