package tlsdec

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
)

// TestKeyFloorModel: random re-keys (single adds and multi-line key logs),
// pins, views lagging behind, floor raises: every view at a pinned
// generation L >= floor finds what a store keeping everything finds; the
// count equals a store without a floor.
func TestKeyFloorModel(t *testing.T) {
	for seed := int64(0); seed < 3000; seed++ {
		rng := rand.New(rand.NewSource(seed))
		ks, plain := NewKeyStore(), NewKeyStore()
		type hist struct {
			gen uint64
			sec []byte
		}
		full := map[byte][]hist{}
		var pins []uint64 // pinned generations, in order
		floorIdx := 0     // views only at pins[floorIdx:]
		ks.SetFloor(1)
		pins = append(pins, ks.Pin())
		nkeys := 1 + rng.Intn(3)
		secret := func() []byte { return bytes.Repeat([]byte{byte(rng.Intn(6))}, 48) }
		for step := 0; step < 300; step++ {
			switch r := rng.Intn(10); {
			case r < 3: // AddMasterSecret
				var cr [32]byte
				cr[0] = byte(rng.Intn(nkeys))
				s := secret()
				ks.AddMasterSecret(cr[:], s, "x")
				plain.AddMasterSecret(cr[:], s, "x")
				full[cr[0]] = append(full[cr[0]], hist{ks.Generation(), s})
			case r < 5: // key log of several lines
				var b bytes.Buffer
				var adds []hist
				var crs []byte
				for range 1 + rng.Intn(12) {
					c := byte(rng.Intn(nkeys))
					s := secret()
					var cr [32]byte
					cr[0] = c
					fmt.Fprintf(&b, "CLIENT_RANDOM %x %x\n", cr, s)
					adds = append(adds, hist{0, s})
					crs = append(crs, c)
				}
				ks.LoadDSB(b.Bytes())
				plain.LoadDSB(b.Bytes())
				for i := range adds {
					full[crs[i]] = append(full[crs[i]], hist{ks.Generation(), adds[i].sec})
				}
			case r < 7: // the reader pins
				if g := ks.Generation(); g != pins[len(pins)-1] {
					pins = append(pins, ks.Pin())
				}
			case r < 9: // a view at a pin not yet passed
				i := floorIdx + rng.Intn(len(pins)-floorIdx)
				L := pins[i]
				for c := byte(0); c < byte(nkeys); c++ {
					var cr [32]byte
					cr[0] = c
					var want []byte
					// full history: the newest put with gen <= L; but a
					// same-secret re-put is a no-op in the store: compare secrets only
					for _, h := range full[c] {
						if h.gen <= L {
							want = h.sec
						}
					}
					e, ok := ks.master(&cr, L)
					if want == nil && ok || want != nil && (!ok || !bytes.Equal(e.secret, want)) {
						t.Fatalf("seed %d step %d: view at %d (floor %d) key %d: got %v %x, want %x", seed, step, L, ks.floor, c, ok, e.secret[:1], want)
					}
				}
			default: // the merger passes a pin
				if floorIdx < len(pins)-1 {
					floorIdx += 1 + rng.Intn(len(pins)-1-floorIdx)
					ks.SetFloor(pins[floorIdx])
				}
			}
		}
		if a, b := ks.Counts(), plain.Counts(); a != b {
			t.Fatalf("seed %d: counts %+v vs %+v", seed, a, b)
		}
		ks.SetFloor(0)
		for c := byte(0); c < byte(nkeys); c++ {
			var cr [32]byte
			cr[0] = c
			if n := chainLen(ks, cr); n > 1+maxOlderKeys {
				t.Fatalf("seed %d: chain %d after lifting", seed, n)
			}
		}
		if len(ks.longM) != 0 {
			t.Fatalf("seed %d: longM %d", seed, len(ks.longM))
		}
	}
}
