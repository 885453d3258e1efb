package tlsdec

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/pion/dtls/v2"
)

// Seed sessions recorded once with real pion / crypto/tls peers (see
// TestWriteSeedSessions) so that the fuzz targets start from real bytes
// with a matching key log.
const (
	seedDTLS       = "testdata/pion-dtls-gcm.bin"
	seedDTLSKeylog = "testdata/pion-dtls-gcm.keylog"
	seedTLS        = "testdata/go-tls-cbc.bin"
	seedTLSKeylog  = "testdata/go-tls-cbc.keylog"
)

// encodeChunks serialises datagrams/chunks as: direction (0 client,
// 1 server) u8, gap u8, length u16, bytes.
func encodeChunks(dg []dgram) []byte {
	var b []byte
	for _, d := range dg {
		dir := byte(1)
		if d.fromClient {
			dir = 0
		}
		b = append(b, dir, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.data)))
		b = append(b, d.data...)
	}
	return b
}

type fuzzChunk struct {
	fromClient bool
	gap        int
	data       []byte
}

// decodeChunks is encodeChunks' inverse, tolerant of any input: a short
// tail becomes one last chunk.
func decodeChunks(b []byte) (out []fuzzChunk) {
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint16(b[2:4]))
		c := fuzzChunk{fromClient: b[0]&1 == 0, gap: int(b[1])}
		b = b[4:]
		n = min(n, len(b))
		c.data = b[:n]
		b = b[n:]
		out = append(out, c)
	}
	return out
}

func readSeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("seed %s: %v (regenerate with TLSDEC_WRITE_SEEDS=1 go test -run TestWriteSeedSessions)", name, err)
	}
	return b
}

// TestWriteSeedSessions records the seed sessions into testdata when
// TLSDEC_WRITE_SEEDS=1; otherwise it checks that the stored ones decrypt.
func TestWriteSeedSessions(t *testing.T) {
	if os.Getenv("TLSDEC_WRITE_SEEDS") == "1" {
		d := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, msgs: 3})
		g := runTLS(t, tlsOpts{suite: 0xc013, msgs: 3}) // ECDHE_RSA_AES_128_CBC_SHA
		os.MkdirAll("testdata", 0o755)
		for name, b := range map[string][]byte{
			seedDTLS: encodeChunks(d.dgrams), seedDTLSKeylog: d.keylog,
			seedTLS: encodeChunks(g.dgrams), seedTLSKeylog: g.keylog,
		} {
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		bin, kl string
		dtls    bool
	}{{seedDTLS, seedDTLSKeylog, true}, {seedTLS, seedTLSKeylog, false}} {
		tr := NewTracker(keyStoreFrom(t, readSeed(t, c.kl)), Options{})
		var r result
		for i, ch := range decodeChunks(readSeed(t, c.bin)) {
			src, dst := cliAddr, srvAddr
			if !ch.fromClient {
				src, dst = srvAddr, cliAddr
			}
			if c.dtls {
				tr.DTLSDatagram(src, dst, t0, uint64(i+1), ch.data, r.emit)
			} else {
				tr.TLSData(src, dst, t0, uint64(i+1), ch.data, 0, RoleUnknown, r.emit)
			}
		}
		for d := 0; d < 2; d++ {
			if len(r.app[d]) != 3 {
				t.Fatalf("%s: direction %d: %d messages", c.bin, d, len(r.app[d]))
			}
			for i, m := range r.app[d] {
				if !bytes.Equal(m, appMessage(d == 0, i)) {
					t.Fatalf("%s: message %d differs", c.bin, i)
				}
			}
		}
		s := onlySession(t, tr)
		if !s.ClientFinishedOK || !s.ServerFinishedOK {
			t.Fatalf("%s: %v", c.bin, s.Diagnostics())
		}
	}
}

// fuzzEmit checks invariants of every emitted record.
func fuzzEmit(t *testing.T, limit int) func(*Record) {
	return func(r *Record) {
		if r.Session == nil {
			t.Fatal("record without session")
		}
		if len(r.Plaintext) > limit {
			t.Fatalf("plaintext of %d bytes from %d bytes of input", len(r.Plaintext), limit)
		}
		if r.ContentType == ContentApplicationData && !r.Decrypted && !r.Session.NullCipher() {
			t.Fatal("application data emitted without decryption")
		}
	}
}

func FuzzDTLSDatagram(f *testing.F) {
	session := readSeed(f, seedDTLS)
	ks := keyStoreFrom(f, readSeed(f, seedDTLSKeylog))
	ks.AddPSK("", testPSK)
	f.Add(session)
	chunks := decodeChunks(session)
	for i := range chunks {
		f.Add(encodeChunks([]dgram{{chunks[i].fromClient, chunks[i].data}}))
		// The session with one datagram truncated.
		var dg []dgram
		for j, c := range chunks {
			d := c.data
			if j == i {
				d = d[:len(d)/2]
			}
			dg = append(dg, dgram{c.fromClient, d})
		}
		f.Add(encodeChunks(dg))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := NewTracker(ks, Options{MaxSessions: 4, MaxHandshakeBytes: 8 << 10, MaxPendingRecords: 8, Parts: 2})
		emit := fuzzEmit(t, len(in))
		for i, c := range decodeChunks(in) {
			src, dst := cliAddr, srvAddr
			if !c.fromClient {
				src, dst = srvAddr, cliAddr
			}
			if c.gap&2 != 0 { // some datagrams from another port: more sessions
				src = netipAddrPort("192.0.2.9", uint16(c.gap))
			}
			IsDTLS(c.data)
			tr.DTLSDatagram(src, dst, t0, uint64(i+1), c.data, emit)
		}
		checkAccounting(t, tr)
		tr.Retry(emit)
		tr.Finish()
		checkAccounting(t, tr)
		if n := len(tr.Sessions()); n > 4 {
			t.Fatalf("%d sessions tracked, bound 4", n)
		}
		for _, s := range tr.Sessions() {
			s.Diagnostics()
			if s.state.hsBytes > 8<<10 {
				t.Fatalf("handshake bytes %d over bound", s.state.hsBytes)
			}
		}
	})
}

func FuzzTLSStream(f *testing.F) {
	session := readSeed(f, seedTLS)
	ks := keyStoreFrom(f, readSeed(f, seedTLSKeylog))
	f.Add(session)
	chunks := decodeChunks(session)
	// Re-cut at every 7th byte, and with a gap.
	var small []dgram
	for _, c := range chunks {
		for d := c.data; len(d) > 0; {
			n := min(7, len(d))
			small = append(small, dgram{c.fromClient, d[:n]})
			d = d[n:]
		}
	}
	f.Add(encodeChunks(small))
	// Lose the middle chunk and report it as a gap on the next one.
	var withGap []byte
	for i, c := range chunks {
		if i == len(chunks)/2 {
			continue
		}
		gap := byte(0)
		if i == len(chunks)/2+1 {
			gap = byte(200 + min(len(chunks[i-1].data), 55))
		}
		dir := byte(1)
		if c.fromClient {
			dir = 0
		}
		withGap = append(withGap, dir, gap)
		withGap = binary.BigEndian.AppendUint16(withGap, uint16(len(c.data)))
		withGap = append(withGap, c.data...)
	}
	f.Add(withGap)
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := NewTracker(ks, Options{MaxSessions: 4, MaxHandshakeBytes: 8 << 10, MaxPendingRecords: 8, ResyncWindow: 8})
		emit := fuzzEmit(t, len(in))
		for i, c := range decodeChunks(in) {
			src, dst := cliAddr, srvAddr
			if !c.fromClient {
				src, dst = srvAddr, cliAddr
			}
			gap := 0
			if c.gap > 200 {
				gap = c.gap - 200
			}
			role := Role(c.gap % 3)
			if c.gap == 99 {
				tr.TLSEnd(src, dst)
			}
			tr.TLSData(src, dst, t0, uint64(i+1), c.data, gap, role, emit)
		}
		checkAccounting(t, tr)
		tr.Finish()
		for _, s := range tr.Sessions() {
			s.Diagnostics()
			for _, h := range s.state.half {
				if len(h.stream) > 2*(tlsRecordHeaderLen+maxCiphertext) || len(h.hsBuf) > 8<<10 {
					t.Fatalf("buffers over bound: stream %d hs %d", len(h.stream), len(h.hsBuf))
				}
			}
		}
	})
}

func FuzzKeyLog(f *testing.F) {
	f.Add([]byte("CLIENT_RANDOM " + cr1 + " " + ms1 + "\n# c\n\nCLIENT_TRAFFIC_SECRET_0 " + cr1 + " " + cr1 + "\n"))
	f.Add(readSeed(f, seedDTLSKeylog))
	f.Add([]byte("CLIENT_RANDOM zz " + ms1))
	f.Add(bytes.Repeat([]byte{'A'}, 3000))
	f.Fuzz(func(t *testing.T, in []byte) {
		ks := NewKeyStore()
		n, errs := ks.LoadKeyLog(bytes.NewReader(in), "fuzz")
		if lines := bytes.Count(in, []byte("\n")) + 1; n > lines {
			t.Fatalf("%d entries from %d lines", n, lines)
		}
		if len(errs) > maxKeyLogErrs+1 {
			t.Fatalf("%d errors", len(errs))
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "fuzz:") {
				t.Fatalf("error without file name: %v", e)
			}
		}
		if ks.Counts().MasterSecrets > n {
			t.Fatal("more secrets than reported")
		}
	})
}

// FuzzHandshake feeds handshake message bodies to the parsers, seeded with
// the real messages of the recorded sessions.
func FuzzHandshake(f *testing.F) {
	for _, d := range decodeChunks(readSeed(f, seedDTLS)) {
		for _, rec := range dtlsRecords(d.data) {
			if rec[0] != ContentHandshake || rec[3] != 0 || rec[4] != 0 {
				continue
			}
			body := rec[13:]
			for len(body) >= 12 {
				hh, err := parseDTLSHandshakeHeader(body)
				if err != nil {
					break
				}
				f.Add(hh.typ, true, body[12:12+hh.fragLen])
				f.Add(uint8(255), true, body[:12+hh.fragLen]) // raw header+body
				body = body[12+hh.fragLen:]
			}
		}
	}
	for _, d := range decodeChunks(readSeed(f, seedTLS)) {
		if len(d.data) > 9 && d.data[0] == ContentHandshake {
			f.Add(d.data[5], false, d.data[9:])
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, dtlsMode bool, body []byte) {
		if typ == 255 {
			if hh, err := parseDTLSHandshakeHeader(body); err == nil {
				if hh.fragOff+hh.fragLen > hh.length || 12+hh.fragLen > len(body) {
					t.Fatalf("header accepted out of bounds: %+v (%d bytes)", hh, len(body))
				}
			} else if _, ok := err.(*parseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		for _, kex := range []kexKind{kexECDHE, kexRSA, kexPSK, kexECDHEPSK} {
			err := handshakeBody(typ, body, dtlsMode, kex)
			if err != nil {
				pe, ok := err.(*parseError)
				if !ok || pe.Offset < 0 || pe.Offset > len(body) || pe.Field == "" {
					t.Fatalf("bad error %#v", err)
				}
			}
		}
	})
}
