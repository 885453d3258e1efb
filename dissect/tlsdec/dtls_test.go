package tlsdec

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v2"
)

// pionSuites is every suite pion/dtls v2 implements (cipher_suite.go).
var pionSuites = []dtls.CipherSuiteID{
	dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	dtls.TLS_PSK_WITH_AES_128_CCM,
	dtls.TLS_PSK_WITH_AES_128_CCM_8,
	dtls.TLS_PSK_WITH_AES_256_CCM_8,
	dtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
	dtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
	dtls.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
}

func isPSKSuite(id dtls.CipherSuiteID) bool {
	return strings.HasPrefix(dtls.CipherSuiteName(id), "TLS_PSK_")
}

// checkSession asserts the handshake facts of a fully decrypted session.
func checkSession(t *testing.T, s *Session, suite dtls.CipherSuiteID, ems bool, source string) {
	t.Helper()
	if s.Transport != "dtls" || s.Client != cliAddr || s.Server != srvAddr || !s.RolesKnown {
		t.Errorf("session endpoints: %s %v→%v roles %v", s.Transport, s.Client, s.Server, s.RolesKnown)
	}
	if s.CipherSuite != uint16(suite) || s.CipherSuiteName() != strings.ReplaceAll(dtls.CipherSuiteName(suite), "-", "_") {
		t.Errorf("suite %s (0x%04x), want %s", s.CipherSuiteName(), s.CipherSuite, dtls.CipherSuiteName(suite))
	}
	if s.Version != 0xfefd || s.VersionName() != "DTLS 1.2" {
		t.Errorf("version %s", s.VersionName())
	}
	if s.ExtendedMasterSecret != ems {
		t.Errorf("extended master secret %v, want %v", s.ExtendedMasterSecret, ems)
	}
	if s.KeySource != source {
		t.Errorf("key source %q, want %q", s.KeySource, source)
	}
	if !s.ClientFinishedOK || !s.ServerFinishedOK {
		t.Errorf("Finished verification client=%v server=%v; diagnostics %v", s.ClientFinishedOK, s.ServerFinishedOK, s.Diagnostics())
	}
	if n := s.TotalFailures(); n != 0 {
		t.Errorf("%d failures: %v", n, s.Diagnostics())
	}
}

// TestDTLSAllPionSuites records a real pion session for every suite, with
// extended master secret on and off, and decrypts it from the key log.
func TestDTLSAllPionSuites(t *testing.T) {
	for _, suite := range pionSuites {
		for _, ems := range []bool{true, false} {
			name := dtls.CipherSuiteName(suite)
			if !ems {
				name += "/noEMS"
			}
			t.Run(name, func(t *testing.T) {
				sess := runPion(t, pionOpts{suite: suite, noEMS: !ems, msgs: 6})
				tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
				var r result
				feedDTLS(tr, sess.dgrams, &r)
				checkApp(t, name, r, sess)
				s := onlySession(t, tr)
				checkSession(t, s, suite, ems, "keylog:test.keylog")
				checkAccounting(t, tr)
				if tr.hsTotal() != 0 {
					t.Errorf("%d handshake bytes still held after both Finished", tr.hsTotal())
				}
				if !s.HelloVerify {
					t.Errorf("pion's default cookie exchange (HelloVerifyRequest) not seen")
				}
				if isPSKSuite(suite) && s.PSKIdentity != "vedge-1" {
					t.Errorf("PSK identity %q", s.PSKIdentity)
				}
			})
		}
	}
}

// TestDTLSPSKWithoutKeyLog derives the keys from the pre-shared key alone.
func TestDTLSPSKWithoutKeyLog(t *testing.T) {
	for _, suite := range pionSuites {
		if !isPSKSuite(suite) {
			continue
		}
		for _, ems := range []bool{true, false} {
			name := dtls.CipherSuiteName(suite)
			if !ems {
				name += "/noEMS"
			}
			t.Run(name, func(t *testing.T) {
				sess := runPion(t, pionOpts{suite: suite, noEMS: !ems, msgs: 4, pskIdentity: "edge-42"})
				ks := NewKeyStore()
				if err := ks.AddPSK("other", []byte("not this one")); err != nil {
					t.Fatal(err)
				}
				if err := ks.AddPSK("edge-42", testPSK); err != nil {
					t.Fatal(err)
				}
				tr := NewTracker(ks, Options{})
				var r result
				feedDTLS(tr, sess.dgrams, &r)
				checkApp(t, name, r, sess)
				s := onlySession(t, tr)
				checkSession(t, s, suite, ems, "psk")
				if s.PSKIdentity != "edge-42" {
					t.Errorf("PSK identity %q", s.PSKIdentity)
				}
			})
		}
	}
	t.Run("default-identity", func(t *testing.T) {
		sess := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_GCM_SHA256, msgs: 2})
		ks := NewKeyStore()
		ks.AddPSK("", testPSK)
		tr := NewTracker(ks, Options{})
		var r result
		feedDTLS(tr, sess.dgrams, &r)
		checkApp(t, "default PSK", r, sess)
	})
	t.Run("wrong-psk", func(t *testing.T) {
		sess := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM, msgs: 3})
		ks := NewKeyStore()
		ks.AddPSK("vedge-1", []byte("wrong key"))
		tr := NewTracker(ks, Options{})
		var r result
		feedDTLS(tr, sess.dgrams, &r)
		s := onlySession(t, tr)
		if len(r.app[0])+len(r.app[1]) != 0 || s.Decrypted != 0 {
			t.Fatalf("decrypted with a wrong PSK: %d records", s.Decrypted)
		}
		// Finished ×2 + 3 messages each way + close_notify alert(s).
		if n := s.Failures(ReasonAuthFailed); n < 8 {
			t.Fatalf("auth-failed %d, want ≥ 8; %v", n, s.Diagnostics())
		}
		if !strings.Contains(s.FirstFailure(ReasonAuthFailed), "psk") {
			t.Errorf("first failure %q does not name the key source", s.FirstFailure(ReasonAuthFailed))
		}
	})
	t.Run("ecdhe-psk-needs-keylog", func(t *testing.T) {
		sess := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, msgs: 1})
		ks := NewKeyStore()
		ks.AddPSK("", testPSK)
		tr := NewTracker(ks, Options{})
		feedDTLS(tr, sess.dgrams, nil2(&result{}))
		tr.Finish()
		s := onlySession(t, tr)
		if s.Decrypted != 0 || s.Failures(ReasonNoKey) == 0 || !strings.Contains(s.FirstFailure(ReasonNoKey), "ECDHE_PSK") {
			t.Fatalf("decrypted=%d no-key=%d %q", s.Decrypted, s.Failures(ReasonNoKey), s.FirstFailure(ReasonNoKey))
		}
	})
}

func nil2(r *result) *result { return r }

var (
	gcmOnce sync.Once
	gcmSess session
)

// gcmSession is one recorded ECDHE-ECDSA-AES128-GCM session shared by the
// scenario tests.
func gcmSession(t *testing.T) session {
	gcmOnce.Do(func() {
		gcmSess = runPion(t, pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, msgs: 8})
	})
	if gcmSess.dgrams == nil {
		t.Fatal("no recorded session")
	}
	return gcmSess
}

// appDatagrams returns the indexes of datagrams holding application data.
func appDatagrams(dg []dgram) (idx []int) {
	for i, d := range dg {
		if d.data[0] == ContentApplicationData {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestDTLSWrongKey(t *testing.T) {
	sess := gcmSession(t)
	kl := bytes.Clone(sess.keylog)
	// Flip the last hex digit of the master secret.
	i := bytes.LastIndexByte(bytes.TrimSpace(kl), ' ') + 96
	if kl[i] == '0' {
		kl[i] = '1'
	} else {
		kl[i] = '0'
	}
	tr := NewTracker(keyStoreFrom(t, kl), Options{})
	var r result
	feedDTLS(tr, sess.dgrams, &r)
	s := onlySession(t, tr)
	if s.Decrypted != 0 || len(r.app[0])+len(r.app[1]) != 0 {
		t.Fatalf("wrong key decrypted %d records", s.Decrypted)
	}
	if s.Failures(ReasonAuthFailed) < 16 {
		t.Fatalf("auth-failed = %d; %v", s.Failures(ReasonAuthFailed), s.Diagnostics())
	}
	d := strings.Join(s.Diagnostics(), "\n")
	if !strings.Contains(d, "auth-failed") || !strings.Contains(d, "wrong key") {
		t.Errorf("diagnostics do not explain: %s", d)
	}
}

func TestDTLSNoKeyThenLateKey(t *testing.T) {
	sess := gcmSession(t)
	ks := NewKeyStore()
	tr := NewTracker(ks, Options{})
	var r result
	feedDTLS(tr, sess.dgrams, &r)
	s := onlySession(t, tr)
	if s.Decrypted != 0 || s.Pending() == 0 {
		t.Fatalf("decrypted %d pending %d", s.Decrypted, s.Pending())
	}
	if !strings.Contains(strings.Join(s.Diagnostics(), "\n"), "waiting for a key") {
		t.Errorf("diagnostics: %v", s.Diagnostics())
	}
	// The key arrives (live capture): Retry decrypts what waited, in order.
	if n, errs := ks.LoadKeyLog(bytes.NewReader(sess.keylog), "late.keylog"); n != 1 || errs != nil {
		t.Fatal(n, errs)
	}
	tr.Retry(r.emit)
	checkApp(t, "late key", r, sess)
	if s.Recovered != s.Decrypted || s.Pending() != 0 || s.KeySource != "keylog:late.keylog" {
		t.Fatalf("recovered %d decrypted %d pending %d source %q", s.Recovered, s.Decrypted, s.Pending(), s.KeySource)
	}
	if !s.ClientFinishedOK || !s.ServerFinishedOK {
		t.Errorf("Finished not verified after late key")
	}
}

func TestDTLSLateKeyOnNextDatagram(t *testing.T) {
	sess := gcmSession(t)
	ks := NewKeyStore()
	tr := NewTracker(ks, Options{})
	var r result
	app := appDatagrams(sess.dgrams)
	cut := app[3]
	feedDTLS(tr, sess.dgrams[:cut], &r)
	ks.LoadKeyLog(bytes.NewReader(sess.keylog), "k")
	// No Retry: the next datagram notices the new key generation.
	for i := cut; i < len(sess.dgrams); i++ {
		d := sess.dgrams[i]
		src, dst := cliAddr, srvAddr
		if !d.fromClient {
			src, dst = srvAddr, cliAddr
		}
		tr.DTLSDatagram(src, dst, t0, uint64(i+1), d.data, r.emit)
	}
	checkApp(t, "late key", r, sess)
}

func TestDTLSNoKeyFinish(t *testing.T) {
	sess := gcmSession(t)
	tr := NewTracker(NewKeyStore(), Options{MaxPendingRecords: 4})
	feedDTLS(tr, sess.dgrams, &result{})
	s := onlySession(t, tr)
	overflow := s.Failures(ReasonNoKey)
	if overflow == 0 || s.Pending() != 4 {
		t.Fatalf("no-key %d pending %d", overflow, s.Pending())
	}
	tr.Finish()
	if s.Pending() != 0 || s.Failures(ReasonNoKey) != overflow+4 {
		t.Fatalf("after Finish: pending %d no-key %d", s.Pending(), s.Failures(ReasonNoKey))
	}
	if !strings.Contains(s.FirstFailure(ReasonNoKey), "CLIENT_RANDOM "+hex.EncodeToString(s.ClientRandom[:])) {
		t.Errorf("no-key description: %q", s.FirstFailure(ReasonNoKey))
	}
	// Queue disabled: counted at once.
	tr = NewTracker(NewKeyStore(), Options{MaxPendingRecords: -1})
	feedDTLS(tr, sess.dgrams, &result{})
	if s := onlySession(t, tr); s.Pending() != 0 || s.Failures(ReasonNoKey) < 18 {
		t.Fatalf("queue disabled: pending %d no-key %d", s.Pending(), s.Failures(ReasonNoKey))
	}
}

func TestDTLSMidSession(t *testing.T) {
	sess := gcmSession(t)
	app := appDatagrams(sess.dgrams)
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	var r result
	feedDTLS(tr, sess.dgrams[app[0]:], &r)
	s := onlySession(t, tr)
	if s.Decrypted != 0 || s.RolesKnown || s.HandshakeSeen {
		t.Fatalf("mid-session: decrypted %d roles %v", s.Decrypted, s.RolesKnown)
	}
	if s.Failures(ReasonNoHandshake) < 16 || !strings.Contains(s.FirstFailure(ReasonNoHandshake), "mid-session") {
		t.Fatalf("no-handshake %d %q", s.Failures(ReasonNoHandshake), s.FirstFailure(ReasonNoHandshake))
	}
}

func TestDTLSLossDuplicateReorder(t *testing.T) {
	sess := gcmSession(t)
	app := appDatagrams(sess.dgrams)
	t.Run("dropped", func(t *testing.T) {
		drop := app[2]
		var dg []dgram
		dg = append(dg, sess.dgrams[:drop]...)
		dg = append(dg, sess.dgrams[drop+1:]...)
		tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
		var r result
		feedDTLS(tr, dg, &r)
		want := sess
		d := 0
		if !sess.dgrams[drop].fromClient {
			d = 1
		}
		want.sent[d] = append(append([][]byte(nil), sess.sent[d][:1]...), sess.sent[d][2:]...)
		checkApp(t, "dropped", r, want)
		if s := onlySession(t, tr); s.TotalFailures() != 0 {
			t.Fatalf("failures after a loss: %v", s.Diagnostics())
		}
	})
	t.Run("duplicated", func(t *testing.T) {
		var dg []dgram
		for i, d := range sess.dgrams {
			dg = append(dg, d)
			if i == app[1] || i == app[4] {
				dg = append(dg, d)
			}
		}
		tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
		var r result
		feedDTLS(tr, dg, &r)
		checkApp(t, "duplicated", r, sess)
		if s := onlySession(t, tr); s.Duplicates != 2 || s.TotalFailures() != 0 {
			t.Fatalf("duplicates %d, failures %v", s.Duplicates, s.Diagnostics())
		}
	})
	t.Run("reordered", func(t *testing.T) {
		dg := append([]dgram(nil), sess.dgrams...)
		// Two datagrams of the client swap places.
		var c []int
		for _, i := range app {
			if dg[i].fromClient {
				c = append(c, i)
			}
		}
		dg[c[1]], dg[c[3]] = dg[c[3]], dg[c[1]]
		tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
		var r result
		feedDTLS(tr, dg, &r)
		want := sess
		want.sent[0] = append([][]byte(nil), sess.sent[0]...)
		want.sent[0][1], want.sent[0][3] = want.sent[0][3], want.sent[0][1]
		checkApp(t, "reordered", r, want)
	})
	t.Run("handshake-reordered", func(t *testing.T) {
		// Deliver each flight's datagrams in reverse order.
		dg := append([]dgram(nil), sess.dgrams[:app[0]]...)
		for i := 0; i < len(dg); {
			j := i
			for j < len(dg) && dg[j].fromClient == dg[i].fromClient {
				j++
			}
			for a, b := i, j-1; a < b; a, b = a+1, b-1 {
				dg[a], dg[b] = dg[b], dg[a]
			}
			i = j
		}
		dg = append(dg, sess.dgrams[app[0]:]...)
		tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
		var r result
		feedDTLS(tr, dg, &r)
		checkApp(t, "handshake reordered", r, sess)
	})
}

// TestDTLSFragmented forces handshake fragmentation with a small MTU and
// also delivers the fragments out of order; EMS needs the reassembled
// messages in their canonical single-fragment form to derive the PSK
// master secret, so this checks the reassembly byte for byte.
func TestDTLSFragmented(t *testing.T) {
	for _, suite := range []dtls.CipherSuiteID{dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, dtls.TLS_PSK_WITH_AES_128_CCM_8} {
		mtu := 120
		if isPSKSuite(suite) {
			mtu = 70 // PSK handshakes have no certificate: fragment the hellos
		}
		sess := runPion(t, pionOpts{suite: suite, mtu: mtu, msgs: 3})
		frags := 0
		for _, d := range sess.dgrams {
			for _, rec := range dtlsRecords(d.data) {
				if rec[0] == ContentHandshake && rec[3] == 0 && rec[4] == 0 && len(rec) >= 25 {
					if hh, err := parseDTLSHandshakeHeader(rec[13:]); err == nil && hh.fragLen < hh.length {
						frags++
					}
				}
			}
		}
		if frags < 2 {
			t.Fatalf("%s: only %d handshake fragments with MTU %d", dtls.CipherSuiteName(suite), frags, mtu)
		}
		ks := keyStoreFrom(t, sess.keylog)
		if isPSKSuite(suite) {
			ks = NewKeyStore()
			ks.AddPSK("", testPSK)
		}
		for _, reverse := range []bool{false, true} {
			dg := append([]dgram(nil), sess.dgrams...)
			if reverse {
				// Reverse each run of same-direction datagrams.
				for i := 0; i < len(dg); {
					j := i
					for j < len(dg) && dg[j].fromClient == dg[i].fromClient && dg[j].data[0] == ContentHandshake {
						j++
					}
					if j == i {
						i++
						continue
					}
					for a, b := i, j-1; a < b; a, b = a+1, b-1 {
						dg[a], dg[b] = dg[b], dg[a]
					}
					i = j
				}
			}
			tr := NewTracker(ks, Options{})
			var r result
			feedDTLS(tr, dg, &r)
			checkApp(t, dtls.CipherSuiteName(suite), r, sess)
			s := onlySession(t, tr)
			if !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0 {
				t.Fatalf("%s reverse=%v: finished %v/%v; %v", dtls.CipherSuiteName(suite), reverse, s.ClientFinishedOK, s.ServerFinishedOK, s.Diagnostics())
			}
		}
	}
}

// TestDTLSRetransmittedFlight makes the network lose the server's first
// datagram after the HelloVerifyRequest exchange, so pion retransmits the
// flight; once with the lost datagram captured (the capture sees both
// copies) and once without.
func TestDTLSRetransmittedFlight(t *testing.T) {
	for _, captured := range []bool{true, false} {
		var mu sync.Mutex
		dropped := false
		drop := func(fromClient bool, n int, p []byte) (bool, bool) {
			mu.Lock()
			defer mu.Unlock()
			// Server datagram #1 carries the ServerHello flight (#0 is the
			// HelloVerifyRequest).
			if !fromClient && n == 1 && !dropped {
				dropped = true
				return true, captured
			}
			return false, false
		}
		sess := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_GCM_SHA256, msgs: 2, drop: drop, flight: 50 * time.Millisecond})
		if !dropped {
			t.Fatal("nothing dropped")
		}
		for _, src := range []string{"keylog", "psk"} {
			ks := NewKeyStore()
			if src == "psk" {
				ks.AddPSK("vedge-1", testPSK)
			} else {
				ks = keyStoreFrom(t, sess.keylog)
			}
			tr := NewTracker(ks, Options{})
			var r result
			feedDTLS(tr, sess.dgrams, &r)
			checkApp(t, "retransmitted", r, sess)
			s := onlySession(t, tr)
			if !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0 {
				t.Fatalf("captured=%v %s: %v", captured, src, s.Diagnostics())
			}
		}
	}
}

func TestDTLSWithoutHelloVerify(t *testing.T) {
	sess := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, skipHVR: true, msgs: 3})
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	var r result
	feedDTLS(tr, sess.dgrams, &r)
	checkApp(t, "no HVR", r, sess)
	s := onlySession(t, tr)
	if s.HelloVerify {
		t.Error("HelloVerify reported without one")
	}
	checkSession(t, s, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, true, "keylog:test.keylog")
}

// TestDTLSTwoSessionsSameEndpoints: a reconnect on the same 5-tuple (as
// SD-WAN devices do) starts a new session with its own keys.
func TestDTLSTwoSessionsSameEndpoints(t *testing.T) {
	a := gcmSession(t)
	b := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, msgs: 2})
	ks := keyStoreFrom(t, append(bytes.Clone(a.keylog), b.keylog...))
	tr := NewTracker(ks, Options{})
	var r result
	feedDTLS(tr, append(append([]dgram(nil), a.dgrams...), b.dgrams...), &r)
	ss := tr.Sessions()
	if len(ss) != 2 {
		t.Fatalf("%d sessions", len(ss))
	}
	if !ss[0].Ended || ss[1].Ended || ss[0].ID == ss[1].ID {
		t.Fatalf("ended %v %v ids %s %s", ss[0].Ended, ss[1].Ended, ss[0].ID, ss[1].ID)
	}
	want := session{}
	for d := 0; d < 2; d++ {
		want.sent[d] = append(append([][]byte(nil), a.sent[d]...), b.sent[d]...)
	}
	checkApp(t, "two sessions", r, want)
	for _, s := range ss {
		if s.TotalFailures() != 0 || !s.ServerFinishedOK {
			t.Errorf("%s: %v", s.ID, s.Diagnostics())
		}
	}
}

func TestDTLSSessionLimit(t *testing.T) {
	sess := gcmSession(t)
	ref := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	feedDTLS(ref, sess.dgrams, nil2(&result{}))
	want := onlySession(t, ref).Decrypted
	var evicted []*Session
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{MaxSessions: 2, OnEvict: func(s *Session) { evicted = append(evicted, s) }})
	// The same session from 4 different client ports.
	for p := 0; p < 4; p++ {
		cli := netipAddrPort("192.0.2.1", uint16(40000+p))
		for i, d := range sess.dgrams {
			src, dst := cli, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cli
			}
			tr.DTLSDatagram(src, dst, t0, uint64(p*1000+i+1), d.data, nil)
		}
	}
	st := tr.Stats()
	if len(tr.Sessions()) != 2 || st.SessionsCreated != 4 || st.SessionsEvicted != 2 || len(evicted) != 2 {
		t.Fatalf("sessions %d stats %+v evicted %d", len(tr.Sessions()), st, len(evicted))
	}
	for _, s := range evicted {
		if s.Decrypted != want || want < 20 { // 8+8 messages + 2 Finished + 2 close_notify
			t.Errorf("evicted session decrypted %d, want %d", s.Decrypted, want)
		}
	}
}

// TestEvictReleasesBuffers: sessions evicted mid-handshake keep none of
// their handshake's bytes, though their Session is still held (here by
// the test, as by a listing or a relay's encoder).
func TestEvictReleasesBuffers(t *testing.T) {
	sess := gcmSession(t)
	var evicted []*Session
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{MaxSessions: 2, OnEvict: func(s *Session) { evicted = append(evicted, s) }})
	held := 0
	for p := 0; p < 6; p++ {
		cli := netipAddrPort("192.0.2.1", uint16(40000+p))
		for i, d := range sess.dgrams[:3] { // the handshake's start only
			src, dst := cli, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cli
			}
			tr.DTLSDatagram(src, dst, t0, uint64(p*1000+i+1), d.data, nil)
		}
		if p == 0 {
			for _, b := range tr.Sessions()[0].state.slots {
				held += len(b)
			}
		}
	}
	if held == 0 || len(evicted) != 4 {
		t.Fatalf("%d bytes held by a session mid-handshake, %d sessions evicted: the test sees nothing", held, len(evicted))
	}
	for _, s := range evicted {
		st := s.state
		for i, b := range st.slots {
			if b != nil {
				t.Errorf("%s: slot %d keeps %d bytes", s.ID, i, len(b))
			}
		}
		if st.reasm[0].partial != nil || st.reasm[1].partial != nil || st.finPending[0] != nil || st.finPending[1] != nil || st.hsBytes != 0 {
			t.Errorf("%s: fragments or a Finished kept (%d bytes counted)", s.ID, st.hsBytes)
		}
		for d := range st.half {
			if st.half[d].stream != nil || st.half[d].hsBuf != nil {
				t.Errorf("%s: direction %d keeps a partial record or message", s.ID, d)
			}
		}
	}
	sum := 0
	for _, s := range tr.Sessions() {
		sum += s.state.hsBytes
	}
	if tr.parts[0].hsTotal != sum || sum == 0 {
		t.Errorf("handshake bytes counted %d, the held sessions hold %d", tr.parts[0].hsTotal, sum)
	}
}

func TestIsDTLS(t *testing.T) {
	sess := gcmSession(t)
	for i, d := range sess.dgrams {
		if !IsDTLS(d.data) {
			t.Fatalf("datagram %d not recognised", i)
		}
	}
	bad := [][]byte{
		nil,
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2}, // length beyond datagram
		{22, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},             // TLS version
		{19, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},       // type
		{23, 0xfe, 0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},       // epoch 256
		append(bytes.Clone(sess.dgrams[0].data), 0),          // trailing byte
		{22, 0xfe, 0xfd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},       // seq ≥ 2^32
		{23, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},       // application data in epoch 0
	}
	for i, b := range bad {
		if IsDTLS(b) {
			t.Errorf("case %d recognised as DTLS", i)
		}
	}
}

// TestDTLSGarbage: garbage datagrams are counted, never create sessions or
// records, and garbage inside a session is reported with its offset.
func TestDTLSGarbage(t *testing.T) {
	sess := gcmSession(t)
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	var r result
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 1, []byte("hello"), r.emit)
	if tr.Stats().NotDTLS != 1 || len(tr.Sessions()) != 0 {
		t.Fatalf("stats %+v", tr.Stats())
	}
	feedDTLS(tr, sess.dgrams[:3], &r)
	bad := append(bytes.Clone(sess.dgrams[0].data[:20]), 0xff)
	bad[11], bad[12] = 0, 2 // first record: 2-byte body; then garbage
	tr.DTLSDatagram(cliAddr, srvAddr, t0, 99, bad, r.emit)
	s := onlySession(t, tr)
	if s.Failures(ReasonMalformed) == 0 {
		t.Fatalf("no malformed count: %v", s.Diagnostics())
	}
	if m := s.FirstFailure(ReasonMalformed); !strings.Contains(m, "frame 99") || !strings.Contains(m, "byte") {
		t.Errorf("malformed description lacks frame/offset: %q", m)
	}
}

// TestEmitSetsEveryRecordField: emit sets the Record it hands on field by
// field; whatever an earlier record left in any field, the one handed on
// is the record's own. (A field added to Record and not to emit fails
// here.)
func TestEmitSetsEveryRecordField(t *testing.T) {
	tr := NewTracker(NewKeyStore(), Options{})
	var got Record
	tr.out = func(r *Record) { got = *r }
	// poison every field of the reused record
	v := reflect.ValueOf(&tr.rec).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(99)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(99)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 3, 3))
		case reflect.Struct:
			if _, ok := f.Interface().(time.Time); !ok {
				t.Fatalf("Record.%s: a struct this test cannot poison", v.Type().Field(i).Name)
			}
			f.Set(reflect.ValueOf(time.Unix(99, 0)))
		default:
			t.Fatalf("Record.%s: a %s this test cannot poison", v.Type().Field(i).Name, f.Kind())
		}
	}
	s := &Session{}
	r := &rec{s: s, side: 1, ts: t0, frame: 7, typ: ContentApplicationData, epoch: 0, seq: 0}
	tr.emit(r, false, nil)
	want := Record{Session: s, Dir: DirUnknown, Time: t0, Frame: 7, ContentType: ContentApplicationData}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("emit handed on %+v, want %+v", got, want)
	}
}
