package synth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/logging"
)

// suite is a cipher suite the simulator can use.
type suite struct {
	Name string // IANA name
	ID   uint16
	TLS  bool // crypto/tls (TCP) rather than pion/dtls (UDP)
	RSA  bool // needs an RSA server certificate
	PSK  bool
}

// dtlsSuites are the suites pion/dtls v2 implements.
var dtlsSuites = []suite{
	{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), false, false, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", uint16(dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), false, true, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), false, false, false},
	{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", uint16(dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384), false, true, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM", uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM), false, false, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8), false, false, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA), false, false, false},
	{"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", uint16(dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA), false, true, false},
	{"TLS_PSK_WITH_AES_128_GCM_SHA256", uint16(dtls.TLS_PSK_WITH_AES_128_GCM_SHA256), false, false, true},
	{"TLS_PSK_WITH_AES_128_CCM", uint16(dtls.TLS_PSK_WITH_AES_128_CCM), false, false, true},
	{"TLS_PSK_WITH_AES_128_CCM_8", uint16(dtls.TLS_PSK_WITH_AES_128_CCM_8), false, false, true},
	{"TLS_PSK_WITH_AES_256_CCM_8", uint16(dtls.TLS_PSK_WITH_AES_256_CCM_8), false, false, true},
	{"TLS_PSK_WITH_AES_128_CBC_SHA256", uint16(dtls.TLS_PSK_WITH_AES_128_CBC_SHA256), false, false, true},
}

// tlsSuites are the TLS 1.2 suites of crypto/tls the simulator uses.
var tlsSuites = []suite{
	{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true, false, false},
	{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true, true, false},
	{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true, false, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, true, true, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true, true, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true, false, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, true, false, false},
	{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true, true, false},
}

// defaultDTLSSuites / defaultTLSSuites are the mixes used when --suites is
// not given: every certificate suite pion offers, and four crypto/tls
// suites (GCM, ChaCha20-Poly1305, CBC).
var (
	defaultDTLSSuites = []string{
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
		"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	}
	defaultTLSSuites = []string{
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	}
	defaultPSKSuites = []string{
		"TLS_PSK_WITH_AES_128_GCM_SHA256", "TLS_PSK_WITH_AES_128_CCM", "TLS_PSK_WITH_AES_128_CCM_8",
		"TLS_PSK_WITH_AES_256_CCM_8", "TLS_PSK_WITH_AES_128_CBC_SHA256",
	}
)

func findSuite(list []suite, name string) (suite, bool) {
	for _, s := range list {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return suite{}, false
}

// SuiteNames lists the cipher suites --suites accepts, by transport.
func SuiteNames() (dtlsNames, tlsNames []string) {
	for _, s := range dtlsSuites {
		dtlsNames = append(dtlsNames, s.Name)
	}
	for _, s := range tlsSuites {
		tlsNames = append(tlsNames, s.Name)
	}
	return
}

// splitSuites sorts a --suites list into DTLS certificate suites, TLS
// suites and PSK suites. A name both stacks implement goes to both.
func splitSuites(names []string) (d, t, p []string, err error) {
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		ds, dok := findSuite(dtlsSuites, n)
		ts, tok := findSuite(tlsSuites, n)
		if !dok && !tok {
			return nil, nil, nil, fmt.Errorf("unknown cipher suite %q (see --list-suites)", n)
		}
		if dok {
			if ds.PSK {
				p = append(p, ds.Name)
			} else {
				d = append(d, ds.Name)
			}
		}
		if tok {
			t = append(t, ts.Name)
		}
	}
	return d, t, p, nil
}

// certPool holds the certificates of a run. Key generation is the same for
// every run, so the keys are made once per process and shared (they do not
// affect any simulated content).
//
// Like a real fabric, every device certificate is issued by one
// enterprise CA (the organization's root, as controllers and edges use
// with enterprise certificates), and the chain carries the CA's
// certificate after the leaf. The attacker of the attack scenarios
// presents a self-signed certificate instead, as the public exploit
// modules do.
type certPool struct {
	ecdsa    []tls.Certificate
	rsa      tls.Certificate
	attacker tls.Certificate
}

var (
	certOnce sync.Once
	certs    *certPool
	certErr  error
)

const ecdsaCerts = 16

// Names in the simulator's certificates.
const (
	SynthOrg      = "ompscope-synth"
	SynthCAName   = "ompscope-synth Enterprise Root CA"
	synthCertDays = 3650
)

func getCerts() (*certPool, error) {
	certOnce.Do(func() {
		certs, certErr = makeCerts()
	})
	return certs, certErr
}

func makeCerts() (*certPool, error) {
	p := &certPool{}
	// an RSA CA: pion checks an RSA leaf's signatures only when the leaf
	// itself is signed with RSA
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: SynthCAName, Organization: []string{SynthOrg}},
		NotBefore:             start,
		NotAfter:              start.AddDate(0, 0, synthCertDays),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(serial int64, cn string, key crypto.Signer) (tls.Certificate, error) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{SynthOrg}, OrganizationalUnit: []string{SynthOrg}},
			NotBefore:    start,
			NotAfter:     start.AddDate(0, 0, synthCertDays),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     []string{cn},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, nil
	}
	for i := 0; i < ecdsaCerts; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		c, err := leaf(int64(100+i), fmt.Sprintf("ompscope-synth-%d", i), k)
		if err != nil {
			return nil, err
		}
		p.ecdsa = append(p.ecdsa, c)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if p.rsa, err = leaf(99, "ompscope-synth-rsa", k); err != nil {
		return nil, err
	}
	// the exploit modules' certificate: RSA-2048, self-signed, X.509 v3
	// without extensions, subject and issuer "/CN=/O=/C=" (empty values)
	ak, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	empty := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: ""},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: ""},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: ""}}}
	atmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5eed1e55), Subject: empty, Issuer: empty,
		NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}
	ader, err := x509.CreateCertificate(rand.Reader, atmpl, atmpl, &ak.PublicKey, ak)
	if err != nil {
		return nil, err
	}
	p.attacker = tls.Certificate{Certificate: [][]byte{ader}, PrivateKey: ak}
	return p, nil
}

var quietLogger = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}

// handshake runs the DTLS or TLS handshake of s over a fresh wire and
// leaves s.conns ready for application data.
func (s *session) handshake(pool *certPool, hsEmit func(side int, t vt, b, plain []byte)) error {
	w := newWire(s.transport == "tls", s.rtt, s.start, s.appStart, s.cAddr, s.sAddr)
	w.emit = hsEmit
	if s.hsDrop >= 0 {
		w.dropSide = s.hsDrop
	}
	s.wire = w
	clientCert := pool.ecdsa[s.client.idx%len(pool.ecdsa)]
	if s.attack != nil {
		clientCert = pool.attacker
	}
	serverCert := pool.ecdsa[s.server.idx%len(pool.ecdsa)]
	if s.suite.RSA {
		serverCert = pool.rsa
	}
	var keylog io.Writer = &s.keylog
	ctxMaker := func() (context.Context, func()) { return context.WithTimeout(context.Background(), 2*time.Minute) }
	if s.transport == "dtls" {
		flight := 10 * time.Second // no real-time retransmission unless a datagram is dropped
		if s.hsDrop >= 0 {
			flight = 30 * time.Millisecond
		}
		ems := dtls.RequireExtendedMasterSecret
		if !s.ems {
			ems = dtls.DisableExtendedMasterSecret
		}
		ccfg := &dtls.Config{
			CipherSuites:         []dtls.CipherSuiteID{dtls.CipherSuiteID(s.suite.ID)},
			InsecureSkipVerify:   true,
			ExtendedMasterSecret: ems,
			FlightInterval:       flight,
			MTU:                  1200,
			KeyLogWriter:         keylog,
			LoggerFactory:        quietLogger,
			ConnectContextMaker:  ctxMaker,
		}
		scfg := &dtls.Config{
			CipherSuites:         ccfg.CipherSuites,
			InsecureSkipVerify:   true,
			ExtendedMasterSecret: ems,
			FlightInterval:       flight,
			MTU:                  1200,
			LoggerFactory:        quietLogger,
			ConnectContextMaker:  ctxMaker,
		}
		if s.suite.PSK {
			psk := append([]byte(nil), s.psk...)
			cb := func([]byte) ([]byte, error) { return psk, nil }
			ccfg.PSK, ccfg.PSKIdentityHint = cb, []byte(s.pskIdentity)
			scfg.PSK, scfg.PSKIdentityHint = cb, []byte(s.pskIdentity)
		} else {
			ccfg.Certificates = []tls.Certificate{clientCert}
			scfg.Certificates = []tls.Certificate{serverCert}
			scfg.ClientAuth = dtls.RequireAnyClientCert
		}
		type res struct {
			c   *dtls.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := dtls.Server(w.ends[srv], scfg)
			ch <- res{c, err}
		}()
		cc, cerr := dtls.Client(w.ends[cli], ccfg)
		if cerr != nil {
			w.ends[srv].Close()
		}
		r := <-ch
		if cerr != nil || r.err != nil {
			if cc != nil {
				cc.Close()
			}
			if r.c != nil {
				r.c.Close()
			}
			return fmt.Errorf("DTLS handshake %s: client: %v, server: %v", s.label(), cerr, r.err)
		}
		s.conns = [2]io.WriteCloser{cc, r.c}
	} else {
		ccfg := &tls.Config{
			Certificates:       []tls.Certificate{clientCert},
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS12,
			MaxVersion:         tls.VersionTLS12,
			CipherSuites:       []uint16{s.suite.ID},
			KeyLogWriter:       keylog,
			// No tickets: a NewSessionTicket message would only add bytes.
			SessionTicketsDisabled: true,
			// One Write, one record: no small first records.
			DynamicRecordSizingDisabled: true,
		}
		scfg := &tls.Config{
			Certificates:                []tls.Certificate{serverCert},
			MinVersion:                  tls.VersionTLS12,
			MaxVersion:                  tls.VersionTLS12,
			CipherSuites:                []uint16{s.suite.ID},
			ClientAuth:                  tls.RequireAnyClientCert,
			SessionTicketsDisabled:      true,
			DynamicRecordSizingDisabled: true,
		}
		cc := tls.Client(w.ends[cli], ccfg)
		sc := tls.Server(w.ends[srv], scfg)
		ch := make(chan error, 1)
		go func() { ch <- sc.Handshake() }()
		cerr := cc.Handshake()
		if cerr != nil {
			w.ends[srv].Close()
		}
		serr := <-ch
		if cerr != nil || serr != nil {
			return fmt.Errorf("TLS handshake %s: client: %v, server: %v", s.label(), cerr, serr)
		}
		if got := cc.ConnectionState().CipherSuite; got != s.suite.ID {
			return fmt.Errorf("TLS handshake %s: negotiated suite 0x%04x, want %s", s.label(), got, s.suite.Name)
		}
		s.conns = [2]io.WriteCloser{cc, sc}
	}
	w.setMode(modeApp)
	s.retrans = w.retrans
	return nil
}

// closeConns ends both connections without recording anything more.
func (s *session) closeConns() {
	if s.wire == nil {
		return
	}
	s.wire.setMode(modeMute)
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
	s.conns = [2]io.WriteCloser{}
}

// keyLines returns the session's key log lines (CLIENT_RANDOM ...).
func (s *session) keyLines() []string {
	var out []string
	for _, l := range strings.Split(s.keylog.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}
