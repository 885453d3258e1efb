package synth

import (
	"io"
	"os"
	"strconv"
	"testing"
)

// BenchmarkScale is the scale benchmark of docs/performance.md: 2 000
// edges and 1 000 000 route paths (SYNTH_EDGES / SYNTH_ROUTES change it),
// written to io.Discard. Run it with
//
//	go test ./pcaps/synth -run XXX -bench Scale -benchtime 1x
func BenchmarkScale(b *testing.B) {
	edges, routes := 2000, 1000000
	if v, err := strconv.Atoi(os.Getenv("SYNTH_EDGES")); err == nil {
		edges = v
	}
	if v, err := strconv.Atoi(os.Getenv("SYNTH_ROUTES")); err == nil {
		routes = v
	}
	for i := 0; i < b.N; i++ {
		m, st, err := Run(Options{Scenario: "scale", Seed: 1, Edges: edges, Routes: routes},
			Writers{PcapNG: io.Discard, Pcap: io.Discard, Keys: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Frames), "frames")
		b.ReportMetric(float64(m.Records), "records")
		b.ReportMetric(st.HandshakeTime.Seconds(), "handshake-s")
	}
}
