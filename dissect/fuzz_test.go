package dissect

import (
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
)

// FuzzDissector runs arbitrary Ethernet frames through the whole pipeline
// (flow, DTLS/TLS tracking, the plaintext-on-a-controller-port path, the
// codecs), seeded with the first frames of the baseline sample: no input
// panics, and every event it emits marshals.
func FuzzDissector(f *testing.F) {
	if r, err := capture.Open("../pcaps/baseline.pcap"); err == nil {
		var p capture.Packet
		for i := 0; i < 40; i++ {
			if r.Next(&p) == io.EOF {
				break
			}
			f.Add(append([]byte(nil), p.Data...))
		}
		r.Close()
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := New(Config{}, func(e *Event) {
			_ = e.AppendJSON(nil, true)
			_ = e.TextLine()
		})
		for i := 0; i < 3; i++ { // a few times: as retransmissions and duplicates would
			d.Packet(&capture.Packet{Data: frame, LinkType: layers.LinkTypeEthernet, Frame: uint64(i + 1),
				Time: time.Unix(1700000000+int64(i), 0)})
		}
		d.Finish()
	})
}
