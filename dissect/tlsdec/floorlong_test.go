package tlsdec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestKeyFloorLongListBounded: while the floor lags (a parallel run's
// merger has not yet passed the reader's last pins), a key whose chain
// keeps entries past its window and is then re-keyed again and again is
// listed once in longM, and the list's array goes once the floor is
// lifted (a review found it listed once per re-key: 100 003 times).
func TestKeyFloorLongListBounded(t *testing.T) {
	var cr [32]byte
	cr[0] = 12
	ks := NewKeyStore()
	ks.SetFloor(ks.Pin())
	for i := range 12 { // 12 blocks, a packet (a pin) after each
		ks.AddMasterSecret(cr[:], bytes.Repeat([]byte{byte(i), 1, 1}, 16), "dsb")
		ks.Pin()
	}
	const n = 100_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "CLIENT_RANDOM %x %x\n", cr, bytes.Repeat([]byte{byte(i), byte(i >> 8), 9}, 16))
	}
	ks.LoadDSB([]byte(b.String()))
	if len(ks.longM) > 1 {
		t.Errorf("one long key listed %d times (cap %d)", len(ks.longM), cap(ks.longM))
	}
	ks.SetFloor(0)
	if cap(ks.longM) > 64 {
		t.Errorf("after the floor was lifted the list keeps an array of %d keys (%d bytes)", cap(ks.longM), cap(ks.longM)*32)
	}
}
