package tlsdec

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// ccmOpener decrypts AES-CCM records (RFC 3610 with the TLS parameters of
// RFC 6655: 12-byte nonce, so L = 3; tag of 16 or 8 bytes) into the
// caller's buffer without allocating. It implements cipher.AEAD's Open
// only; Seal is provided for tests that cross-check it against pion's CCM.
// Its scratch blocks live in the struct (slices of stack arrays passed to
// cipher.Block would escape), so it is not safe for concurrent use.
type ccmOpener struct {
	b   cipher.Block
	tag int
	// scratch: MAC state, counter block, key stream block, data block
	t, a, s, blk [16]byte
}

const ccmL = 3 // 15 - 12-byte nonce

var errCCMOpen = errors.New("ccm: message authentication failed")

func (c *ccmOpener) NonceSize() int { return 12 }
func (c *ccmOpener) Overhead() int  { return c.tag }

// ctrBlock fills a with the counter block A_i.
func ccmCounter(a *[16]byte, nonce []byte, i int) {
	a[0] = ccmL - 1
	copy(a[1:13], nonce)
	a[13], a[14], a[15] = byte(i>>16), byte(i>>8), byte(i)
}

// mac computes the CBC-MAC T into c.t over B_0, the additional data and
// the plaintext.
func (c *ccmOpener) mac(nonce, ad, pt []byte) {
	t := c.t[:]
	t[0] = byte((c.tag-2)/2)<<3 | (ccmL - 1)
	if len(ad) > 0 {
		t[0] |= 1 << 6
	}
	copy(t[1:13], nonce)
	n := len(pt)
	t[13], t[14], t[15] = byte(n>>16), byte(n>>8), byte(n)
	c.b.Encrypt(t, t)
	if len(ad) > 0 {
		// len(ad) < 0xff00: 2-byte length prefix, then the data.
		c.blk = [16]byte{byte(len(ad) >> 8), byte(len(ad))}
		k := copy(c.blk[2:], ad)
		ad = ad[k:]
		subtle.XORBytes(t, t, c.blk[:])
		c.b.Encrypt(t, t)
		c.xorBlocks(ad)
	}
	c.xorBlocks(pt)
}

// xorBlocks runs the CBC-MAC over data, zero-padded to whole blocks.
func (c *ccmOpener) xorBlocks(data []byte) {
	t := c.t[:]
	for len(data) >= 16 {
		subtle.XORBytes(t, t, data[:16])
		c.b.Encrypt(t, t)
		data = data[16:]
	}
	if len(data) > 0 {
		c.blk = [16]byte{}
		copy(c.blk[:], data)
		subtle.XORBytes(t, t, c.blk[:])
		c.b.Encrypt(t, t)
	}
}

// ctr XORs src with the key stream starting at counter block A_1.
func (c *ccmOpener) ctr(dst, src, nonce []byte) {
	for i := 1; len(src) > 0; i++ {
		ccmCounter(&c.a, nonce, i)
		c.b.Encrypt(c.s[:], c.a[:])
		k := subtle.XORBytes(dst, src, c.s[:])
		dst, src = dst[k:], src[k:]
	}
}

// tagMask XORs the first tag bytes of c.t with S_0.
func (c *ccmOpener) tagMask(nonce []byte) {
	ccmCounter(&c.a, nonce, 0)
	c.b.Encrypt(c.s[:], c.a[:])
	subtle.XORBytes(c.t[:c.tag], c.t[:c.tag], c.s[:c.tag])
}

// Open decrypts and authenticates ciphertext||tag, appending the plaintext
// to dst (which must not overlap ciphertext).
func (c *ccmOpener) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	if len(nonce) != 12 || len(ciphertext) < c.tag || len(ciphertext)-c.tag >= 1<<24 || len(ad) >= 0xff00 {
		return nil, errCCMOpen
	}
	n := len(ciphertext) - c.tag
	ret, out := sliceForAppend(dst, n)
	c.ctr(out, ciphertext[:n], nonce)
	c.mac(nonce, ad, out)
	c.tagMask(nonce)
	if subtle.ConstantTimeCompare(c.t[:c.tag], ciphertext[n:]) != 1 {
		clear(out)
		return nil, errCCMOpen
	}
	return ret, nil
}

// Seal encrypts and authenticates plaintext (used by tests).
func (c *ccmOpener) Seal(dst, nonce, plaintext, ad []byte) []byte {
	c.mac(nonce, ad, plaintext)
	c.tagMask(nonce)
	ret, out := sliceForAppend(dst, len(plaintext)+c.tag)
	c.ctr(out, plaintext, nonce)
	copy(out[len(plaintext):], c.t[:c.tag])
	return ret
}

func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
