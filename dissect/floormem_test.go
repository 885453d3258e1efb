package dissect

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/capture"
)

// TestParallelRekeyMemory: 120 Decryption Secrets Blocks each re-keying
// the same 5 000 client randoms, each before a packet: with two workers the
// key store keeps, past each key's window, what the packets in flight may
// still need, and no more than a few blocks' worth, since the reader sends
// a step of new keys at once (a review measured 85 MB of live heap
// against 6 MB with one worker while it waited for 256 steps).
func TestParallelRekeyMemory(t *testing.T) {
	const K, N = 5_000, 120
	buf := secretsCapture(t, "../pcaps/route-flap.pcap", N, func(i int) []byte {
		var b strings.Builder
		for k := range K {
			var cr [32]byte
			cr[0], cr[1], cr[2], cr[3] = byte(k), byte(k>>8), byte(k>>16), 0xab
			fmt.Fprintf(&b, "CLIENT_RANDOM %x %x\n", cr, bytes.Repeat([]byte{byte(i), 3, 3}, 16))
		}
		return []byte(b.String())
	})
	t.Logf("capture %d MB", len(buf)>>20)
	peaks := map[int]uint64{}
	for _, j := range []int{1, 2} {
		rd, err := capture.NewReader(bytes.NewReader(buf))
		if err != nil {
			t.Fatal(err)
		}
		d := NewWithSink(Config{}, &logSink{})
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak uint64
		n := 0
		opt := RunOptions{Workers: j, OnPacket: func(*capture.Packet) {
			n++
			if n%10 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc-base)
			}
		}}
		if err := d.RunSource(rd, opt); err != nil {
			t.Fatal(err)
		}
		d.Finish()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("-j %d: peak live heap %d MB", j, peak>>20)
		peaks[j] = peak
	}
	if peaks[2] > 4*peaks[1]+(8<<20) {
		t.Errorf("re-keys in blocks with a packet between them: -j 2 peak heap %d MB, -j 1 %d MB", peaks[2]>>20, peaks[1]>>20)
	}
}
