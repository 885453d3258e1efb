package dissect

import (
	"bytes"
	"github.com/ompscope/ompscope/dissect/internal/race"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/pcaps/synth"
)

// TestMessageDecoderMatchesDecodeMessage: decoding every record of every
// sample into reused values gives exactly what a fresh decode gives (the
// JSON of each message), record after record, so nothing of one record
// leaks into the next.
func TestMessageDecoderMatchesDecodeMessage(t *testing.T) {
	files, _ := filepath.Glob("../pcaps/*.pcapng")
	if len(files) < 14 {
		t.Fatalf("%d samples", len(files))
	}
	var md MessageDecoder
	n := 0
	for _, f := range files {
		_, c, err := runFile(t, f, tlsdec.NewKeyStore(), Config{})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range c.plain {
			want := DecodeMessage(p)
			got := md.Decode(p)
			wj, gj := want.AppendJSONMembers(nil), got.AppendJSONMembers(nil)
			if !bytes.Equal(wj, gj) {
				t.Fatalf("%s record %d: reused decode\n%s\nfresh decode\n%s", f, i, gj, wj)
			}
			n++
		}
	}
	// truncated and garbled records too
	for _, p := range [][]byte{{}, {0x10}, bytes.Repeat([]byte{0xff}, 40)} {
		want, got := DecodeMessage(p), md.Decode(p)
		if !bytes.Equal(want.AppendJSONMembers(nil), got.AppendJSONMembers(nil)) {
			t.Fatalf("%x: reused and fresh decodes differ", p)
		}
	}
	if n < 10000 {
		t.Fatalf("only %d records compared", n)
	}
	t.Logf("%d records", n)
}

// TestReuseMessagesSameOutput: a whole pipeline with ReuseMessages emits
// the same message JSON as one without.
func TestReuseMessagesSameOutput(t *testing.T) {
	f := "../pcaps/route-flap.pcapng"
	var a, b [][]byte
	for _, reuse := range []bool{false, true} {
		r := collectJSON(t, f, reuse)
		if reuse {
			b = r
		} else {
			a = r
		}
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d vs %d events", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("event %d differs", i)
		}
	}
}

func collectJSON(t *testing.T, path string, reuse bool) [][]byte {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	d := New(Config{Keys: tlsdec.NewKeyStore(), ReuseMessages: reuse}, func(e *Event) {
		out = append(out, e.Msg.AppendJSONMembers(nil))
	})
	if err := d.Run(r); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	return out
}

// FuzzMessageDecoder: on any pair of records, the reused decode of the
// second equals its fresh decode (nothing of the first leaks into it), and
// neither panics. Each is then decoded twice more, each time after the
// other: the third decode takes the attribute sections from the cache
// (omp.AttrCache), and must still equal a fresh decode.
func FuzzMessageDecoder(f *testing.F) {
	files, _ := filepath.Glob("../pcaps/route-flap.pcapng")
	for _, p := range files {
		r, err := capture.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		var seeds [][]byte
		d := New(Config{Keys: tlsdec.NewKeyStore()}, func(e *Event) {
			if len(seeds) < 20 {
				seeds = append(seeds, append([]byte(nil), e.Plaintext...))
			}
		})
		d.Run(r)
		r.Close()
		for i := 1; i < len(seeds); i++ {
			f.Add(seeds[i-1], seeds[i])
		}
	}
	f.Add([]byte{}, []byte{0x10, 0x05})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var md MessageDecoder
		md.Decode(a)
		got := md.Decode(b)
		want := DecodeMessage(b)
		if !bytes.Equal(want.AppendJSONMembers(nil), got.AppendJSONMembers(nil)) {
			t.Fatalf("reused decode of %x after %x differs from a fresh one", b, a)
		}
		fa := DecodeMessage(a)
		wantA := fa.AppendJSONMembers(nil)
		for range 2 {
			ga := md.Decode(a)
			if !bytes.Equal(wantA, ga.AppendJSONMembers(nil)) {
				t.Fatalf("decode of %x again after %x differs from a fresh one", a, b)
			}
			gb := md.Decode(b)
			if !bytes.Equal(want.AppendJSONMembers(nil), gb.AppendJSONMembers(nil)) {
				t.Fatalf("decode of %x again after %x differs from a fresh one", b, a)
			}
		}
	})
}

// TestSessionEnds: the illustrated-tls12 session (a capture this project
// did not make) ends with a close_notify from each side and the TCP FIN:
// each reaches OnSessionEnd, with the session.
func TestSessionEnds(t *testing.T) {
	var ends []string
	cfg := Config{ExtraTLSPorts: []uint16{8443}, OnSessionEnd: func(s *tlsdec.Session, tm time.Time, frame uint64, why string) {
		if s == nil || tm.IsZero() || frame == 0 {
			t.Errorf("session end without session, time or frame: %v %v %d", s, tm, frame)
		}
		ends = append(ends, why)
	}}
	_, c, err := runFile(t, "testdata/illustrated-tls12/capture.pcap", keysFrom(t, "testdata/illustrated-tls12/keylog.txt"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.plain) != 2 {
		t.Fatalf("%d records", len(c.plain))
	}
	t.Logf("ends: %q", ends)
	has := func(s string) bool { return slices.Contains(ends, s) }
	if !has("close_notify from the client") && !has("close_notify from the server") {
		t.Errorf("no close_notify reported: %q", ends)
	}
	if !has("TCP FIN") && !has("TCP RST") {
		t.Errorf("no TCP end reported: %q", ends)
	}
}

// TestMessageDecoderAllocatesNothing: once warm, decoding every record of
// a sample again (DATA with UPDATEs of many NLRI and attributes, HELLOs,
// OMP keepalives) allocates nothing per record.
func TestMessageDecoderAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	_, c, err := runFile(t, "../pcaps/route-flap.pcapng", tlsdec.NewKeyStore(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	// the records of steady state: vdaemon HELLOs and DATA carrying OMP
	// UPDATEs and keepalives (HANDSHAKEs, INFORMs and ALERTs come once
	// or twice a session, and are decoded fresh)
	var recs [][]byte
	for _, p := range c.plain {
		m := DecodeMessage(p)
		if m.VDaemon == nil || m.Err != nil {
			continue
		}
		steady := m.VDaemon.Header.Type == vdaemon.TypeHello || m.VDaemon.Header.Type == vdaemon.TypeData
		for _, o := range m.OMP {
			steady = steady && (o.Type() == omp.TypeUpdate || o.Type() == omp.TypeHello)
		}
		if steady {
			recs = append(recs, p)
		}
	}
	if len(recs) < 500 {
		t.Fatalf("%d records", len(recs))
	}
	var md MessageDecoder
	for _, p := range recs {
		md.Decode(p) // warm: the reused values reach their size
	}
	allocs := testing.AllocsPerRun(5, func() {
		for _, p := range recs {
			md.Decode(p)
		}
	})
	if per := allocs / float64(len(recs)); per > 0.01 {
		t.Errorf("%.3f allocations per record (%v per pass of %d records)", per, allocs, len(recs))
	}
}

// TestHotPathAllocatesNothing: the whole pipeline in steady state — frames
// decoded (link, IP, UDP and TCP reassembly), DTLS and TLS records
// decrypted, vdaemon and OMP messages decoded into reused values, output
// off — allocates nothing per record. The capture is the simulator's
// churning fabric (DATA records full of UPDATEs with many NLRI and
// attributes, HELLOs, DTLS and TLS sessions, several suites, IP
// fragments); its first 60 % warm the sessions and buffers up (a reused
// value grows to the largest message of its kind, once), the rest is
// counted.
func TestHotPathAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	dir := t.TempDir()
	if _, _, err := synth.WriteFiles(synth.Options{Scenario: "churn", Seed: 7, Duration: 4 * time.Minute}, dir); err != nil {
		t.Fatal(err)
	}
	r, err := capture.Open(filepath.Join(dir, "churn.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ks := tlsdec.NewKeyStore()
	r.OnSecrets = func(kind uint32, data []byte) { ks.LoadDSB(data) }
	var pkts []capture.Packet
	for {
		var p capture.Packet
		if err := r.Next(&p); err != nil {
			break
		}
		p.Data = slices.Clone(p.Data)
		pkts = append(pkts, p)
	}
	var records, nlri uint64
	d := New(Config{Keys: ks, ReuseMessages: true}, func(e *Event) {
		records++
		for _, o := range e.Msg.OMP {
			if u, ok := o.(*omp.Update); ok {
				nlri += uint64(len(u.Reachable) + len(u.Withdrawn))
			}
		}
	})
	half := len(pkts) * 6 / 10
	for i := range pkts[:half] {
		d.Packet(&pkts[i])
	}
	records, nlri = 0, 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := half; i < len(pkts); i++ {
		d.Packet(&pkts[i])
	}
	runtime.ReadMemStats(&after)
	allocs := after.Mallocs - before.Mallocs
	if records < 4000 || nlri < 40000 {
		t.Fatalf("only %d records, %d NLRI counted", records, nlri)
	}
	// What remains is a reused value growing past the largest message of
	// its kind seen so far (at most log2 of the largest, per value): about
	// one record in a hundred on this capture; anything allocated per
	// record, per NLRI or per packet would count thousands.
	if per := float64(allocs) / float64(records); per > 0.03 {
		t.Errorf("%.3f allocations per record (%d for %d records, %d NLRI)", per, allocs, records, nlri)
	}
	t.Logf("%d allocations for %d records (%d NLRI) of %d packets", allocs, records, nlri, len(pkts)-half)
}
