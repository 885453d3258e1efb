package analyze

import (
	"net/netip"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// SessionInfo identifies a control connection as the dissector saw it,
// with the facts the analysis reports on (and that the rules about
// untunnelled control traffic will use). The analyzer keys sessions by ID
// (by "client > server" when ID is empty); it copies the struct on first
// sight and updates the copy when a later input carries new facts (a
// suite learned late, for example).
type SessionInfo struct {
	ID     string
	Client netip.AddrPort // the DTLS/TLS client
	Server netip.AddrPort
	// Transport is "dtls" or "tls", or "udp" or "tcp" for vdaemon seen in
	// the clear (outside any DTLS/TLS session), as dissect names them.
	Transport string
	// Suite is the IANA name of the negotiated cipher suite ("" unknown).
	Suite string
	// Version is the record-layer protocol version ("DTLS 1.2", "TLS 1.2",
	// "" unknown).
	Version string
	// KeySource says where the keys came from ("keylog", "psk", "" none).
	KeySource string
	// NullCipher is true when the suite encrypts nothing (NULL cipher).
	NullCipher bool
	// ClientCert and ServerCert are the certificates each side presented
	// in the (D)TLS 1.2 handshake, which is in the clear: nil when none was
	// seen (no handshake captured, a PSK suite, TLS 1.3).
	ClientCert, ServerCert *Certificate
}

// Certificate is what a side's certificate said, as the dissector read it
// from the handshake (the analyzer knows nothing of X.509).
type Certificate struct {
	// Time and Frame of the handshake message that carried it.
	Time  time.Time
	Frame uint64
	// Empty: the side sent a Certificate message with no certificate.
	Empty bool
	// Subject and Issuer in RFC 2253 form ("CN=vsmart-1,O=Acme").
	Subject, Issuer string
	// SubjectEmpty: no subject attribute has a value.
	SubjectEmpty bool
	// SelfSigned: issued by itself, signature checked with its own key.
	SelfSigned bool
	// SHA256 is the leaf's fingerprint in hex.
	SHA256 string
	// ParseError says why the certificate could not be read ("" if it
	// could).
	ParseError string
}

func (s *SessionInfo) key() string {
	if s.ID != "" {
		return s.ID
	}
	return s.Client.String() + " > " + s.Server.String()
}

// Input is one decoded vdaemon message (one record) of a session.
type Input struct {
	Time    time.Time
	Frame   uint64
	Session *SessionInfo
	// FromClient is true when the DTLS/TLS client sent the record.
	FromClient bool
	// VDaemon is the decoded message; nil when Err is a vdaemon decode
	// error.
	VDaemon *vdaemon.Message
	// OMP holds the OMP messages of a DATA message (those decoded before
	// an error, if Err is an OMP decode error). The analyzer copies what
	// it keeps: the messages (and an *omp.Update's slices) may be reused
	// by the caller after Message returns.
	OMP []omp.Message
	// Header, when VDaemon is nil, is the header of the message whose
	// body did not decode (nil if even the header did not).
	Header *vdaemon.Header
	// Err is the decode error, if any. A record that could not be decoded
	// is reported like a decryption gap (reason "decode-error"): the
	// analysis could not see what it said.
	Err error
}

// Gap reports records of a session that could not be decrypted (or read),
// as they happen. Reason is a short word: "no-key", "auth-failed",
// "unsupported-suite", "no-handshake", "decode-error", ... Records counts
// the records the gap covers (at least 1 is assumed).
type Gap struct {
	// Time and Frame are those of the last record the report covers;
	// Start, when set, is the time of the first (reports made late, when
	// records waited for a key, cover a span).
	Time    time.Time
	Start   time.Time
	Frame   uint64
	Session *SessionInfo
	// Dir says who sent the unreadable records. With DirUnknown both
	// directions are marked incomplete and both ends are assumed alive.
	Dir     Dir
	Reason  string
	Records int
}

// Dir is the sender of a record, when known.
type Dir uint8

// Directions.
const (
	DirUnknown Dir = iota
	DirClient
	DirServer
)

// cleartext reports a control connection seen outside DTLS/TLS.
func (si *SessionInfo) cleartext() bool {
	return si.Transport == "udp" || si.Transport == "tcp" || si.Transport == "plain"
}
