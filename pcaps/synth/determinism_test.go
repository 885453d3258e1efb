package synth

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"
)

func runPlain(t *testing.T, o Options) ([]byte, []RecordLog) {
	t.Helper()
	var logs []RecordLog
	m, _, err := Run(o, Writers{PcapNG: io.Discard, Pcap: io.Discard, Keys: io.Discard, OnRecord: func(r RecordLog) { logs = append(logs, r) }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, logs
}

// TestDeterminism: the same seed and options give the same decrypted
// message sequence and a byte-identical manifest; another seed does not.
func TestDeterminism(t *testing.T) {
	for _, sc := range []string{"edge-reboot-gr", "alert-teardown", "baseline"} {
		o := Options{Scenario: sc, Seed: 11, Edges: 4, TLSFraction: 0.3, Impair: 0.05}
		m1, l1 := runPlain(t, o)
		m2, l2 := runPlain(t, o)
		if !bytes.Equal(m1, m2) {
			t.Errorf("%s: two runs with seed 11 give different manifests", sc)
		}
		if len(l1) != len(l2) || len(l1) == 0 {
			t.Fatalf("%s: %d and %d records", sc, len(l1), len(l2))
		}
		for i := range l1 {
			a, b := l1[i], l2[i]
			if a.Session != b.Session || a.FromClient != b.FromClient || a.Dup != b.Dup || !bytes.Equal(a.Plain, b.Plain) {
				t.Fatalf("%s: record %d differs: session %d/%d, %x / %x", sc, i, a.Session, b.Session, a.Plain, b.Plain)
			}
		}
		o.Seed = 12
		m3, _ := runPlain(t, o)
		if bytes.Equal(m1, m3) {
			t.Errorf("%s: seeds 11 and 12 give the same manifest", sc)
		}
	}
}

// TestNoLeak: a run closes every DTLS and TLS connection it opened (pion
// runs goroutines per connection).
func TestNoLeak(t *testing.T) {
	if _, err := getCerts(); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	if _, _, err := Run(Options{Scenario: "alert-teardown", Seed: 2, Edges: 3}, Writers{Pcap: io.Discard}); err != nil {
		t.Fatal(err)
	}
	var after int
	for i := 0; i < 50; i++ {
		if after = runtime.NumGoroutine(); after <= before+2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	n := runtime.Stack(buf, true)
	t.Fatalf("%d goroutines before the run, %d after:\n%.3000s", before, after, buf[:n])
}
