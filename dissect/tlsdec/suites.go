package tlsdec

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"hash"
)

// kexKind is how a suite's premaster secret is agreed. It decides which
// user-supplied key material can recover the master secret.
type kexKind uint8

const (
	kexECDHE    kexKind = iota + 1 // (EC)DHE: only a key log helps
	kexRSA                         // static RSA: key log or server RSA key
	kexPSK                         // plain PSK: key log or PSK
	kexECDHEPSK                    // ECDHE_PSK: only a key log helps
)

// cipherKind is the bulk record protection of a suite.
type cipherKind uint8

const (
	cipherGCM cipherKind = iota + 1
	cipherCCM
	cipherCCM8
	cipherChaCha
	cipherCBC    // AES-CBC
	cipher3DES   // 3DES-EDE-CBC
	cipherNull   // no encryption, MAC only
	cipherNoMAC  // TLS_NULL_WITH_NULL_NULL: neither
	cipherNoSupp // named, recognised, but not decryptable here (RC4, ...)
)

// suiteInfo is one row of the cipher-suite table (like crypto/tls's
// cipherSuites): everything needed to derive keys and open records.
type suiteInfo struct {
	id     uint16
	name   string
	kex    kexKind
	cipher cipherKind
	keyLen int              // bulk key length
	mac    func() hash.Hash // CBC / NULL record MAC; nil for AEAD
	prf    func() hash.Hash // TLS 1.2 PRF hash (SHA-256 or SHA-384)
}

// macLen is the record MAC length (0 for AEAD suites).
func (s *suiteInfo) macLen() int {
	switch s.cipher {
	case cipherCBC, cipher3DES, cipherNull:
		return s.mac().Size()
	}
	return 0
}

// fixedIVLen is the length of the implicit IV taken from the key block.
func (s *suiteInfo) fixedIVLen() int {
	switch s.cipher {
	case cipherGCM, cipherCCM, cipherCCM8:
		return 4
	case cipherChaCha:
		return 12
	}
	return 0
}

func (s *suiteInfo) isPSK() bool { return s.kex == kexPSK || s.kex == kexECDHEPSK }

var suiteTable = map[uint16]*suiteInfo{}

func addSuite(id uint16, name string, kex kexKind, c cipherKind, keyLen int, mac, prf func() hash.Hash) {
	if prf == nil {
		prf = sha256.New
	}
	suiteTable[id] = &suiteInfo{id: id, name: name, kex: kex, cipher: c, keyLen: keyLen, mac: mac, prf: prf}
}

func init() {
	s256, s384 := sha256.New, sha512.New384
	// AES-GCM
	addSuite(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", kexRSA, cipherGCM, 16, nil, s256)
	addSuite(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", kexRSA, cipherGCM, 32, nil, s384)
	addSuite(0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kexECDHE, cipherGCM, 16, nil, s256)
	addSuite(0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", kexECDHE, cipherGCM, 32, nil, s384)
	addSuite(0x00a8, "TLS_PSK_WITH_AES_128_GCM_SHA256", kexPSK, cipherGCM, 16, nil, s256)
	addSuite(0x00a9, "TLS_PSK_WITH_AES_256_GCM_SHA384", kexPSK, cipherGCM, 32, nil, s384)
	addSuite(0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", kexECDHE, cipherGCM, 16, nil, s256)
	addSuite(0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", kexECDHE, cipherGCM, 32, nil, s384)
	addSuite(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", kexECDHE, cipherGCM, 16, nil, s256)
	addSuite(0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", kexECDHE, cipherGCM, 32, nil, s384)
	// AES-CCM (16-byte tag) and AES-CCM-8
	addSuite(0xc09c, "TLS_RSA_WITH_AES_128_CCM", kexRSA, cipherCCM, 16, nil, s256)
	addSuite(0xc09d, "TLS_RSA_WITH_AES_256_CCM", kexRSA, cipherCCM, 32, nil, s256)
	addSuite(0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8", kexRSA, cipherCCM8, 16, nil, s256)
	addSuite(0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8", kexRSA, cipherCCM8, 32, nil, s256)
	addSuite(0xc0a4, "TLS_PSK_WITH_AES_128_CCM", kexPSK, cipherCCM, 16, nil, s256)
	addSuite(0xc0a5, "TLS_PSK_WITH_AES_256_CCM", kexPSK, cipherCCM, 32, nil, s256)
	addSuite(0xc0a8, "TLS_PSK_WITH_AES_128_CCM_8", kexPSK, cipherCCM8, 16, nil, s256)
	addSuite(0xc0a9, "TLS_PSK_WITH_AES_256_CCM_8", kexPSK, cipherCCM8, 32, nil, s256)
	addSuite(0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", kexECDHE, cipherCCM, 16, nil, s256)
	addSuite(0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", kexECDHE, cipherCCM, 32, nil, s256)
	addSuite(0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", kexECDHE, cipherCCM8, 16, nil, s256)
	addSuite(0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", kexECDHE, cipherCCM8, 32, nil, s256)
	// ChaCha20-Poly1305 (RFC 7905)
	addSuite(0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kexECDHE, cipherChaCha, 32, nil, s256)
	addSuite(0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", kexECDHE, cipherChaCha, 32, nil, s256)
	addSuite(0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kexECDHE, cipherChaCha, 32, nil, s256)
	addSuite(0xccab, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", kexPSK, cipherChaCha, 32, nil, s256)
	addSuite(0xccac, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", kexECDHEPSK, cipherChaCha, 32, nil, s256)
	// AES-CBC
	s1 := sha1.New
	addSuite(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", kexRSA, cipherCBC, 16, s1, s256)
	addSuite(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", kexRSA, cipherCBC, 32, s1, s256)
	addSuite(0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", kexRSA, cipherCBC, 16, s256, s256)
	addSuite(0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", kexRSA, cipherCBC, 32, s256, s256)
	addSuite(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", kexECDHE, cipherCBC, 16, s1, s256)
	addSuite(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", kexECDHE, cipherCBC, 32, s1, s256)
	addSuite(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", kexECDHE, cipherCBC, 16, s256, s256)
	addSuite(0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", kexECDHE, cipherCBC, 32, s256, s256)
	addSuite(0x008c, "TLS_PSK_WITH_AES_128_CBC_SHA", kexPSK, cipherCBC, 16, s1, s256)
	addSuite(0x008d, "TLS_PSK_WITH_AES_256_CBC_SHA", kexPSK, cipherCBC, 32, s1, s256)
	addSuite(0x00ae, "TLS_PSK_WITH_AES_128_CBC_SHA256", kexPSK, cipherCBC, 16, s256, s256)
	addSuite(0x00af, "TLS_PSK_WITH_AES_256_CBC_SHA384", kexPSK, cipherCBC, 32, s384, s384)
	addSuite(0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", kexECDHE, cipherCBC, 16, s1, s256)
	addSuite(0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", kexECDHE, cipherCBC, 32, s1, s256)
	addSuite(0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", kexECDHE, cipherCBC, 16, s1, s256)
	addSuite(0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", kexECDHE, cipherCBC, 32, s1, s256)
	addSuite(0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", kexECDHE, cipherCBC, 16, s256, s256)
	addSuite(0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", kexECDHE, cipherCBC, 32, s384, s384)
	addSuite(0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", kexECDHE, cipherCBC, 16, s256, s256)
	addSuite(0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", kexECDHE, cipherCBC, 32, s384, s384)
	addSuite(0xc035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", kexECDHEPSK, cipherCBC, 16, s1, s256)
	addSuite(0xc036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", kexECDHEPSK, cipherCBC, 32, s1, s256)
	addSuite(0xc037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", kexECDHEPSK, cipherCBC, 16, s256, s256)
	addSuite(0xc038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384", kexECDHEPSK, cipherCBC, 32, s384, s384)
	// 3DES-EDE-CBC
	addSuite(0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", kexRSA, cipher3DES, 24, s1, s256)
	addSuite(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", kexECDHE, cipher3DES, 24, s1, s256)
	addSuite(0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", kexECDHE, cipher3DES, 24, s1, s256)
	addSuite(0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", kexECDHE, cipher3DES, 24, s1, s256)
	// NULL encryption (integrity only): plaintext on the wire.
	addSuite(0x0000, "TLS_NULL_WITH_NULL_NULL", kexECDHE, cipherNoMAC, 0, nil, s256)
	addSuite(0x0001, "TLS_RSA_WITH_NULL_MD5", kexRSA, cipherNull, 0, md5.New, s256)
	addSuite(0x0002, "TLS_RSA_WITH_NULL_SHA", kexRSA, cipherNull, 0, s1, s256)
	addSuite(0x003b, "TLS_RSA_WITH_NULL_SHA256", kexRSA, cipherNull, 0, s256, s256)
	addSuite(0x002c, "TLS_PSK_WITH_NULL_SHA", kexPSK, cipherNull, 0, s1, s256)
	addSuite(0x00b0, "TLS_PSK_WITH_NULL_SHA256", kexPSK, cipherNull, 0, s256, s256)
	addSuite(0x00b1, "TLS_PSK_WITH_NULL_SHA384", kexPSK, cipherNull, 0, s384, s384)
	addSuite(0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", kexECDHE, cipherNull, 0, s1, s256)
	addSuite(0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", kexECDHE, cipherNull, 0, s1, s256)
	addSuite(0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA", kexECDHE, cipherNull, 0, s1, s256)
	addSuite(0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA", kexECDHE, cipherNull, 0, s1, s256)
	addSuite(0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA", kexECDHEPSK, cipherNull, 0, s1, s256)
	addSuite(0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256", kexECDHEPSK, cipherNull, 0, s256, s256)
	addSuite(0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384", kexECDHEPSK, cipherNull, 0, s384, s384)
	// Recognised, not decryptable here.
	for id, name := range map[uint16]string{
		0x0004: "TLS_RSA_WITH_RC4_128_MD5",
		0x0005: "TLS_RSA_WITH_RC4_128_SHA",
		0xc007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
		0xc011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
	} {
		suiteTable[id] = &suiteInfo{id: id, name: name, cipher: cipherNoSupp, prf: sha256.New}
	}
}

// SuiteName returns the IANA name of a TLS / DTLS cipher suite, or
// "0xXXXX" when the suite is unknown to this package and to crypto/tls.
func SuiteName(id uint16) string {
	if s := suiteTable[id]; s != nil {
		return s.name
	}
	if n := tls.CipherSuiteName(id); n != "" && n[0] != '0' {
		return n
	}
	return fmt.Sprintf("0x%04X", id)
}

// SuiteSupported reports whether records protected with the suite can be
// decrypted (given the right key material).
func SuiteSupported(id uint16) bool {
	s := suiteTable[id]
	return s != nil && s.cipher != cipherNoSupp
}

// VersionName names a protocol version as carried on the wire.
func VersionName(v uint16) string {
	switch v {
	case 0:
		return "unknown"
	case 0x0300:
		return "SSL 3.0"
	case 0x0301:
		return "TLS 1.0"
	case 0x0302:
		return "TLS 1.1"
	case 0x0303:
		return "TLS 1.2"
	case 0x0304:
		return "TLS 1.3"
	case 0xfeff:
		return "DTLS 1.0"
	case 0xfefd:
		return "DTLS 1.2"
	case 0xfefc:
		return "DTLS 1.3"
	case 0x0100:
		return "DTLS 1.0 (OpenSSL pre-standard)"
	}
	return fmt.Sprintf("0x%04X", v)
}
