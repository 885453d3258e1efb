package tlsdec

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"
)

// CertInfo is what a peer's certificate says, read from the Certificate
// message of a TLS 1.2 or DTLS 1.2 handshake, which crosses the network in
// the clear: no key is needed to see it. Only the first (leaf) certificate
// is read; Chain counts them all.
type CertInfo struct {
	// Frame and Time: the packet that completed the Certificate message.
	Frame uint64
	Time  time.Time
	// Empty: the message carried no certificate (a client declining a
	// CertificateRequest).
	Empty bool
	// Chain is the number of certificates in the message.
	Chain int
	// Subject and Issuer in RFC 2253 form ("CN=vsmart-1,O=Acme"); empty
	// when the certificate could not be parsed (ParseError says why) or
	// when its subject is empty.
	Subject, Issuer string
	// SubjectEmpty: the certificate's subject has no attribute with a
	// value (none at all, or only empty ones such as the "/CN=/O=/C="
	// of the public exploit modules' certificate).
	SubjectEmpty bool
	// SelfSigned: the issuer is the subject and the signature verifies
	// with the certificate's own public key.
	SelfSigned bool
	// SHA256 is the fingerprint of the leaf's DER bytes.
	SHA256 [32]byte
	// Serial is the leaf's serial number in hex ("" if unparsed).
	Serial              string
	NotBefore, NotAfter time.Time
	// ParseError is set when the leaf is not a certificate Go can parse.
	ParseError string
}

// maxCertsCounted bounds the walk over a certificate list.
const maxCertsCounted = 64

// certInfo reads a Certificate message body. It never panics: x509 is
// guarded like pion.
func certInfo(body []byte, frame uint64) (ci *CertInfo, err error) {
	ci = &CertInfo{Frame: frame}
	r := reader{b: body, layer: "Certificate"}
	list := r.vec24("certificate_list")
	if r.err != nil {
		return nil, r.err
	}
	var leaf []byte
	lr := reader{b: list, layer: "Certificate"}
	for !lr.empty() && ci.Chain < maxCertsCounted {
		c := lr.vec24("certificate")
		if lr.err != nil {
			lr.err.Offset += 3
			return nil, lr.err
		}
		if ci.Chain == 0 {
			leaf = c
		}
		ci.Chain++
	}
	if ci.Chain == 0 {
		ci.Empty = true
		return ci, nil
	}
	ci.SHA256 = sha256.Sum256(leaf)
	defer func() {
		if p := recover(); p != nil {
			ci.Subject, ci.Issuer, ci.SelfSigned = "", "", false
			ci.ParseError = fmt.Sprintf("x509 parser failed: %v", p)
		}
	}()
	c, perr := x509.ParseCertificate(leaf)
	if perr != nil {
		ci.ParseError = perr.Error()
		return ci, nil
	}
	ci.Subject, ci.Issuer = c.Subject.String(), c.Issuer.String()
	ci.SubjectEmpty = true
	for _, n := range c.Subject.Names {
		if fmt.Sprint(n.Value) != "" {
			ci.SubjectEmpty = false
		}
	}
	ci.Serial = fmt.Sprintf("%x", c.SerialNumber)
	ci.NotBefore, ci.NotAfter = c.NotBefore, c.NotAfter
	if bytes.Equal(c.RawIssuer, c.RawSubject) {
		// issuer = subject is self-issued; the signature (checked with
		// its own key, at most 8192-bit RSA: the check costs what the
		// key size says) makes it self-signed
		ci.SelfSigned = true
		if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() <= 8192 {
			ci.SelfSigned = c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
		}
	}
	return ci, nil
}

// The bounds of the certificates a tracker remembers parsed: at most
// maxCertCache messages of at most maxCertCacheBody bytes each, 2 MiB in
// all (a controller's chain is a few KB; a hostile capture of large,
// distinct Certificate messages must not hold 256 handshakes' worth of
// memory outside the handshake caps).
const (
	maxCertCache      = 256
	maxCertCacheBody  = 16 << 10
	maxCertCacheBytes = 2 << 20
)

// certInfo is certInfo (the function) remembering what it read: every
// session of a controller presents the same Certificate message, and
// parsing it again (x509, and the signature check of a self-signed one)
// was 4 % of `dissect -q` on a capture of 41 sessions. A message read
// once gives the same CertInfo, with its own Frame.
func (t *Tracker) certInfo(body []byte, frame uint64) (*CertInfo, error) {
	if c, ok := t.certs[string(body)]; ok {
		ci := *c
		ci.Frame = frame
		return &ci, nil
	}
	ci, err := certInfo(body, frame)
	if err != nil || len(t.certs) >= maxCertCache || len(body) > maxCertCacheBody || t.certBytes+len(body) > maxCertCacheBytes {
		return ci, err
	}
	if t.certs == nil {
		t.certs = map[string]*CertInfo{}
	}
	c := *ci
	t.certs[string(body)] = &c
	t.certBytes += len(body)
	return ci, nil
}

// noteCert records the certificate side sent, once (retransmissions and
// renegotiations do not replace it).
func (t *Tracker) noteCert(s *Session, side int, body []byte, frame uint64) {
	p := &s.ClientCert
	if side == 1 {
		p = &s.ServerCert
	}
	if *p != nil {
		return
	}
	ci, err := t.certInfo(body, frame)
	if err != nil {
		s.fail(ReasonMalformed, "frame %d: %v", frame, err)
		return
	}
	ci.Time = s.LastSeen
	*p = ci
	if t.opt.OnCertificate != nil {
		t.opt.OnCertificate(s)
	}
}

// String is a one-line description: `subject "CN=a" issuer "CN=b"
// sha256 0123abcd…` with "self-signed", "empty subject", "no certificate"
// or the parse error as they apply.
func (c *CertInfo) String() string {
	switch {
	case c == nil:
		return "not seen"
	case c.Empty:
		return "no certificate"
	case c.ParseError != "":
		return fmt.Sprintf("unparsable (%s) sha256 %x…", c.ParseError, c.SHA256[:8])
	}
	s := fmt.Sprintf("subject %q issuer %q", c.Subject, c.Issuer)
	if c.SubjectEmpty {
		s = fmt.Sprintf("empty subject, issuer %q", c.Issuer)
	}
	if c.SelfSigned {
		s += " (self-signed)"
	}
	return s + fmt.Sprintf(" sha256 %x…", c.SHA256[:8])
}
