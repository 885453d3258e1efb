package dissect

import (
	"bytes"
	"os"
	"testing"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// BenchmarkPipeline runs a whole sample (read, flows, DTLS/TLS decryption
// with the file's own keys, vdaemon/OMP decode into reused values) from
// memory, as `dissect -q` does: records per second and allocations per
// record, setup (handshakes, sessions) included.
func BenchmarkPipeline(b *testing.B) {
	data, err := os.ReadFile("../pcaps/route-flap.pcapng")
	if err != nil {
		b.Fatal(err)
	}
	var records int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := capture.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		s := &recSink{}
		d := NewWithSink(Config{Keys: tlsdec.NewKeyStore(), ReuseMessages: true}, s)
		if err := d.RunSource(r, RunOptions{}); err != nil {
			b.Fatal(err)
		}
		d.Finish()
		records = s.records
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records), "records/op")
}

// BenchmarkJSONWriter writes the NDJSON of every record of a sample (OMP
// UPDATEs with their NLRI and attributes, HELLOs, handshakes: what
// `dissect -T json` prints), decoded beforehand, to a discarding writer:
// the writer's own speed in bytes of output per second.
func BenchmarkJSONWriter(b *testing.B) {
	r, err := capture.Open("../pcaps/route-flap.pcapng")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var evs []Event
	d := New(Config{Keys: tlsdec.NewKeyStore()}, func(e *Event) {
		c := *e
		c.Plaintext = bytes.Clone(e.Plaintext)
		evs = append(evs, c)
	})
	if err := d.Run(r); err != nil {
		b.Fatal(err)
	}
	d.Finish()
	var out countWriter
	jw := NewJSONWriter(&out, false)
	for i := range evs {
		jw.Write(&evs[i])
	}
	b.SetBytes(int64(out.n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range evs {
			if err := jw.Write(&evs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(evs)), "records/op")
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
