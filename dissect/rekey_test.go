package dissect

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/capture"
)

// TestParallelSameAsOneRekeyFlood: a capture whose Decryption Secrets
// Block, after packet N, re-keys every client random more often than the
// key store keeps older secrets (wrong secrets, as a hostile or broken
// writer gives): the packets read before the block, still in a worker's
// hands when the block is read, decrypt with the keys they had, as one
// Dissector decrypts them, whatever the number of workers.
func TestParallelSameAsOneRekeyFlood(t *testing.T) {
	keys, err := os.ReadFile("../pcaps/route-flap.keys")
	if err != nil {
		t.Fatal(err)
	}
	var flood bytes.Buffer
	for _, l := range strings.Split(strings.TrimSpace(string(keys)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
			continue
		}
		for i := range 12 {
			fmt.Fprintf(&flood, "CLIENT_RANDOM %s %s\n", f[1], strings.Repeat(fmt.Sprintf("%02x", 0x40+i), 48))
		}
	}
	for _, at := range []int{80, 300, 640} {
		buf := secretsCapture(t, "../pcaps/route-flap.pcap", -1, func(i int) []byte {
			switch i {
			case 0:
				return keys
			case at:
				return flood.Bytes()
			}
			return nil
		})
		run := func(workers int) ([]string, int) {
			rd, err := capture.NewReader(bytes.NewReader(buf))
			if err != nil {
				t.Fatal(err)
			}
			s := &logSink{}
			d := NewWithSink(Config{}, s)
			if err := d.RunSource(rd, RunOptions{Workers: workers}); err != nil {
				t.Fatal(err)
			}
			d.Finish()
			return s.log, d.cfg.Keys.Counts().OlderDropped
		}
		one, dropped := run(1)
		if dropped == 0 {
			t.Fatalf("keys after packet %d: no older secret dropped: the test floods nothing", at)
		}
		for _, j := range []int{2, 4} {
			two, _ := run(j)
			if !slices.Equal(one, two) {
				i := 0
				for i < min(len(one), len(two)) && one[i] == two[i] {
					i++
				}
				t.Errorf("re-keyed after packet %d: -j %d differs from -j 1 at event %d of %d/%d: %q / %q", at, j, i, len(one), len(two),
					one[min(i, len(one)-1)], two[min(i, len(two)-1)])
			}
		}
	}
}

// secretsCapture returns the first n packets of the capture src (n < 0:
// all) as a pcapng, with the Decryption Secrets Block secrets(i) before
// packet i when it is not nil.
func secretsCapture(t *testing.T, src string, n int, secrets func(i int) []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	r, err := capture.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var w *capture.PcapngWriter
	for i := 0; n < 0 || i < n; i++ {
		var p capture.Packet
		if r.Next(&p) != nil {
			break
		}
		if w == nil {
			if w, err = capture.NewPcapngWriter(&buf, p.LinkType); err != nil {
				t.Fatal(err)
			}
		}
		if k := secrets(i); k != nil {
			if err := w.WriteSecrets(k); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
