package tlsdec

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/pion/dtls/v2/pkg/crypto/prf"
)

// The key schedule: finding a session's master secret (key log, PSK, RSA
// key) and deriving the per-direction record keys (cipher.go holds them).

// keyStatus says where a session stands with its keys.
type keyStatus uint8

const (
	keyUnknown keyStatus = iota // not tried yet, or handshake incomplete
	keyReady
	keyWaiting // no key in the store (generation keyGen); retried when it changes
	keyFinal   // cannot ever decrypt (unsupported suite / version / feature)
)

// ensureKeys makes the record keys of the session ready if it can. It
// returns false with the reason (and description) when it cannot.
func (t *Tracker) ensureKeys(s *Session) (bool, Reason, string) {
	st := s.state
	switch st.keys {
	case keyReady:
		return true, 0, ""
	case keyFinal:
		return false, st.keyReason, st.keyMsg
	case keyWaiting:
		if st.keyGen == t.keyGeneration() && !st.hsChanged {
			return false, ReasonNoKey, st.keyMsg
		}
	}
	st.hsChanged = false
	final := func(r Reason, format string, args ...any) (bool, Reason, string) {
		st.keys, st.keyReason, st.keyMsg = keyFinal, r, fmt.Sprintf(format, args...)
		return false, r, st.keyMsg
	}
	if !st.chSeen || !st.shSeen {
		what := "ServerHello"
		if !st.chSeen {
			what = "ClientHello"
		}
		if !st.chSeen && !st.shSeen {
			what = "ClientHello and ServerHello"
		}
		return false, ReasonNoHandshake, fmt.Sprintf("%s not captured (capture started mid-session?)", what)
	}
	want := uint16(0x0303)
	if st.dtls {
		want = 0xfefd
	}
	if s.Version != want {
		return final(ReasonUnsupportedVersion, "negotiated version %s: only %s is decrypted", VersionName(s.Version), VersionName(want))
	}
	si := suiteTable[s.CipherSuite]
	if si == nil || si.cipher == cipherNoSupp {
		return final(ReasonUnsupportedSuite, "cipher suite %s (0x%04X) cannot be decrypted", SuiteName(s.CipherSuite), s.CipherSuite)
	}
	if st.sh.compression != 0 {
		return final(ReasonUnsupportedFeature, "record compression method %d is not supported", st.sh.compression)
	}
	if st.dtls && st.ch.cid && st.sh.cid {
		return final(ReasonUnsupportedFeature, "DTLS connection IDs (RFC 9146) are not supported")
	}
	st.suite = si
	gen := t.keyGeneration()
	master, source, msg := t.findMaster(s, si)
	if master == nil {
		st.keys, st.keyGen, st.keyReason, st.keyMsg = keyWaiting, gen, ReasonNoKey, msg
		return false, ReasonNoKey, msg
	}
	macLen, keyLen, ivLen := si.macLen(), si.keyLen, si.fixedIVLen()
	var kb *prf.EncryptionKeys
	err := callPion("prf.GenerateEncryptionKeys", func() error {
		var e error
		kb, e = prf.GenerateEncryptionKeys(master, s.ClientRandom[:], s.ServerRandom[:], macLen, keyLen, ivLen, si.prf)
		return e
	})
	if err == nil {
		err = st.half[0].setup(si, kb.ClientWriteKey, kb.ClientMACKey, kb.ClientWriteIV, s.EncryptThenMAC)
	}
	if err == nil {
		err = st.half[1].setup(si, kb.ServerWriteKey, kb.ServerMACKey, kb.ServerWriteIV, s.EncryptThenMAC)
	}
	if err != nil {
		return final(ReasonUnsupportedSuite, "cipher suite %s: key setup failed: %v", si.name, err)
	}
	st.master = master
	st.keys = keyReady
	s.KeySource = source
	return true, 0, ""
}

// findMaster finds the master secret: from a key log by client random, or
// from a PSK / RSA key and the captured handshake.
func (t *Tracker) findMaster(s *Session, si *suiteInfo) (master []byte, source, msg string) {
	st := s.state
	if e, ok := t.keys.master(&s.ClientRandom, t.keyLimit); ok {
		return e.secret, e.source, ""
	}
	noLog := "no key log line CLIENT_RANDOM " + hex.EncodeToString(s.ClientRandom[:])
	var cke clientKeyExchange
	if si.kex == kexPSK || si.kex == kexRSA {
		raw := st.slots[slotCKE]
		if raw == nil {
			return nil, "", noLog + "; ClientKeyExchange not captured"
		}
		hl := 4
		if st.dtls {
			hl = dtlsHSHeaderLen
		}
		var err error
		if cke, err = parseClientKeyExchange(raw[hl:], si.kex); err != nil {
			return nil, "", noLog + "; " + err.Error()
		}
	}
	var pms []byte
	switch si.kex {
	case kexPSK:
		s.PSKIdentity = string(cke.pskIdentity)
		e, ok := t.keys.psk(s.PSKIdentity, t.keyLimit)
		if !ok {
			return nil, "", fmt.Sprintf("%s and no PSK for identity %q", noLog, s.PSKIdentity)
		}
		pms = prf.PSKPreMasterSecret(e.secret)
		source = e.source
	case kexRSA:
		pms = t.rsaPremaster(s, cke.encPMS)
		if pms == nil {
			return nil, "", noLog + " and no RSA private key decrypts the premaster secret"
		}
		source = "rsa"
	case kexECDHEPSK:
		return nil, "", noLog + " (ECDHE_PSK: a PSK alone cannot decrypt, the key log is needed)"
	default:
		return nil, "", noLog + " ((EC)DHE key exchange: only a key log can decrypt)"
	}
	err := callPion("prf.MasterSecret", func() error {
		var e error
		if s.ExtendedMasterSecret {
			hash := st.transcriptHash(si.prf, slotCH, slotSH, slotSCert, slotCertStatus, slotSKE, slotCR, slotSHD, slotCCert, slotCKE)
			master, e = prf.ExtendedMasterSecret(pms, hash, si.prf)
		} else {
			master, e = prf.MasterSecret(pms, s.ClientRandom[:], s.ServerRandom[:], si.prf)
		}
		return e
	})
	if err != nil {
		return nil, "", fmt.Sprintf("master secret derivation failed: %v", err)
	}
	return master, source, ""
}

// rsaPremaster decrypts an RSA-encrypted premaster secret with the key
// matching the server certificate, or with each stored key in turn.
func (t *Tracker) rsaPremaster(s *Session, enc []byte) []byte {
	st := s.state
	keys := t.keys.rsaKeys(t.keyLimit)
	var certKey *rsa.PublicKey
	if raw := st.slots[slotSCert]; raw != nil {
		hl := 4
		if st.dtls {
			hl = dtlsHSHeaderLen
		}
		if der, err := parseFirstCertificate(raw[hl:]); err == nil {
			if c, err := x509.ParseCertificate(der); err == nil {
				certKey, _ = c.PublicKey.(*rsa.PublicKey)
			}
		}
	}
	for _, k := range keys {
		if certKey != nil && !certKey.Equal(&k.key.PublicKey) {
			continue
		}
		pms, err := rsa.DecryptPKCS1v15(nil, k.key, enc)
		if err == nil && len(pms) == 48 {
			return pms
		}
	}
	return nil
}
