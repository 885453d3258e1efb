package tlsdec

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/pion/dtls/v2"
)

// TestHandshakeBound: a handshake larger than MaxHandshakeBytes is counted
// as handshake-dropped; with a key log the records still decrypt, but the
// Finished messages cannot be checked.
func TestHandshakeBound(t *testing.T) {
	sess := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, msgs: 2, mtu: 300})
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{MaxHandshakeBytes: 600})
	var r result
	feedDTLS(tr, sess.dgrams, &r)
	checkApp(t, "bounded handshake", r, sess)
	s := onlySession(t, tr)
	if s.Failures(ReasonHandshakeDropped) == 0 || s.state.hsBytes > 600 {
		t.Fatalf("handshake-dropped %d, held %d", s.Failures(ReasonHandshakeDropped), s.state.hsBytes)
	}
	if s.ClientFinishedOK {
		t.Error("Finished verified without the whole transcript")
	}
	checkAccounting(t, tr)
	if d := strings.Join(s.Diagnostics(), "\n"); !strings.Contains(d, "600-byte bound") {
		t.Errorf("diagnostics: %s", d)
	}

	// TLS: the Certificate message exceeds the bound.
	ts := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, msgs: 1})
	tr = NewTracker(keyStoreFrom(t, ts.keylog), Options{MaxHandshakeBytes: 500})
	r = result{}
	feedTLS(tr, ts.dgrams, &r)
	checkApp(t, "bounded TLS handshake", r, ts)
	if s := onlySession(t, tr); s.Failures(ReasonHandshakeDropped) == 0 {
		t.Fatalf("TLS handshake-dropped not counted: %v", s.Diagnostics())
	}
}

// relabel returns a copy of a DTLS record with another type and epoch.
func relabel(rec []byte, typ uint8, epoch uint16) []byte {
	out := bytes.Clone(rec)
	out[0] = typ
	binary.BigEndian.PutUint16(out[3:5], epoch)
	return out
}

func TestDTLSUnsupportedAndMalformed(t *testing.T) {
	sess := gcmSession(t)
	app := appDatagrams(sess.dgrams)
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	var r result
	feedDTLS(tr, sess.dgrams[:app[0]], &r)
	rec := sess.dgrams[app[0]].data
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 100, relabel(rec, ContentApplicationData, 2), r.emit)
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 101, relabel(rec, ContentTLS12CID, 1), r.emit)
	// A handshake fragment whose fragment_length runs past the message.
	hs := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 16,
		hsCertificate, 0, 0, 10, 0, 9, 0, 0, 8, 0, 0, 4, 1, 2, 3, 4}
	tr.DTLSDatagram(srvAddr, cliAddr, t0, 102, hs, r.emit)
	// Truncated record inside a datagram.
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 103, rec[:len(rec)-1], r.emit)
	// A record too short for the GCM explicit nonce and tag.
	short := bytes.Clone(rec[:13+10])
	binary.BigEndian.PutUint16(short[11:13], 10)
	binary.BigEndian.PutUint16(short[5:11][0:2], 0)
	short[10] = 0x7f
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 104, short, r.emit)
	s := onlySession(t, tr)
	if r.app[0] != nil {
		t.Fatal("records emitted")
	}
	if s.Failures(ReasonUnsupportedFeature) != 2 {
		t.Errorf("unsupported-feature %d: %v", s.Failures(ReasonUnsupportedFeature), s.Diagnostics())
	}
	if !strings.Contains(s.FirstFailure(ReasonUnsupportedFeature), "epoch 2") {
		t.Errorf("first unsupported-feature: %q", s.FirstFailure(ReasonUnsupportedFeature))
	}
	if s.Failures(ReasonMalformed) != 3 {
		t.Errorf("malformed %d: %v", s.Failures(ReasonMalformed), s.Diagnostics())
	}
	m := s.FirstFailure(ReasonMalformed)
	if !strings.Contains(m, "frame 102") || !strings.Contains(m, "fragment_length") || !strings.Contains(m, "offset") && !strings.Contains(m, "byte 9") {
		t.Errorf("malformed description: %q", m)
	}
}

// TestTLSLostSync: more records lost than the resync window covers: the
// following records are counted as lost-sync and nothing is emitted for
// them; with the default window the same loss is recovered.
func TestTLSLostSync(t *testing.T) {
	sess := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, msgs: 12})
	var app []int
	for i, d := range sess.dgrams {
		if d.fromClient && d.data[0] == ContentApplicationData {
			app = append(app, i)
		}
	}
	for _, window := range []int{3, 0} {
		tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{ResyncWindow: window})
		var r result
		lost := 0
		for i, d := range sess.dgrams {
			src, dst := cliAddr, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cliAddr
			}
			if i >= app[2] && i < app[8] && d.fromClient {
				lost += len(d.data)
				continue
			}
			gap := 0
			if i == app[8] {
				gap = lost
			}
			tr.TLSData(src, dst, t0, uint64(i+1), d.data, gap, RoleUnknown, r.emit)
		}
		s := onlySession(t, tr)
		if window == 3 {
			// 4 messages and the close_notify alert after the loss.
			if s.Failures(ReasonLostSync) != 5 || len(r.app[0]) != 2 {
				t.Fatalf("window 3: lost-sync %d, %d client messages; %v", s.Failures(ReasonLostSync), len(r.app[0]), s.Diagnostics())
			}
			continue
		}
		if s.TotalFailures() != 0 || len(r.app[0]) != 6 || !bytes.Equal(r.app[0][2], sess.sent[0][8]) {
			t.Fatalf("default window: %d messages; %v", len(r.app[0]), s.Diagnostics())
		}
	}
}

// TestTotalBounds: the tracker-wide bounds hold across sessions.
func TestTotalBounds(t *testing.T) {
	sess := gcmSession(t)
	tr := NewTracker(NewKeyStore(), Options{MaxTotalHandshakeBytes: 1500, MaxTotalPendingBytes: 2000})
	for p := 0; p < 3; p++ {
		cli := netipAddrPort("192.0.2.1", uint16(50000+p))
		for i, d := range sess.dgrams {
			src, dst := cli, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cli
			}
			tr.DTLSDatagram(src, dst, t0, uint64(p*1000+i+1), d.data, nil)
		}
		checkAccounting(t, tr)
	}
	dropped, noKey := uint64(0), uint64(0)
	for _, s := range tr.Sessions() {
		dropped += s.Failures(ReasonHandshakeDropped)
		noKey += s.Failures(ReasonNoKey)
	}
	if dropped == 0 || noKey == 0 || tr.hsTotal() > 1500 || tr.pendingTotal() > 2000 {
		t.Fatalf("handshake-dropped %d, no-key %d, totals %d/%d", dropped, noKey, tr.hsTotal(), tr.pendingTotal())
	}
	// Keys arrive: what waited is decrypted, the accounting returns to what
	// the sessions still hold.
	tr.keys.LoadKeyLog(bytes.NewReader(sess.keylog), "k")
	tr.Retry(nil)
	checkAccounting(t, tr)
	tr.Finish()
	if tr.pendingTotal() != 0 {
		t.Fatalf("pending total %d after Finish", tr.pendingTotal())
	}
}

func TestPendingBytesBound(t *testing.T) {
	sess := gcmSession(t)
	tr := NewTracker(NewKeyStore(), Options{MaxPendingBytes: 300})
	feedDTLS(tr, sess.dgrams, &result{})
	s := onlySession(t, tr)
	if s.state.pendingBytes > 300 || s.Failures(ReasonNoKey) == 0 {
		t.Fatalf("pending bytes %d, no-key %d", s.state.pendingBytes, s.Failures(ReasonNoKey))
	}
}

func TestTLSHeaderProblems(t *testing.T) {
	tr := NewTracker(nil, Options{})
	var r result
	// A ClientHello record, then a record with an absurd length.
	ch := []byte{22, 3, 1, 0, 4, hsClientHello, 0, 0, 0}
	tr.TLSData(cliAddr, srvAddr, t0, 1, ch, 0, RoleUnknown, r.emit)
	tr.TLSData(cliAddr, srvAddr, t0, 2, []byte{23, 3, 3, 0x50, 0x00, 1, 2, 3}, 0, RoleUnknown, r.emit)
	s := onlySession(t, tr)
	if s.Failures(ReasonMalformed) < 2 {
		t.Fatalf("malformed %d; %v", s.Failures(ReasonMalformed), s.Diagnostics())
	}
	if d := s.FirstFailure(ReasonMalformed); !strings.Contains(d, "ClientHello: client_version at offset 0") {
		t.Errorf("first failure: %s", d)
	}
	tr = NewTracker(nil, Options{})
	tr.TLSData(cliAddr, srvAddr, t0, 7, []byte{23, 3, 3, 0x50, 0x00, 1, 2, 3}, 0, RoleClient, r.emit)
	if d := onlySession(t, tr).FirstFailure(ReasonMalformed); !strings.Contains(d, "frame 7: tls record header: length 20480 (offset 3)") {
		t.Errorf("length problem not named: %q", d)
	}
	if r.records != 1 { // the ClientHello record, in the clear
		t.Errorf("%d records emitted", r.records)
	}
}

// TestNotesBounded: a session keeps its first maxNotes notes and tells how
// many more it did not keep, rather than dropping them unsaid.
func TestNotesBounded(t *testing.T) {
	var s Session
	for i := 0; i < maxNotes+4; i++ {
		s.note("note %d", i)
	}
	d := s.Diagnostics()
	if len(d) != maxNotes+1 || d[0] != "note 0" || d[maxNotes-1] != fmt.Sprintf("note %d", maxNotes-1) {
		t.Fatalf("diagnostics: %q", d)
	}
	if want := fmt.Sprintf("4 further note(s) not kept (the first %d are above)", maxNotes); d[maxNotes] != want {
		t.Errorf("last line %q, want %q", d[maxNotes], want)
	}
	var c Session
	s.CopyInfo(&c)
	if !s.SameInfo(&c) {
		t.Error("a copy does not say the same")
	}
	s.note("one more")
	if s.SameInfo(&c) {
		t.Error("SameInfo misses a note past the bound")
	}
}
