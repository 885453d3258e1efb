package tlsdec

import (
	"crypto/tls"
	"testing"

	"github.com/pion/dtls/v2"
)

// benchDTLS records a pion session of 2048 client records of size bytes,
// primes a tracker with its handshake, and measures the decryption of the
// application records (the replay window is reset between passes so the
// same real records can be decrypted again).
func benchDTLS(b *testing.B, suite dtls.CipherSuiteID, size int) {
	sess := runPion(b, pionOpts{suite: suite, msgs: 2048, size: size, oneWay: true})
	tr := NewTracker(keyStoreFrom(b, sess.keylog), Options{})
	var app [][]byte
	for i, d := range sess.dgrams {
		if d.fromClient && d.data[0] == ContentApplicationData {
			app = append(app, d.data)
			continue
		}
		if len(app) == 0 {
			src, dst := cliAddr, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cliAddr
			}
			tr.DTLSDatagram(src, dst, t0, uint64(i+1), d.data, nil)
		}
	}
	s := onlySession(b, tr)
	if s.state.keys != keyReady || len(app) != 2048 {
		b.Fatalf("keys %v, %d records", s.state.keys, len(app))
	}
	got := 0
	emit := func(r *Record) {
		if r.Decrypted && len(r.Plaintext) == size {
			got++
		}
	}
	h := &s.state.half[0]
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(app)
		if j == 0 {
			h.win[1] = replayWindow{}
		}
		tr.DTLSDatagram(cliAddr, srvAddr, t0, uint64(i), app[j], emit)
	}
	b.StopTimer()
	if got != b.N {
		b.Fatalf("decrypted %d of %d records", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDTLSDecryptAES128GCM(b *testing.B) {
	benchDTLS(b, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 200)
}

func BenchmarkDTLSDecryptAES128CCM(b *testing.B) {
	benchDTLS(b, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, 200)
}

func BenchmarkDTLSDecryptAES256CBC(b *testing.B) {
	benchDTLS(b, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, 200)
}

// BenchmarkTLSStreamAES128GCM measures TLS record framing + decryption of
// the client stream of a crypto/tls session (records of 1..400 bytes,
// average ~200) delivered in 1400-byte chunks. The implicit sequence number
// is rewound between passes.
func BenchmarkTLSStreamAES128GCM(b *testing.B) {
	const msgs = 512
	sess := runTLS(b, tlsOpts{suite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, msgs: msgs})
	tr := NewTracker(keyStoreFrom(b, sess.keylog), Options{})
	var stream []byte
	for i, d := range sess.dgrams {
		if d.fromClient && d.data[0] == ContentApplicationData && len(stream) < 1<<20 {
			stream = append(stream, d.data...)
			continue
		}
		if len(stream) == 0 {
			src, dst := cliAddr, srvAddr
			if !d.fromClient {
				src, dst = srvAddr, cliAddr
			}
			tr.TLSData(src, dst, t0, uint64(i+1), d.data, 0, RoleUnknown, nil)
		}
	}
	s := onlySession(b, tr)
	h := &s.state.half[0]
	if s.state.keys != keyReady || !h.seqKnown {
		b.Fatalf("not ready: %v", s.Diagnostics())
	}
	seq0 := h.seq
	records := 0
	emit := func(r *Record) {
		if r.Decrypted {
			records++
		}
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.seq = seq0
		for d := stream; len(d) > 0; {
			n := min(1400, len(d))
			tr.TLSData(cliAddr, srvAddr, t0, uint64(i), d[:n], 0, RoleUnknown, emit)
			d = d[n:]
		}
	}
	b.StopTimer()
	if records != b.N*msgs || s.TotalFailures() != 0 {
		b.Fatalf("decrypted %d of %d; %v", records, b.N*msgs, s.Diagnostics())
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTLSLargeRecordInSegments measures the record layer on 16 KiB
// records (no key: framing and buffering only) arriving in 1 460-byte
// segments, the TCP case where a record ends where a segment does: the
// direction's buffer is kept for the next record (an empty buffer keeps
// room for one whole record) rather than made again for each.
func BenchmarkTLSLargeRecordInSegments(b *testing.B) {
	rec := make([]byte, tlsRecordHeaderLen+16384)
	rec[0], rec[1], rec[2], rec[3], rec[4] = ContentApplicationData, 3, 3, 0x40, 0
	tr := NewTracker(nil, Options{})
	tr.TLSData(cliAddr, srvAddr, t0, 1, rec, 0, RoleClient, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		for off := 0; off < len(rec); off += 1460 {
			tr.TLSData(cliAddr, srvAddr, t0, 2, rec[off:min(off+1460, len(rec))], 0, RoleClient, nil)
		}
	}
}
