package tlsdec

import (
	"bytes"
	"crypto/aes"
	"math/rand/v2"
	"testing"

	"github.com/pion/dtls/v2/pkg/crypto/ccm"
)

// TestCCMAgainstPion cross-checks the allocation-free CCM opener with
// pion's CCM implementation, both ways, for both tag sizes and many
// lengths; and checks that any flipped bit fails authentication.
func TestCCMAgainstPion(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := make([]byte, 16)
	for _, keyLen := range []int{16, 32} {
		key = key[:0]
		for i := 0; i < keyLen; i++ {
			key = append(key, byte(rng.IntN(256)))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range []int{8, 16} {
			ref, err := ccm.NewCCM(block, tag, 12)
			if err != nil {
				t.Fatal(err)
			}
			mine := &ccmOpener{b: block, tag: tag}
			for n := 0; n < 300; n += 1 + n/7 {
				nonce := make([]byte, 12)
				pt := make([]byte, n)
				ad := make([]byte, 13)
				for _, b := range [][]byte{nonce, pt, ad} {
					for i := range b {
						b[i] = byte(rng.IntN(256))
					}
				}
				ct := ref.Seal(nil, nonce, pt, ad)
				if got := mine.Seal(nil, nonce, pt, ad); !bytes.Equal(got, ct) {
					t.Fatalf("key %d tag %d len %d: Seal differs from pion", keyLen, tag, n)
				}
				out, err := mine.Open(make([]byte, 0, 400), nonce, ct, ad)
				if err != nil || !bytes.Equal(out, pt) {
					t.Fatalf("key %d tag %d len %d: Open: %v", keyLen, tag, n, err)
				}
				bad := bytes.Clone(ct)
				bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
				if _, err := mine.Open(nil, nonce, bad, ad); err == nil {
					t.Fatalf("len %d: tampered ciphertext accepted", n)
				}
				ad[0] ^= 1
				if _, err := mine.Open(nil, nonce, ct, ad); err == nil {
					t.Fatalf("len %d: tampered additional data accepted", n)
				}
			}
		}
	}
	if _, err := (&ccmOpener{tag: 16}).Open(nil, make([]byte, 12), make([]byte, 3), nil); err == nil {
		t.Fatal("short ciphertext accepted")
	}
}
