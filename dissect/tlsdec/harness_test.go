package tlsdec

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/crypto/selfsign"
	"github.com/pion/transport/v2/dpipe"
)

// Endpoints used for recorded sessions.
var (
	cliAddr = netip.MustParseAddrPort("192.0.2.1:12346")
	srvAddr = netip.MustParseAddrPort("198.51.100.7:12346")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// dgram is one recorded datagram (or TCP chunk).
type dgram struct {
	fromClient bool
	data       []byte
}

// capture records what both ends write, in order.
type capture struct {
	mu  sync.Mutex
	log []dgram
}

func (c *capture) add(fromClient bool, p []byte) {
	c.mu.Lock()
	c.log = append(c.log, dgram{fromClient, bytes.Clone(p)})
	c.mu.Unlock()
}

func (c *capture) snapshot() []dgram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]dgram(nil), c.log...)
}

// recConn records every Write before passing it on. drop, if set, decides
// per written datagram (numbered per side from 0) whether the network loses
// it; seen decides whether a lost datagram was captured before the loss.
type recConn struct {
	net.Conn
	cap        *capture
	fromClient bool
	n          int
	drop       func(fromClient bool, n int, p []byte) (lose, captured bool)
}

func (c *recConn) Write(p []byte) (int, error) {
	n := c.n
	c.n++
	if c.drop != nil {
		if lose, captured := c.drop(c.fromClient, n, p); lose {
			if captured {
				c.cap.add(c.fromClient, p)
			}
			return len(p), nil
		}
	}
	c.cap.add(c.fromClient, p)
	return c.Conn.Write(p)
}

// session is a recorded DTLS or TLS session with its key log and the
// application data each side sent.
type session struct {
	dgrams []dgram
	keylog []byte
	sent   [2][][]byte // [0] client → server, [1] server → client
}

// appMessage is the i-th application message of a direction: distinct
// content, lengths from 1 to ~400 bytes.
func appMessage(fromClient bool, i int) []byte {
	tag := "s2c"
	if fromClient {
		tag = "c2s"
	}
	n := 1 + (i*97)%400
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(j*7 + i)
	}
	copy(b, fmt.Sprintf("%s-%d:", tag, i))
	return b
}

// fixedMessage is a message of exactly size bytes.
func fixedMessage(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, fmt.Sprintf("m%d:", i))
	return b
}

var (
	certOnce sync.Once
	ecdsaCrt tls.Certificate
	rsaCrt   tls.Certificate
	rsaKey   *rsa.PrivateKey
	certErr  error
)

func testCerts(t testing.TB) (tls.Certificate, tls.Certificate) {
	t.Helper()
	certOnce.Do(func() {
		ecdsaCrt, certErr = selfsign.GenerateSelfSigned()
		if certErr != nil {
			return
		}
		rsaKey, certErr = rsa.GenerateKey(rand.Reader, 2048)
		if certErr != nil {
			return
		}
		rsaCrt, certErr = selfsign.SelfSign(rsaKey)
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return ecdsaCrt, rsaCrt
}

type pionOpts struct {
	suite       dtls.CipherSuiteID
	noEMS       bool
	skipHVR     bool
	mtu         int
	msgs        int
	drop        func(fromClient bool, n int, p []byte) (lose, captured bool)
	pskIdentity string
	flight      time.Duration // pion FlightInterval (retransmission timer)
	size        int           // fixed message size (0: varied sizes)
	oneWay      bool          // only the client sends
}

var testPSK = []byte("ompscope-test-psk-0123456789abcdef")

// runPion runs a real pion DTLS 1.2 client and server over an in-memory
// datagram pipe, exchanges o.msgs messages each way, closes, and returns
// every datagram written.
func runPion(t testing.TB, o pionOpts) session {
	t.Helper()
	ec, rc := testCerts(t)
	var keylog bytes.Buffer
	var klMu sync.Mutex
	kl := writerFunc(func(p []byte) (int, error) { klMu.Lock(); defer klMu.Unlock(); return keylog.Write(p) })
	if o.flight == 0 {
		o.flight = time.Second // no spurious retransmissions on a loaded machine
	}
	ccfg := &dtls.Config{
		CipherSuites:            []dtls.CipherSuiteID{o.suite},
		InsecureSkipVerify:      true,
		KeyLogWriter:            kl,
		MTU:                     o.mtu,
		FlightInterval:          o.flight,
		ExtendedMasterSecret:    dtls.RequestExtendedMasterSecret,
		InsecureSkipVerifyHello: false,
	}
	scfg := &dtls.Config{
		CipherSuites:            []dtls.CipherSuiteID{o.suite},
		MTU:                     o.mtu,
		FlightInterval:          o.flight,
		ExtendedMasterSecret:    dtls.RequestExtendedMasterSecret,
		InsecureSkipVerifyHello: o.skipHVR,
	}
	if o.noEMS {
		ccfg.ExtendedMasterSecret = dtls.DisableExtendedMasterSecret
		scfg.ExtendedMasterSecret = dtls.DisableExtendedMasterSecret
	}
	name := dtls.CipherSuiteName(o.suite)
	switch {
	case bytes.Contains([]byte(name), []byte("PSK")):
		id := o.pskIdentity
		if id == "" {
			id = "vedge-1"
		}
		ccfg.PSK = func([]byte) ([]byte, error) { return testPSK, nil }
		ccfg.PSKIdentityHint = []byte(id)
		scfg.PSK = func(hint []byte) ([]byte, error) {
			if string(hint) != id {
				return nil, fmt.Errorf("unknown identity %q", hint)
			}
			return testPSK, nil
		}
	case bytes.Contains([]byte(name), []byte("RSA")):
		scfg.Certificates = []tls.Certificate{rc}
	default:
		scfg.Certificates = []tls.Certificate{ec}
	}
	a, b := dpipe.Pipe()
	cp := &capture{}
	ca := &recConn{Conn: a, cap: cp, fromClient: true, drop: o.drop}
	sb := &recConn{Conn: b, cap: cp, fromClient: false, drop: o.drop}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *dtls.Conn
		err error
	}
	sch := make(chan res, 1)
	go func() {
		c, err := dtls.ServerWithContext(ctx, sb, scfg)
		sch <- res{c, err}
	}()
	client, err := dtls.ClientWithContext(ctx, ca, ccfg)
	if err != nil {
		t.Fatalf("%s: client handshake: %v", name, err)
	}
	sr := <-sch
	if sr.err != nil {
		t.Fatalf("%s: server handshake: %v", name, sr.err)
	}
	server := sr.c
	var sess session
	buf := make([]byte, 2048)
	for i := 0; i < o.msgs; i++ {
		m := appMessage(true, i)
		if o.size > 0 {
			m = fixedMessage(i, o.size)
		}
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
		n, err := server.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], m) {
			t.Fatalf("%s: server read %d: %v", name, i, err)
		}
		sess.sent[0] = append(sess.sent[0], m)
		if o.oneWay {
			continue
		}
		r := appMessage(false, i)
		if _, err := server.Write(r); err != nil {
			t.Fatal(err)
		}
		n, err = client.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], r) {
			t.Fatalf("%s: client read %d: %v", name, i, err)
		}
		sess.sent[1] = append(sess.sent[1], r)
	}
	client.Close()
	server.Close()
	sess.dgrams = cp.snapshot()
	klMu.Lock()
	sess.keylog = bytes.Clone(keylog.Bytes())
	klMu.Unlock()
	return sess
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// result collects what a tracker emitted.
type result struct {
	app      [2][][]byte // decrypted application data per direction
	appFrame [2][]uint64
	clear    int
	records  int
}

func (r *result) emit(rec *Record) {
	r.records++
	if rec.Session == nil {
		panic("record without session")
	}
	if rec.ContentType == ContentApplicationData {
		if !rec.Decrypted {
			panic("application data emitted without decryption")
		}
		d := 0
		if rec.Dir == FromServer {
			d = 1
		}
		r.app[d] = append(r.app[d], bytes.Clone(rec.Plaintext))
		r.appFrame[d] = append(r.appFrame[d], rec.Frame)
	}
	if !rec.Decrypted {
		r.clear++
	}
}

// feedDTLS gives recorded datagrams to tr; frame numbers start at 1.
func feedDTLS(tr *Tracker, dg []dgram, r *result) {
	for i, d := range dg {
		src, dst := cliAddr, srvAddr
		if !d.fromClient {
			src, dst = srvAddr, cliAddr
		}
		tr.DTLSDatagram(src, dst, t0.Add(time.Duration(i)*time.Millisecond), uint64(i+1), d.data, r.emit)
	}
}

func keyStoreFrom(t testing.TB, keylog []byte) *KeyStore {
	t.Helper()
	ks := NewKeyStore()
	n, errs := ks.LoadKeyLog(bytes.NewReader(keylog), "test.keylog")
	if len(errs) > 0 || n == 0 {
		t.Fatalf("key log: n=%d errs=%v\n%s", n, errs, keylog)
	}
	return ks
}

// checkApp asserts the decrypted application data equals what was sent.
func checkApp(t *testing.T, label string, got result, want session) {
	t.Helper()
	for d := 0; d < 2; d++ {
		if len(got.app[d]) != len(want.sent[d]) {
			t.Fatalf("%s: direction %d: %d messages decrypted, want %d", label, d, len(got.app[d]), len(want.sent[d]))
		}
		for i := range want.sent[d] {
			if !bytes.Equal(got.app[d][i], want.sent[d][i]) {
				t.Fatalf("%s: direction %d message %d: got %q, want %q", label, d, i, got.app[d][i], want.sent[d][i])
			}
		}
	}
}

// onlySession returns the single session of a tracker.
func onlySession(t testing.TB, tr *Tracker) *Session {
	t.Helper()
	ss := tr.Sessions()
	if len(ss) != 1 {
		for _, s := range ss {
			t.Logf("session %s: %v", s.ID, s.Diagnostics())
		}
		t.Fatalf("%d sessions, want 1", len(ss))
	}
	return ss[0]
}

// dtlsRecords splits a datagram into records (for test inspection).
func dtlsRecords(p []byte) (out [][]byte) {
	for len(p) >= 13 {
		n := int(binary.BigEndian.Uint16(p[11:13]))
		if 13+n > len(p) {
			break
		}
		out = append(out, p[:13+n])
		p = p[13+n:]
	}
	return out
}

// --- crypto/tls sessions ---

type tlsOpts struct {
	suite  uint16
	ecdsa  bool
	msgs   int
	client *tls.Config // optional overrides
}

// runTLS runs a crypto/tls 1.2 client and server over net.Pipe, records
// every chunk written, and returns the session.
func runTLS(t testing.TB, o tlsOpts) session {
	t.Helper()
	ec, rc := testCerts(t)
	cert := rc
	if o.ecdsa {
		cert = ec
	}
	var keylog bytes.Buffer
	var klMu sync.Mutex
	kl := writerFunc(func(p []byte) (int, error) { klMu.Lock(); defer klMu.Unlock(); return keylog.Write(p) })
	ccfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{o.suite}, KeyLogWriter: kl}
	scfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{o.suite}}
	a, b := net.Pipe()
	cp := &capture{}
	ca := &recConn{Conn: a, cap: cp, fromClient: true}
	sb := &recConn{Conn: b, cap: cp, fromClient: false}
	client := tls.Client(ca, ccfg)
	server := tls.Server(sb, scfg)
	var sess session
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for i := 0; i < o.msgs; i++ {
			m := appMessage(true, i)
			if _, err := io.ReadFull(server, buf[:len(m)]); err != nil {
				errc <- err
				return
			}
			if !bytes.Equal(buf[:len(m)], m) {
				errc <- fmt.Errorf("server got %q", buf[:len(m)])
				return
			}
			if _, err := server.Write(appMessage(false, i)); err != nil {
				errc <- err
				return
			}
		}
		// Read the client's close_notify, then close.
		io.Copy(io.Discard, server)
		server.Close()
		errc <- nil
	}()
	buf := make([]byte, 4096)
	for i := 0; i < o.msgs; i++ {
		m := appMessage(true, i)
		if _, err := client.Write(m); err != nil {
			t.Fatalf("suite %s: client write: %v", tls.CipherSuiteName(o.suite), err)
		}
		sess.sent[0] = append(sess.sent[0], m)
		r := appMessage(false, i)
		if _, err := io.ReadFull(client, buf[:len(r)]); err != nil {
			t.Fatalf("suite %s: client read: %v", tls.CipherSuiteName(o.suite), err)
		}
		sess.sent[1] = append(sess.sent[1], r)
	}
	client.Close()
	if err := <-errc; err != nil {
		t.Fatalf("suite %s: server: %v", tls.CipherSuiteName(o.suite), err)
	}
	if got := client.ConnectionState().CipherSuite; got != o.suite {
		t.Fatalf("negotiated %s, want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(o.suite))
	}
	sess.dgrams = cp.snapshot()
	klMu.Lock()
	sess.keylog = bytes.Clone(keylog.Bytes())
	klMu.Unlock()
	return sess
}

// streams concatenates the chunks of each direction.
func (s session) streams() (c2s, s2c []byte) {
	for _, d := range s.dgrams {
		if d.fromClient {
			c2s = append(c2s, d.data...)
		} else {
			s2c = append(s2c, d.data...)
		}
	}
	return
}

// rsaPEM returns the test RSA key as PEM.
func rsaPEM(t testing.TB) []byte {
	testCerts(t)
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
}

// otherRSAPEM returns a PEM of an unrelated RSA key (PKCS#8).
func otherRSAPEM(t testing.TB) []byte {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ecdsaPEM returns a PEM ECDSA key (not usable as RSA key).
func ecdsaPEM(t testing.TB) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func netipAddrPort(ip string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
}

// checkAccounting verifies the tracker's memory accounting: the handshake
// and pending byte totals equal the sums of what the sessions hold.
func checkAccounting(t testing.TB, tr *Tracker) {
	t.Helper()
	hs, pend := 0, 0
	for _, s := range tr.Sessions() { // both lists, the proven and the unproven
		st := s.state
		held := 0
		for _, sl := range st.slots {
			held += len(sl)
		}
		for _, r := range st.reasm {
			for _, m := range r.partial {
				held += m.held
			}
		}
		held += len(st.half[0].hsBuf) + len(st.half[1].hsBuf)
		if held != st.hsBytes {
			t.Fatalf("session %s: holds %d handshake bytes, accounted %d", s.ID, held, st.hsBytes)
		}
		p := 0
		for _, r := range st.pending {
			p += len(r.body)
		}
		if p != st.pendingBytes {
			t.Fatalf("session %s: holds %d pending bytes, accounted %d", s.ID, p, st.pendingBytes)
		}
		if c := cap(st.half[0].stream) + cap(st.half[1].stream); c != st.streamHeld {
			t.Fatalf("session %s: holds %d bytes of record buffers, accounted %d", s.ID, c, st.streamHeld)
		}
		hs += held
		pend += p
	}
	if hs != tr.hsTotal() || pend != tr.pendingTotal() {
		t.Fatalf("totals: handshake %d (accounted %d), pending %d (accounted %d)", hs, tr.hsTotal(), pend, tr.pendingTotal())
	}
	// the bound over all parts: each part's share, which is at least one
	// session's own limit (so may add up to more than the total)
	if n := len(tr.parts); hs > n*tr.lim.hs || pend > n*tr.lim.pending {
		t.Fatalf("over the bounds: handshake %d, pending %d (%d parts of %d and %d)", hs, pend, n, tr.lim.hs, tr.lim.pending)
	}
	checkParts(t, tr)
}

// checkParts checks each part of tr's table: its two lists hold exactly
// its sessions, each in its part (by its addresses), proven or not as the
// list says, and its counts and byte totals are what its sessions hold,
// within its shares.
func checkParts(t testing.TB, tr *Tracker) {
	t.Helper()
	all := 0
	for i := range tr.parts {
		pt := &tr.parts[i]
		n, un, hs, pend := 0, 0, 0, 0
		for _, l := range []struct {
			head   *Session
			proven bool
		}{{pt.head, true}, {pt.uhead, false}} {
			for s := l.head; s != nil; s = s.next {
				if s.state.pt != pt || tr.partOf(s.Client.Addr(), s.Server.Addr()) != pt {
					t.Fatalf("session %s is listed in part %d, not its own", s.ID, i)
				}
				if s.proven != l.proven {
					t.Fatalf("session %s (proven %v) is in the other list of part %d", s.ID, s.proven, i)
				}
				n++
				if !s.proven {
					un++
				}
				hs += s.state.hsBytes
				pend += s.state.pendingBytes
			}
		}
		stream := 0
		for _, l := range []struct {
			head, tail *Session
			idle       bool
		}{{pt.shead, pt.stail, false}, {pt.ihead, pt.itail, true}} {
			var prev *Session
			for s := l.head; s != nil; s = s.state.snext {
				st := s.state
				partial := len(st.half[0].stream) > 0 || len(st.half[1].stream) > 0
				if st.pt != pt || st.sprev != prev || st.streamHeld <= 0 || st.sidle != l.idle || partial == l.idle || tr.sessions[s.key] != s {
					t.Fatalf("session %s is misplaced in the record-buffer lists of part %d", s.ID, i)
				}
				stream += st.streamHeld
				prev = s
			}
			if prev != l.tail {
				t.Fatalf("part %d: a record-buffer list's tail is not its last", i)
			}
		}
		if stream != pt.streamTotal || stream > tr.lim.stream {
			t.Fatalf("part %d: %d bytes of record buffers listed, %d accounted, share %d", i, stream, pt.streamTotal, tr.lim.stream)
		}
		if n != pt.count || un != pt.ucount || hs != pt.hsTotal || pend != pt.pendingTotal {
			t.Fatalf("part %d: %d sessions (%d unproven), %d handshake and %d pending bytes; accounted %d (%d), %d, %d",
				i, n, un, hs, pend, pt.count, pt.ucount, pt.hsTotal, pt.pendingTotal)
		}
		if n > tr.lim.sessions || un > tr.lim.unproven || hs > tr.lim.hs || pend > tr.lim.pending {
			t.Fatalf("part %d over its shares %+v: %d sessions (%d unproven), %d handshake and %d pending bytes", i, tr.lim, n, un, hs, pend)
		}
		all += n
	}
	if all != tr.count {
		t.Fatalf("%d sessions in the parts, %d counted", all, tr.count)
	}
}

// hsTotal is the handshake bytes the parts account.
func (t *Tracker) hsTotal() (n int) {
	for i := range t.parts {
		n += t.parts[i].hsTotal
	}
	return
}

// pendingTotal is the pending bytes the parts account.
func (t *Tracker) pendingTotal() (n int) {
	for i := range t.parts {
		n += t.parts[i].pendingTotal
	}
	return
}
