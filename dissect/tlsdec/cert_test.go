package tlsdec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

// certMsg builds a Certificate message body from DER certificates.
func certMsg(ders ...[]byte) []byte {
	var list []byte
	for _, d := range ders {
		list = append(list, byte(len(d)>>16), byte(len(d)>>8), byte(len(d)))
		list = append(list, d...)
	}
	return append([]byte{byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}, list...)
}

func TestCertInfo(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// the exploit modules' certificate: self-signed, subject "/CN=/O=/C="
	empty := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: ""},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: ""}, {Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: ""}}}
	st := &x509.Certificate{SerialNumber: big.NewInt(0x1234), Subject: empty, NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}
	selfDER, err := x509.CreateCertificate(rand.Reader, st, st, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Acme Root CA", Organization: []string{"Acme"}},
		NotBefore: start, NotAfter: start.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, &key.PublicKey, key)
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "vsmart-1", Organization: []string{"Acme"}},
		NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}
	leafDER, _ := x509.CreateCertificate(rand.Reader, lt, ca, &leafKey.PublicKey, key)

	ci, err := certInfo(certMsg(selfDER), 5)
	if err != nil || !ci.SelfSigned || !ci.SubjectEmpty || ci.Chain != 1 || ci.Serial != "1234" || ci.Frame != 5 ||
		ci.SHA256 != sha256.Sum256(selfDER) || ci.ParseError != "" {
		t.Errorf("self-signed: %+v %v", ci, err)
	}
	ci, err = certInfo(certMsg(leafDER, caDER), 6)
	if err != nil || ci.SelfSigned || ci.SubjectEmpty || ci.Chain != 2 || ci.Subject != "CN=vsmart-1,O=Acme" ||
		ci.Issuer != "CN=Acme Root CA,O=Acme" || !strings.Contains(ci.String(), `issuer "CN=Acme Root CA,O=Acme"`) {
		t.Errorf("CA-issued: %+v %v", ci, err)
	}
	// the CA itself is self-signed (and not empty)
	if ci, _ = certInfo(certMsg(caDER), 0); !ci.SelfSigned || ci.SubjectEmpty || !strings.Contains(ci.String(), "(self-signed)") {
		t.Errorf("CA: %+v", ci)
	}
	if ci, err = certInfo(certMsg(), 0); err != nil || !ci.Empty || ci.String() != "no certificate" {
		t.Errorf("empty: %+v %v", ci, err)
	}
	if ci, err = certInfo(certMsg([]byte{0x30, 0x03, 1, 2, 3}), 0); err != nil || ci.ParseError == "" ||
		!strings.Contains(ci.String(), "unparsable") {
		t.Errorf("garbage: %+v %v", ci, err)
	}
	// framing errors are errors
	for _, b := range [][]byte{{0, 0}, {0, 0, 9, 0, 0}, {0, 0, 4, 0, 0, 9, 1}} {
		if _, err := certInfo(b, 0); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
	var nilInfo *CertInfo
	if nilInfo.String() != "not seen" {
		t.Error(nilInfo.String())
	}
}

// The tracker's cache of parsed Certificate messages gives what a fresh
// parse gives, with the frame of the message at hand, and stays within
// its bounds: no message larger than maxCertCacheBody, no more than
// maxCertCacheBytes in all.
func TestCertCache(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(n int64, cn string) []byte {
		tm := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn}, NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tm, tm, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return certMsg(der)
	}
	tr := &Tracker{}
	msg := mk(1, "vsmart-1")
	a, err := tr.certInfo(msg, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.certInfo(msg, 20)
	want, _ := certInfo(msg, 20)
	if b == a || b.Frame != 20 || b.String() != want.String() || b.SelfSigned != want.SelfSigned || a.Frame != 10 {
		t.Errorf("cached %+v, fresh %+v", b, want)
	}
	// a message past maxCertCacheBody is parsed, not kept
	big := mk(2, strings.Repeat("x", maxCertCacheBody))
	if _, err := tr.certInfo(big, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.certs[string(big)]; ok || len(tr.certs) != 1 {
		t.Errorf("a %d-byte message kept", len(big))
	}
	// many distinct ones: the total stays under maxCertCacheBytes
	mid := strings.Repeat("y", maxCertCacheBody/2)
	for i := range 300 {
		tr.certInfo(mk(int64(100+i), mid), 1)
	}
	if tr.certBytes > maxCertCacheBytes || len(tr.certs) > maxCertCache {
		t.Errorf("%d messages, %d bytes kept", len(tr.certs), tr.certBytes)
	}
}

// benchCertMsg is a Certificate message of one self-signed ECDSA
// certificate, as a controller presents it to each of its peers.
func benchCertMsg(b *testing.B) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tm := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "vsmart-1", Organization: []string{"Acme"}},
		NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tm, tm, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return certMsg(der)
}

// The tracker's cache against parsing each session's Certificate message
// again (x509 and the self-signature check).
func BenchmarkCertInfoParse(b *testing.B) {
	msg := benchCertMsg(b)
	for range b.N {
		certInfo(msg, 1)
	}
}

func BenchmarkCertInfoCached(b *testing.B) {
	msg := benchCertMsg(b)
	tr := &Tracker{}
	for range b.N {
		tr.certInfo(msg, 1)
	}
}
