//go:debug tlsrsakex=1
//go:debug tls3des=1

// The go:debug lines above re-enable, for this test binary only, the
// static-RSA key exchange and 3DES suites that Go 1.22+/1.23+ turned off by
// default, so that real crypto/tls sessions with them can be recorded.

package tlsdec

import (
	"bytes"
	"crypto/tls"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// feedTLS gives recorded chunks to tr in order; frame numbers start at 1.
func feedTLS(tr *Tracker, chunks []dgram, r *result) {
	for i, d := range chunks {
		src, dst := cliAddr, srvAddr
		if !d.fromClient {
			src, dst = srvAddr, cliAddr
		}
		tr.TLSData(src, dst, t0.Add(time.Duration(i)*time.Millisecond), uint64(i+1), d.data, 0, RoleUnknown, r.emit)
	}
}

// resplit joins consecutive same-direction chunks and cuts them again at
// random points (1..300 bytes), keeping the order between directions.
func resplit(rng *rand.Rand, in []dgram) (out []dgram) {
	for i := 0; i < len(in); {
		j := i
		var run []byte
		for j < len(in) && in[j].fromClient == in[i].fromClient {
			run = append(run, in[j].data...)
			j++
		}
		for len(run) > 0 {
			n := min(len(run), 1+rng.IntN(300))
			out = append(out, dgram{in[i].fromClient, run[:n]})
			run = run[n:]
		}
		i = j
	}
	return out
}

var goSuites = []struct {
	id    uint16
	ecdsa bool
}{
	{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
	{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, false},
	{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, true},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, true},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, true},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA, false},
	{tls.TLS_RSA_WITH_AES_256_CBC_SHA, false},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, false},
	{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
	{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, false},
	{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, false},
	{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, false},
}

func checkTLSSession(t *testing.T, s *Session, suite uint16, source string) {
	t.Helper()
	if s.Transport != "tls" || s.Client != cliAddr || s.Server != srvAddr || !s.RolesKnown {
		t.Errorf("session: %s %v→%v roles %v", s.Transport, s.Client, s.Server, s.RolesKnown)
	}
	if s.CipherSuite != suite || s.CipherSuiteName() != tls.CipherSuiteName(suite) || s.VersionName() != "TLS 1.2" {
		t.Errorf("suite %s version %s", s.CipherSuiteName(), s.VersionName())
	}
	if !s.ExtendedMasterSecret {
		t.Errorf("crypto/tls negotiates extended master secret; not seen")
	}
	if s.KeySource != source {
		t.Errorf("key source %q want %q", s.KeySource, source)
	}
	if !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0 {
		t.Errorf("finished %v/%v; %v", s.ClientFinishedOK, s.ServerFinishedOK, s.Diagnostics())
	}
}

// TestTLSGoSuites records crypto/tls 1.2 sessions for many suites, cuts the
// byte streams at random points, and decrypts them with the key log (and,
// for static-RSA suites, with the server's RSA key alone).
func TestTLSGoSuites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, gs := range goSuites {
		name := tls.CipherSuiteName(gs.id)
		t.Run(name, func(t *testing.T) {
			sess := runTLS(t, tlsOpts{suite: gs.id, ecdsa: gs.ecdsa, msgs: 6})
			for round := 0; round < 3; round++ {
				chunks := resplit(rng, sess.dgrams)
				tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
				var r result
				feedTLS(tr, chunks, &r)
				checkApp(t, name, r, sess)
				checkTLSSession(t, onlySession(t, tr), gs.id, "keylog:test.keylog")
				checkAccounting(t, tr)
				if tr.hsTotal() != 0 {
					t.Errorf("%d handshake bytes held after both Finished", tr.hsTotal())
				}
			}
			if strings.HasPrefix(name, "TLS_RSA_") {
				ks := NewKeyStore()
				if err := ks.AddRSAKey(otherRSAPEM(t)); err != nil {
					t.Fatal(err)
				}
				if err := ks.AddRSAKey(rsaPEM(t)); err != nil {
					t.Fatal(err)
				}
				tr := NewTracker(ks, Options{})
				var r result
				feedTLS(tr, resplit(rng, sess.dgrams), &r)
				checkApp(t, name+" via RSA key", r, sess)
				checkTLSSession(t, onlySession(t, tr), gs.id, "rsa")
			}
		})
	}
}

func TestTLSRSAWrongKey(t *testing.T) {
	sess := runTLS(t, tlsOpts{suite: tls.TLS_RSA_WITH_AES_128_GCM_SHA256, msgs: 2})
	ks := NewKeyStore()
	if err := ks.AddRSAKey(otherRSAPEM(t)); err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(ks, Options{})
	feedTLS(tr, sess.dgrams, &result{})
	tr.Finish()
	s := onlySession(t, tr)
	if s.Decrypted != 0 || s.Failures(ReasonNoKey) < 4 || !strings.Contains(s.FirstFailure(ReasonNoKey), "RSA") {
		t.Fatalf("decrypted %d no-key %d %q", s.Decrypted, s.Failures(ReasonNoKey), s.FirstFailure(ReasonNoKey))
	}
}

func TestTLSUnsupportedSuite(t *testing.T) {
	sess := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, msgs: 2})
	tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	var r result
	feedTLS(tr, sess.dgrams, &r)
	s := onlySession(t, tr)
	if s.Decrypted != 0 || len(r.app[0]) != 0 {
		t.Fatal("RC4 records emitted")
	}
	if s.Failures(ReasonUnsupportedSuite) < 4 || !strings.Contains(s.FirstFailure(ReasonUnsupportedSuite), "TLS_ECDHE_RSA_WITH_RC4_128_SHA") {
		t.Fatalf("unsupported-suite %d %q", s.Failures(ReasonUnsupportedSuite), s.FirstFailure(ReasonUnsupportedSuite))
	}
}

func TestTLSWrongKeyAndMidStream(t *testing.T) {
	sess := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, msgs: 3})
	kl := bytes.Replace(sess.keylog, []byte("CLIENT_RANDOM "), []byte("CLIENT_RANDOM "), 1)
	ms := bytes.LastIndexByte(bytes.TrimSpace(kl), ' ') + 1
	kl[ms] ^= 1 // '0'↔'1', 'a'↔'`'... keep it hex:
	if !strings.ContainsRune("0123456789abcdef", rune(kl[ms])) {
		kl[ms] = '0'
	}
	tr := NewTracker(keyStoreFrom(t, kl), Options{})
	var r result
	feedTLS(tr, sess.dgrams, &r)
	s := onlySession(t, tr)
	if s.Decrypted != 0 || s.Failures(ReasonAuthFailed) < 8 {
		t.Fatalf("wrong key: decrypted %d auth-failed %d", s.Decrypted, s.Failures(ReasonAuthFailed))
	}

	// Mid-stream: the capture starts after the handshake.
	var first int
	for i, d := range sess.dgrams {
		if d.data[0] == ContentApplicationData {
			first = i
			break
		}
	}
	tr = NewTracker(keyStoreFrom(t, sess.keylog), Options{})
	r = result{}
	feedTLS(tr, sess.dgrams[first:], &r)
	s = onlySession(t, tr)
	if r.records != 0 || s.Failures(ReasonNoHandshake) < 6 || s.RolesKnown {
		t.Fatalf("mid-stream: records %d no-handshake %d %v", r.records, s.Failures(ReasonNoHandshake), s.Diagnostics())
	}
}

// TestTLSLostBytes drops bytes from the client's stream and reports the
// gap: the tracker resynchronises on the next record and finds the
// sequence number again (explicit nonce for GCM, search for the others).
func TestTLSLostBytes(t *testing.T) {
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256} {
		name := tls.CipherSuiteName(suite)
		sess := runTLS(t, tlsOpts{suite: suite, msgs: 8})
		// Client application records, one per chunk as recorded.
		var app []int
		for i, d := range sess.dgrams {
			if d.fromClient && d.data[0] == ContentApplicationData {
				app = append(app, i)
			}
		}
		for _, mode := range []string{"whole-record", "mid-record"} {
			tr := NewTracker(keyStoreFrom(t, sess.keylog), Options{})
			var r result
			lost := map[int]bool{}
			for i, d := range sess.dgrams {
				src, dst := cliAddr, srvAddr
				if !d.fromClient {
					src, dst = srvAddr, cliAddr
				}
				data, gap := d.data, 0
				switch {
				case i == app[2] || i == app[3]:
					// Lost: reported on the next chunk of this direction.
					lost[i] = true
					continue
				case i == app[4]:
					gap = len(sess.dgrams[app[2]].data) + len(sess.dgrams[app[3]].data)
					if mode == "mid-record" {
						// Also lose the first 7 bytes of this record: it
						// cannot be decrypted, the next one must be.
						gap += 7
						data = data[7:]
					}
				}
				tr.TLSData(src, dst, t0, uint64(i+1), data, gap, RoleUnknown, r.emit)
			}
			want := sess
			skip := map[int]bool{2: true, 3: true}
			if mode == "mid-record" {
				skip[4] = true
			}
			want.sent[0] = nil
			for i, m := range sess.sent[0] {
				if !skip[i] {
					want.sent[0] = append(want.sent[0], m)
				}
			}
			checkApp(t, name+" "+mode, r, want)
			s := onlySession(t, tr)
			if s.Resyncs != 1 || s.BytesLost == 0 {
				t.Errorf("%s %s: resyncs %d lost %d", name, mode, s.Resyncs, s.BytesLost)
			}
			if s.TotalFailures() != 0 {
				t.Errorf("%s %s: failures %v", name, mode, s.Diagnostics())
			}
		}
	}
}

// TestTLSRoleHint: when the layer below says which side is the client, a
// session picked up mid-stream still gets directions.
func TestTLSRoleHint(t *testing.T) {
	sess := runTLS(t, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, msgs: 1})
	tr := NewTracker(nil, Options{})
	d := sess.dgrams[len(sess.dgrams)-1]
	src, dst, role := cliAddr, srvAddr, RoleClient
	if !d.fromClient {
		src, dst, role = srvAddr, cliAddr, RoleServer
	}
	tr.TLSData(src, dst, t0, 1, d.data, 0, role, nil)
	s := onlySession(t, tr)
	if !s.RolesKnown || s.Client != cliAddr {
		t.Fatalf("roles %v client %v", s.RolesKnown, s.Client)
	}
	// A new connection on the same endpoints after TLSEnd is a new session.
	tr.TLSEnd(src, dst)
	feedTLS(tr, sess.dgrams, &result{})
	if n := len(tr.Sessions()); n != 2 {
		t.Fatalf("%d sessions", n)
	}
}

// TestTLSGarbageStream: bytes that are not TLS are reported with the
// offending field, and never emitted.
func TestTLSGarbageStream(t *testing.T) {
	tr := NewTracker(nil, Options{})
	var r result
	tr.TLSData(cliAddr, srvAddr, t0, 1, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, RoleClient, r.emit)
	tr.TLSData(cliAddr, srvAddr, t0, 2, bytes.Repeat([]byte{0x17, 3, 3, 0xff, 0xff}, 10), 0, RoleClient, r.emit)
	s := onlySession(t, tr)
	if r.records != 0 {
		t.Fatalf("%d records emitted from garbage", r.records)
	}
	if s.Failures(ReasonNoHandshake)+s.Failures(ReasonMalformed) == 0 {
		t.Fatalf("garbage not reported: %v", s.Diagnostics())
	}
}
