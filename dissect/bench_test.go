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
