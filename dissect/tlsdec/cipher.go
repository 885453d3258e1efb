package tlsdec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// maxCiphertext is the largest record body accepted (RFC 5246: 2^14+2048).
const maxCiphertext = 16384 + 2048

// cbcMode is a CBC decrypter whose IV can be reset per record, as in
// crypto/tls.
type cbcMode interface {
	cipher.BlockMode
	SetIV([]byte)
}

// halfConn is the record protection state of one direction, like
// crypto/tls's halfConn: keys, reused buffers, replay window.
type halfConn struct {
	suite   *suiteInfo
	ready   bool
	aead    cipher.AEAD
	tagLen  int
	cbc     cbcMode
	bs      int
	mac     hash.Hash // keyed HMAC, Reset per record
	macLen  int
	etm     bool
	fixedIV [12]byte

	nonce  [12]byte // AEAD nonce scratch
	ad     [13]byte // additional data / MAC header scratch
	macSum [64]byte

	// DTLS duplicate detection, per epoch 0 and the current key epoch.
	win [2]replayWindow

	// TLS stream state.
	stream     []byte // bytes of an incomplete record
	hsBuf      []byte // handshake bytes of an incomplete message
	encrypting bool   // ChangeCipherSpec seen from this side
	seq        uint64 // next implicit sequence number
	seqKnown   bool
	resync     bool // bytes were lost: look for the next record header
	lostBytes  int  // bytes lost since the last authenticated record
}

var errAuth = errors.New("authentication failed")

// setup derives the cipher state of one direction from key-block parts.
func (h *halfConn) setup(s *suiteInfo, key, macKey, iv []byte, etm bool) error {
	h.suite = s
	h.etm = etm && (s.cipher == cipherCBC || s.cipher == cipher3DES)
	switch s.cipher {
	case cipherGCM, cipherCCM, cipherCCM8:
		block, err := aes.NewCipher(key)
		if err != nil {
			return err
		}
		switch s.cipher {
		case cipherGCM:
			h.aead, err = cipher.NewGCM(block)
		case cipherCCM:
			h.aead = &ccmOpener{b: block, tag: 16}
		default:
			h.aead = &ccmOpener{b: block, tag: 8}
		}
		if err != nil {
			return err
		}
		copy(h.fixedIV[:4], iv)
	case cipherChaCha:
		a, err := chacha20poly1305.New(key)
		if err != nil {
			return err
		}
		h.aead = a
		copy(h.fixedIV[:], iv)
	case cipherCBC, cipher3DES:
		var block cipher.Block
		var err error
		if s.cipher == cipherCBC {
			block, err = aes.NewCipher(key)
		} else {
			block, err = des.NewTripleDESCipher(key)
		}
		if err != nil {
			return err
		}
		h.bs = block.BlockSize()
		zero := make([]byte, h.bs)
		m, ok := cipher.NewCBCDecrypter(block, zero).(cbcMode)
		if !ok {
			return errors.New("CBC decrypter cannot reset its IV")
		}
		h.cbc = m
	case cipherNull, cipherNoMAC:
	default:
		return fmt.Errorf("suite %s is not supported", s.name)
	}
	if h.aead != nil {
		h.tagLen = h.aead.Overhead()
	}
	if s.mac != nil && len(macKey) > 0 {
		h.mac = hmac.New(s.mac, macKey)
		h.macLen = h.mac.Size()
	}
	h.ready = true
	return nil
}

// callPion runs f, turning a panic inside pion code into an error.
func callPion(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in pion %s: %v", what, r)
		}
	}()
	return f()
}

// open authenticates and decrypts one record body into buf (capacity at
// least maxCiphertext, not overlapping body). seq64 is the 64-bit sequence
// number of the MAC / AEAD input (DTLS: epoch<<48 | seq). A nil error means
// authenticated. On failure, malformed says whether the record could not
// even be framed.
func (h *halfConn) open(buf []byte, typ uint8, ver uint16, seq64 uint64, body []byte) (pt []byte, malformed bool, err error) {
	if len(body) > maxCiphertext {
		return nil, true, fmt.Errorf("record of %d bytes exceeds %d", len(body), maxCiphertext)
	}
	s := h.suite
	switch s.cipher {
	case cipherGCM, cipherCCM, cipherCCM8:
		if len(body) < 8+h.tagLen {
			return nil, true, fmt.Errorf("record of %d bytes is shorter than explicit nonce (8) + tag (%d)", len(body), h.tagLen)
		}
		copy(h.nonce[:4], h.fixedIV[:4])
		copy(h.nonce[4:], body[:8])
		ct := body[8:]
		h.additionalData(seq64, typ, ver, len(ct)-h.tagLen)
		pt, err = h.aead.Open(buf[:0], h.nonce[:], ct, h.ad[:])
		if err != nil {
			return nil, false, errAuth
		}
		return pt, false, nil
	case cipherChaCha:
		if len(body) < h.tagLen {
			return nil, true, fmt.Errorf("record of %d bytes is shorter than the tag (%d)", len(body), h.tagLen)
		}
		h.nonce = h.fixedIV
		var sb [8]byte
		binary.BigEndian.PutUint64(sb[:], seq64)
		subtle.XORBytes(h.nonce[4:], h.nonce[4:], sb[:])
		h.additionalData(seq64, typ, ver, len(body)-h.tagLen)
		pt, err = h.aead.Open(buf[:0], h.nonce[:], body, h.ad[:])
		if err != nil {
			return nil, false, errAuth
		}
		return pt, false, nil
	case cipherCBC, cipher3DES:
		if h.etm {
			return h.openEtM(buf, typ, ver, seq64, body)
		}
		return h.openCBC(buf, typ, ver, seq64, body)
	case cipherNull:
		if len(body) < h.macLen {
			return nil, true, fmt.Errorf("record of %d bytes is shorter than the MAC (%d)", len(body), h.macLen)
		}
		n := len(body) - h.macLen
		if !h.checkMAC(seq64, typ, ver, body[:n], body[n:]) {
			return nil, false, errAuth
		}
		return append(buf[:0], body[:n]...), false, nil
	case cipherNoMAC:
		return append(buf[:0], body...), false, nil
	}
	return nil, false, fmt.Errorf("suite %s is not supported", s.name)
}

// additionalData fills h.ad: seq_num(8) type(1) version(2) length(2).
func (h *halfConn) additionalData(seq64 uint64, typ uint8, ver uint16, n int) {
	binary.BigEndian.PutUint64(h.ad[:8], seq64)
	h.ad[8] = typ
	binary.BigEndian.PutUint16(h.ad[9:11], ver)
	binary.BigEndian.PutUint16(h.ad[11:13], uint16(n))
}

// checkMAC verifies the TLS 1.2 record MAC of data.
func (h *halfConn) checkMAC(seq64 uint64, typ uint8, ver uint16, data, mac []byte) bool {
	if h.mac == nil {
		return len(mac) == 0
	}
	h.additionalData(seq64, typ, ver, len(data))
	h.mac.Reset()
	h.mac.Write(h.ad[:])
	h.mac.Write(data)
	sum := h.mac.Sum(h.macSum[:0])
	return hmac.Equal(sum, mac)
}

// openCBC: MAC-then-encrypt with explicit per-record IV (TLS 1.1+).
func (h *halfConn) openCBC(buf []byte, typ uint8, ver uint16, seq64 uint64, body []byte) ([]byte, bool, error) {
	bs := h.bs
	minLen := bs + max(h.macLen+1, bs)
	if len(body)%bs != 0 || len(body) < minLen {
		return nil, true, fmt.Errorf("CBC record of %d bytes: want a multiple of %d, at least %d", len(body), bs, minLen)
	}
	ct := body[bs:]
	out := buf[:len(ct)]
	h.cbc.SetIV(body[:bs])
	h.cbc.CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad+1+h.macLen > len(out) {
		return nil, false, errAuth
	}
	for _, b := range out[len(out)-1-pad : len(out)-1] {
		if int(b) != pad {
			return nil, false, errAuth
		}
	}
	n := len(out) - 1 - pad - h.macLen
	if !h.checkMAC(seq64, typ, ver, out[:n], out[n:n+h.macLen]) {
		return nil, false, errAuth
	}
	return out[:n], false, nil
}

// openEtM: encrypt-then-MAC (RFC 7366): MAC over IV+ciphertext, then CBC.
func (h *halfConn) openEtM(buf []byte, typ uint8, ver uint16, seq64 uint64, body []byte) ([]byte, bool, error) {
	bs := h.bs
	n := len(body) - h.macLen
	if n < 2*bs || n%bs != 0 {
		return nil, true, fmt.Errorf("encrypt-then-MAC record of %d bytes: want IV + n*%d + MAC(%d)", len(body), bs, h.macLen)
	}
	if !h.checkMAC(seq64, typ, ver, body[:n], body[n:]) {
		return nil, false, errAuth
	}
	ct := body[bs:n]
	out := buf[:len(ct)]
	h.cbc.SetIV(body[:bs])
	h.cbc.CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad+1 > len(out) {
		return nil, false, errAuth
	}
	for _, b := range out[len(out)-1-pad : len(out)-1] {
		if int(b) != pad {
			return nil, false, errAuth
		}
	}
	return out[:len(out)-1-pad], false, nil
}

// replayWindow remembers which DTLS sequence numbers of one epoch were
// seen (a 1024-record sliding window, as in RFC 6347 section 4.1.2.6).
type replayWindow struct {
	top  uint64 // highest sequence number seen + 1 (0: none yet)
	bits [16]uint64
}

const windowSize = 16 * 64

// seen reports whether seq was already accepted. Sequence numbers older
// than the window are reported as not seen (they cannot be judged).
func (w *replayWindow) seen(seq uint64) bool {
	if seq >= w.top || w.top-seq > windowSize {
		return false
	}
	i := seq % windowSize
	return w.bits[i/64]&(1<<(i%64)) != 0
}

// mark records seq as accepted.
func (w *replayWindow) mark(seq uint64) {
	if seq >= w.top {
		// Slide: clear the bits of the numbers that enter the window.
		if seq-w.top >= windowSize {
			w.bits = [16]uint64{}
		} else {
			for s := w.top; s <= seq; s++ {
				i := s % windowSize
				w.bits[i/64] &^= 1 << (i % 64)
			}
		}
		w.top = seq + 1
	} else if w.top-seq > windowSize {
		return
	}
	i := seq % windowSize
	w.bits[i/64] |= 1 << (i % 64)
}
