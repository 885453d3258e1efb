package tlsdec

import (
	"encoding/binary"
	"fmt"
)

// parseError describes bytes that do not parse: the layer ("dtls record",
// "tls record", "handshake", "ClientHello", ...), the field, and the byte
// offset of the field within the unit named by Layer.
type parseError struct {
	Layer  string
	Field  string
	Offset int
	Msg    string
}

func (e *parseError) Error() string {
	return fmt.Sprintf("tlsdec: %s: %s at offset %d: %s", e.Layer, e.Field, e.Offset, e.Msg)
}

// reader is a bounds-checked big-endian cursor. The first failure sticks:
// later reads return zero values and err names the first bad field.
type reader struct {
	b     []byte
	off   int
	layer string
	err   *parseError
}

func (r *reader) fail(field string, need int) {
	if r.err == nil {
		r.err = &parseError{Layer: r.layer, Field: field, Offset: r.off,
			Msg: fmt.Sprintf("need %d byte(s), have %d", need, len(r.b)-r.off)}
	}
}

func (r *reader) failMsg(field, msg string) {
	if r.err == nil {
		r.err = &parseError{Layer: r.layer, Field: field, Offset: r.off, Msg: msg}
	}
}

func (r *reader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(field, n)
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if v := r.take(2, field); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u24(field string) int {
	if v := r.take(3, field); v != nil {
		return int(v[0])<<16 | int(v[1])<<8 | int(v[2])
	}
	return 0
}

// vec8 / vec16 / vec24 read a length-prefixed vector.
func (r *reader) vec8(field string) []byte  { return r.take(int(r.u8(field+" length")), field) }
func (r *reader) vec16(field string) []byte { return r.take(int(r.u16(field+" length")), field) }
func (r *reader) vec24(field string) []byte { return r.take(r.u24(field+" length"), field) }

func (r *reader) empty() bool { return r.off >= len(r.b) }

// Handshake message types.
const (
	hsHelloRequest       = 0
	hsClientHello        = 1
	hsServerHello        = 2
	hsHelloVerifyRequest = 3
	hsNewSessionTicket   = 4
	hsCertificate        = 11
	hsServerKeyExchange  = 12
	hsCertificateRequest = 13
	hsServerHelloDone    = 14
	hsCertificateVerify  = 15
	hsClientKeyExchange  = 16
	hsFinished           = 20
	hsCertificateStatus  = 22
)

// TLS extensions of interest.
const (
	extEncryptThenMAC       = 0x0016
	extExtendedMasterSecret = 0x0017
	extSupportedVersions    = 0x002b
	extConnectionID         = 0x0036
)

// hello holds what the tracker needs from a ClientHello or ServerHello.
type hello struct {
	version       uint16
	random        [32]byte
	sessionIDLen  int
	cookieLen     int // DTLS ClientHello
	suite         uint16
	compression   uint8
	ems, etm, cid bool
	suppVersion   uint16 // ServerHello supported_versions (TLS 1.3)
}

// parseExtensions reads the optional extensions block of a hello.
func (r *reader) extensions(h *hello, server bool) {
	if r.empty() {
		return
	}
	ext := r.vec16("extensions")
	if r.err != nil {
		return
	}
	if !r.empty() {
		r.failMsg("extensions", "trailing bytes after extensions")
		return
	}
	er := reader{b: ext, layer: r.layer}
	base := r.off - len(ext)
	for !er.empty() && er.err == nil {
		typ := er.u16("extension type")
		data := er.vec16("extension data")
		if er.err != nil {
			break
		}
		switch typ {
		case extExtendedMasterSecret:
			h.ems = true
		case extEncryptThenMAC:
			h.etm = true
		case extConnectionID:
			h.cid = true
		case extSupportedVersions:
			if server && len(data) == 2 {
				h.suppVersion = binary.BigEndian.Uint16(data)
			}
		}
	}
	if er.err != nil {
		er.err.Offset += base
		r.err = er.err
	}
}

// parseClientHello parses a ClientHello body (without handshake header).
func parseClientHello(b []byte, dtls bool) (h hello, err error) {
	r := reader{b: b, layer: "ClientHello"}
	h.version = r.u16("client_version")
	copy(h.random[:], r.take(32, "random"))
	sid := r.vec8("session_id")
	h.sessionIDLen = len(sid)
	if len(sid) > 32 {
		r.failMsg("session_id", fmt.Sprintf("length %d > 32", len(sid)))
	}
	if dtls {
		h.cookieLen = len(r.vec8("cookie"))
	}
	suites := r.vec16("cipher_suites")
	if r.err == nil && (len(suites) < 2 || len(suites)%2 != 0) {
		r.failMsg("cipher_suites", fmt.Sprintf("length %d is not a positive even number", len(suites)))
	}
	if comp := r.vec8("compression_methods"); r.err == nil && len(comp) == 0 {
		r.failMsg("compression_methods", "empty")
	}
	r.extensions(&h, false)
	if r.err != nil {
		return h, r.err
	}
	return h, nil
}

// parseServerHello parses a ServerHello body.
func parseServerHello(b []byte) (h hello, err error) {
	r := reader{b: b, layer: "ServerHello"}
	h.version = r.u16("server_version")
	copy(h.random[:], r.take(32, "random"))
	sid := r.vec8("session_id")
	h.sessionIDLen = len(sid)
	if len(sid) > 32 {
		r.failMsg("session_id", fmt.Sprintf("length %d > 32", len(sid)))
	}
	h.suite = r.u16("cipher_suite")
	h.compression = r.u8("compression_method")
	r.extensions(&h, true)
	if r.err != nil {
		return h, r.err
	}
	return h, nil
}

// parseHelloVerifyRequest parses a DTLS HelloVerifyRequest body.
func parseHelloVerifyRequest(b []byte) error {
	r := reader{b: b, layer: "HelloVerifyRequest"}
	r.u16("server_version")
	r.vec8("cookie")
	if r.err == nil && !r.empty() {
		r.failMsg("cookie", "trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

// clientKeyExchange holds what a passive observer can use.
type clientKeyExchange struct {
	pskIdentity []byte
	encPMS      []byte // RSA-encrypted premaster secret
}

// parseClientKeyExchange parses the body according to the key exchange.
func parseClientKeyExchange(b []byte, kex kexKind) (c clientKeyExchange, err error) {
	r := reader{b: b, layer: "ClientKeyExchange"}
	switch kex {
	case kexPSK:
		c.pskIdentity = r.vec16("psk_identity")
	case kexECDHEPSK:
		c.pskIdentity = r.vec16("psk_identity")
		r.vec8("ecdh_public")
	case kexRSA:
		c.encPMS = r.vec16("encrypted_premaster_secret")
	default:
		return c, nil
	}
	if r.err == nil && !r.empty() {
		r.failMsg("body", "trailing bytes")
	}
	if r.err != nil {
		return c, r.err
	}
	return c, nil
}

// parseFirstCertificate returns the first certificate of a Certificate
// message body.
func parseFirstCertificate(b []byte) ([]byte, error) {
	r := reader{b: b, layer: "Certificate"}
	list := r.vec24("certificate_list")
	if r.err != nil {
		return nil, r.err
	}
	lr := reader{b: list, layer: "Certificate"}
	cert := lr.vec24("certificate")
	if lr.err != nil {
		lr.err.Offset += 3
		return nil, lr.err
	}
	return cert, nil
}

// dtlsHandshakeHeader is the 12-byte DTLS handshake message header.
type dtlsHandshakeHeader struct {
	typ     uint8
	length  int // whole message body
	seq     uint16
	fragOff int
	fragLen int
}

const dtlsHSHeaderLen = 12

// parseDTLSHandshakeHeader parses the header at the start of b and checks
// that the fragment fits the message and b.
func parseDTLSHandshakeHeader(b []byte) (h dtlsHandshakeHeader, err error) {
	r := reader{b: b, layer: "dtls handshake"}
	h.typ = r.u8("msg_type")
	h.length = r.u24("length")
	h.seq = r.u16("message_seq")
	h.fragOff = r.u24("fragment_offset")
	h.fragLen = r.u24("fragment_length")
	if r.err != nil {
		return h, r.err
	}
	if h.fragOff+h.fragLen > h.length {
		return h, &parseError{Layer: "dtls handshake", Field: "fragment_length", Offset: 9,
			Msg: fmt.Sprintf("fragment %d+%d exceeds message length %d", h.fragOff, h.fragLen, h.length)}
	}
	if len(b)-dtlsHSHeaderLen < h.fragLen {
		return h, &parseError{Layer: "dtls handshake", Field: "fragment", Offset: 12,
			Msg: fmt.Sprintf("need %d byte(s), have %d", h.fragLen, len(b)-dtlsHSHeaderLen)}
	}
	return h, nil
}

// handshakeBody parses one handshake message of type typ for the fields
// the tracker uses. It is the entry point of FuzzHandshake.
func handshakeBody(typ uint8, body []byte, dtls bool, kex kexKind) error {
	var err error
	switch typ {
	case hsClientHello:
		_, err = parseClientHello(body, dtls)
	case hsServerHello:
		_, err = parseServerHello(body)
	case hsHelloVerifyRequest:
		err = parseHelloVerifyRequest(body)
	case hsClientKeyExchange:
		_, err = parseClientKeyExchange(body, kex)
	case hsCertificate:
		_, err = certInfo(body, 0)
	case hsFinished:
		if len(body) != 12 {
			err = &parseError{Layer: "Finished", Field: "verify_data", Offset: 0, Msg: fmt.Sprintf("length %d, want 12", len(body))}
		}
	}
	return err
}
