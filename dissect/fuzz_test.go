package dissect

import (
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// FuzzDissector runs arbitrary Ethernet frames through the whole pipeline
// (flow, DTLS/TLS tracking, the plaintext-on-a-controller-port path, the
// codecs), seeded with the first frames of the baseline sample: no input
// panics, every event it emits marshals, no record of a session is emitted
// twice, a TLS stream's records come in order, and the counters add up to
// what was emitted (every decrypted record decodes or is counted as a
// decode error).
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
		type dirKey struct {
			s   *tlsdec.Session
			dir tlsdec.Direction
		}
		type recKey struct {
			k     dirKey
			epoch uint16
			seq   uint64
		}
		var app, plain, decodeErrs int
		seen := map[recKey]bool{}
		last := map[dirKey]uint64{}
		d := New(Config{}, func(e *Event) {
			_ = e.AppendJSON(nil, true)
			_ = e.TextLine()
			if e.Session == nil {
				plain++
				return
			}
			app++
			if e.Msg.Err != nil {
				decodeErrs++
			}
			k := dirKey{e.Session, e.Dir}
			rk := recKey{k, e.Epoch, e.Seq}
			if seen[rk] {
				t.Fatalf("record epoch %d seq %d of a session emitted twice", e.Epoch, e.Seq)
			}
			seen[rk] = true
			if e.Transport == "tls" {
				// a TLS stream's records come in order
				if prev, ok := last[k]; ok && e.Seq <= prev && e.Epoch == 1 {
					t.Fatalf("TLS record seq %d after %d", e.Seq, prev)
				}
				if e.Epoch == 1 {
					last[k] = e.Seq
				}
			}
		})
		for i := 0; i < 3; i++ { // a few times: as retransmissions and duplicates would
			d.Packet(&capture.Packet{Data: frame, LinkType: layers.LinkTypeEthernet, Frame: uint64(i + 1),
				Time: time.Unix(1700000000+int64(i), 0)})
		}
		d.Finish()
		// every decrypted record is emitted, decoded or counted as a
		// decode error; the totals add up
		c := d.Counters
		if uint64(app) != c.AppRecords || uint64(plain) != c.PlainMessages || uint64(decodeErrs) != c.DecodeErrors {
			t.Fatalf("events: %d records (%d with decode errors), %d in the clear; counters: %d, %d, %d",
				app, decodeErrs, plain, c.AppRecords, c.DecodeErrors, c.PlainMessages)
		}
	})
}
