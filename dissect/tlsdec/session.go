package tlsdec

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Direction says which side sent a record.
type Direction uint8

const (
	// DirUnknown: the handshake was not seen, so the roles are not known.
	DirUnknown Direction = iota
	// FromClient: sent by the side that sent the ClientHello.
	FromClient
	// FromServer: sent by the side that answered with a ServerHello.
	FromServer
)

func (d Direction) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return "unknown"
}

// TLS / DTLS record content types.
const (
	ContentChangeCipherSpec uint8 = 20
	ContentAlert            uint8 = 21
	ContentHandshake        uint8 = 22
	ContentApplicationData  uint8 = 23
	ContentHeartbeat        uint8 = 24
	ContentTLS12CID         uint8 = 25
)

// Record is one record handed to the emit callback: either decrypted, or
// sent in the clear (before ChangeCipherSpec, or under a NULL-cipher suite).
type Record struct {
	Session     *Session
	Dir         Direction
	Time        time.Time
	Frame       uint64
	ContentType uint8
	// Epoch and Seq are the DTLS record epoch and sequence number. For TLS,
	// Epoch is 0 before the sender's ChangeCipherSpec and 1 after, and Seq
	// is the implicit record sequence number within the epoch.
	Epoch uint16
	Seq   uint64
	// Decrypted is true when the record was protected and has been opened
	// with the session key: decrypted and authenticated (for NULL-cipher
	// suites: MAC verified). False for records sent in the clear (before
	// ChangeCipherSpec, or NULL-cipher records whose MAC cannot be checked
	// for lack of a key).
	Decrypted bool
	// Plaintext is the record's content. It is valid only during the
	// callback; copy it to keep it.
	Plaintext []byte
}

// Reason classifies why a record was not decrypted.
type Reason uint8

const (
	// ReasonNoKey: the handshake was seen but no key material matches
	// (no CLIENT_RANDOM line, no PSK, no RSA key). Records wait in a
	// bounded per-session queue for a key to arrive; they are counted here
	// when the queue is full or when Tracker.Finish gives up on them.
	ReasonNoKey Reason = iota
	// ReasonAuthFailed: the AEAD tag or CBC MAC did not verify: wrong key.
	ReasonAuthFailed
	// ReasonUnsupportedSuite: the negotiated suite cannot be decrypted here.
	ReasonUnsupportedSuite
	// ReasonUnsupportedVersion: the negotiated version is not TLS/DTLS 1.2.
	ReasonUnsupportedVersion
	// ReasonUnsupportedFeature: renegotiation, connection IDs, compression.
	ReasonUnsupportedFeature
	// ReasonNoHandshake: the handshake was not captured (the capture
	// started mid-session, or the hellos were lost).
	ReasonNoHandshake
	// ReasonMalformed: the bytes do not parse as a record or message.
	ReasonMalformed
	// ReasonLostSync: after lost TCP bytes, no nearby sequence number
	// authenticated the record.
	ReasonLostSync
	// ReasonHandshakeDropped: a handshake message did not fit the bounds
	// of the reassembly buffer.
	ReasonHandshakeDropped
	numReasons
)

var reasonNames = [numReasons]string{
	"no-key", "auth-failed", "unsupported-suite", "unsupported-version",
	"unsupported-feature", "no-handshake", "malformed", "lost-sync",
	"handshake-dropped",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons lists every Reason, in order.
func Reasons() []Reason {
	out := make([]Reason, numReasons)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// Session is one DTLS or TLS connection as the tracker sees it. Its fields
// are written by the Tracker; read them from the goroutine that drives the
// Tracker (e.g. inside the emit callback or after the capture ended).
type Session struct {
	// ID is stable across runs over the same capture: transport, client,
	// server and the frame that opened the session.
	ID        string
	Transport string // "dtls" or "tls"
	Client    netip.AddrPort
	Server    netip.AddrPort
	// RolesKnown is false when no hello was seen: Client is then simply the
	// first sender.
	RolesKnown bool
	FirstFrame uint64
	LastFrame  uint64
	FirstSeen  time.Time
	LastSeen   time.Time

	// From the handshake.
	HandshakeSeen        bool   // a ServerHello was seen
	HelloVerify          bool   // DTLS HelloVerifyRequest (cookie exchange)
	Version              uint16 // negotiated version (ServerHello), 0 if unseen
	CipherSuite          uint16 // negotiated suite (ServerHello)
	ExtendedMasterSecret bool   // RFC 7627, both hellos
	EncryptThenMAC       bool   // RFC 7366, both hellos (CBC suites only)
	Resumed              bool   // abbreviated handshake (known once a Finished is checked)
	PSKIdentity          string // from ClientKeyExchange of PSK suites
	// ClientCert and ServerCert: the certificates each side presented
	// (nil when no Certificate message was seen). Set once; never
	// changed after.
	ClientCert, ServerCert *CertInfo
	ClientRandom           [32]byte
	ServerRandom           [32]byte
	// KeySource says where the key came from: "keylog:FILE", "dsb", "psk",
	// "rsa"; empty while the session has no key.
	KeySource string
	// ClientFinishedOK / ServerFinishedOK: the decrypted Finished message's
	// verify_data matched the one computed from the captured handshake,
	// which confirms key and transcript.
	ClientFinishedOK bool
	ServerFinishedOK bool
	// Ended is set when a new handshake on the same endpoints replaced
	// this session.
	Ended bool

	// Counters.
	Decrypted  uint64 // records decrypted and authenticated
	Cleartext  uint64 // records emitted that were sent in the clear
	Duplicates uint64 // DTLS records dropped as repeats (same epoch+seq)
	Recovered  uint64 // records decrypted after waiting for a late key
	Resyncs    uint64 // TLS stream resynchronisations after lost bytes
	BytesLost  uint64 // TLS bytes reported lost by the layer below
	// BytesSkipped counts TLS bytes discarded while looking for the next
	// record header after lost or malformed bytes.
	BytesSkipped uint64

	failures     [numReasons]uint64
	firstFailure [numReasons]string
	notes        []string
	notesDropped uint64 // notes past maxNotes, told as a count

	key    pairKey
	state  *sessState
	onFail func(s *Session, r Reason, n int)
	// LRU links (Tracker)
	prev, next *Session
	proven     bool // in the tracker's list of proven sessions
}

// Failures returns how many records failed for reason r.
func (s *Session) Failures(r Reason) uint64 {
	if r >= numReasons {
		return 0
	}
	return s.failures[r]
}

// TotalFailures sums the failure counters.
func (s *Session) TotalFailures() uint64 {
	var n uint64
	for _, c := range s.failures {
		n += c
	}
	return n
}

// FirstFailure returns the description of the first failure of kind r,
// or "" if there was none.
func (s *Session) FirstFailure(r Reason) string {
	if r >= numReasons {
		return ""
	}
	return s.firstFailure[r]
}

// CipherSuiteName is the IANA name of the negotiated suite.
func (s *Session) CipherSuiteName() string {
	if !s.HandshakeSeen {
		return "unknown"
	}
	return SuiteName(s.CipherSuite)
}

// VersionName names the negotiated version.
func (s *Session) VersionName() string { return VersionName(s.Version) }

// NullCipher reports whether the negotiated suite does not encrypt: the
// application data crossed the network in the clear.
func (s *Session) NullCipher() bool {
	si := suiteTable[s.CipherSuite]
	return s.HandshakeSeen && si != nil && (si.cipher == cipherNull || si.cipher == cipherNoMAC)
}

// Legacy reports whether the negotiated version is older than (D)TLS 1.2.
func (s *Session) Legacy() bool {
	switch s.Version {
	case 0x0300, 0x0301, 0x0302, 0xfeff, 0x0100:
		return true
	}
	return false
}

// Pending is the number of records waiting for a key.
func (s *Session) Pending() int {
	if s.state == nil {
		return 0
	}
	return len(s.state.pending)
}

// Diagnostics returns human-readable lines about the session: weak
// parameters (NULL cipher, versions below 1.2), the first failure of each
// kind with its count, and other notes (e.g. Finished mismatch).
func (s *Session) Diagnostics() []string {
	var out []string
	if s.NullCipher() {
		out = append(out, fmt.Sprintf("NULL cipher suite %s: application data is not encrypted", s.CipherSuiteName()))
	}
	if s.Legacy() {
		out = append(out, fmt.Sprintf("legacy protocol version %s (below 1.2)", s.VersionName()))
	}
	for r := Reason(0); r < numReasons; r++ {
		if s.failures[r] > 0 {
			out = append(out, fmt.Sprintf("%s: %d record(s); first: %s", r, s.failures[r], s.firstFailure[r]))
		}
	}
	if n := s.Pending(); n > 0 {
		out = append(out, fmt.Sprintf("%d record(s) waiting for a key", n))
	}
	if s.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%d duplicate record(s) dropped", s.Duplicates))
	}
	if s.Resyncs > 0 {
		out = append(out, fmt.Sprintf("%d resynchronisation(s) after %d lost byte(s); %d byte(s) skipped to find a record header", s.Resyncs, s.BytesLost, s.BytesSkipped))
	}
	out = append(out, s.notes...)
	if s.notesDropped > 0 {
		out = append(out, fmt.Sprintf("%d further note(s) not kept (the first %d are above)", s.notesDropped, maxNotes))
	}
	return out
}

// fail counts one failure and remembers the first description of its kind.
func (s *Session) fail(r Reason, format string, args ...any) {
	s.failN(r, 1, format, args...)
}

// failN counts n failures of kind r and tells Options.OnFailure.
func (s *Session) failN(r Reason, n int, format string, args ...any) {
	if n <= 0 {
		return
	}
	s.failures[r] += uint64(n)
	if s.firstFailure[r] == "" {
		s.firstFailure[r] = fmt.Sprintf(format, args...)
	}
	if s.onFail != nil {
		s.onFail(s, r, n)
	}
}

const maxNotes = 16

func (s *Session) note(format string, args ...any) {
	if len(s.notes) < maxNotes {
		s.notes = append(s.notes, fmt.Sprintf(format, args...))
	} else {
		s.notesDropped++
	}
}

// CopyInfo copies what s says about itself (its exported fields, failure
// counts, first failures and notes) into dst, without its decryption
// state: a parallel run hands its consumer such copies, taken when each
// record was emitted, while the worker goes on with s.
func (s *Session) CopyInfo(dst *Session) {
	*dst = *s
	dst.key, dst.state, dst.onFail, dst.prev, dst.next = pairKey{}, nil, nil, nil, nil
	dst.notes = slices.Clip(s.notes) // s only appends: the elements seen stay as they are
}

// Progress is what a session's records change as they come: the last
// frame and time, the counts of records decrypted and sent in the clear.
// A parallel run copies it with every record and the rest of the session
// (CopyInfo) only when that changed (SameInfo).
type Progress struct {
	LastFrame            uint64
	LastSeen             time.Time
	Decrypted, Cleartext uint64
}

// Progress returns s's progress.
func (s *Session) Progress() Progress {
	return Progress{LastFrame: s.LastFrame, LastSeen: s.LastSeen, Decrypted: s.Decrypted, Cleartext: s.Cleartext}
}

// SetProgress sets s's progress.
func (s *Session) SetProgress(p Progress) {
	s.LastFrame, s.LastSeen, s.Decrypted, s.Cleartext = p.LastFrame, p.LastSeen, p.Decrypted, p.Cleartext
}

// SameInfo reports whether c, a CopyInfo of s taken earlier, still says
// what s says apart from its Progress: a copy of c with s's Progress is
// then what CopyInfo would give now. (TestSameInfoComparesEveryField
// keeps the list of fields whole.)
func (s *Session) SameInfo(c *Session) bool {
	return s.ID == c.ID && s.Transport == c.Transport && s.Client == c.Client && s.Server == c.Server &&
		s.RolesKnown == c.RolesKnown && s.FirstFrame == c.FirstFrame && s.FirstSeen == c.FirstSeen &&
		s.HandshakeSeen == c.HandshakeSeen && s.HelloVerify == c.HelloVerify && s.Version == c.Version &&
		s.CipherSuite == c.CipherSuite && s.ExtendedMasterSecret == c.ExtendedMasterSecret &&
		s.EncryptThenMAC == c.EncryptThenMAC && s.Resumed == c.Resumed && s.PSKIdentity == c.PSKIdentity &&
		s.ClientCert == c.ClientCert && s.ServerCert == c.ServerCert &&
		s.ClientRandom == c.ClientRandom && s.ServerRandom == c.ServerRandom && s.KeySource == c.KeySource &&
		s.ClientFinishedOK == c.ClientFinishedOK && s.ServerFinishedOK == c.ServerFinishedOK && s.Ended == c.Ended &&
		s.Duplicates == c.Duplicates && s.Recovered == c.Recovered && s.Resyncs == c.Resyncs &&
		s.BytesLost == c.BytesLost && s.BytesSkipped == c.BytesSkipped &&
		s.failures == c.failures && sameStrings(&s.firstFailure, &c.firstFailure) &&
		// notes are only appended to, and a copy's are clipped
		len(s.notes) == len(c.notes) && s.notesDropped == c.notesDropped && s.proven == c.proven
}

// sameStrings tells whether a and b hold the same strings by where they
// lie (a copy that CopyInfo made shares them): nine comparisons of two
// words where comparing the arrays called a function per string (a
// tenth of a parallel run's CPU was SameInfo's; BenchmarkSameInfo: 13 ns
// against 28-34 for the arrays). Equal strings that lie apart count as
// different: that costs a copy, never a missed change.
func sameStrings(a, b *[numReasons]string) bool {
	for i := range a {
		if len(a[i]) != len(b[i]) || len(a[i]) > 0 && unsafe.StringData(a[i]) != unsafe.StringData(b[i]) {
			return false
		}
	}
	return true
}

// sessState is the tracker-private state of a Session.
type sessState struct {
	pt    *tpart // the part of the table it is in
	dtls  bool
	half  [2]halfConn // [0]: records the client sends, [1]: the server's
	reasm [2]dtlsReasm

	slots   [numSlots][]byte
	chSeq   int // DTLS message_seq of the ClientHello in slotCH
	chSeen  bool
	shSeen  bool
	ch, sh  hello
	hsBytes int // bytes held for the handshake (slots + fragments)
	hsDone  bool
	// hsChanged: a transcript message arrived since keys were last sought.
	hsChanged bool
	// finPending: a Finished (per side) arrived before the messages it
	// covers; it is checked when they arrive.
	finPending [2][]byte

	encSeen bool // an encrypted record was seen
	midTLS  bool // TLS session picked up mid-stream

	keys      keyStatus
	keyGen    uint64
	keyReason Reason
	keyMsg    string
	suite     *suiteInfo
	master    []byte

	pending      []pendingRec
	pendingBytes int

	// streamHeld is the capacity of half[*].stream as its part accounts
	// it; sprev/snext link the session in its part's list of the
	// sessions holding such bytes (settleStream): of those holding only
	// empty buffers when sidle.
	streamHeld   int
	sprev, snext *Session
	sidle        bool
}

// SortSessions orders sessions as the tracker lists them: by the frame
// that opened them, then by ID (map order must reach no output).
func SortSessions(ss []*Session) {
	slices.SortFunc(ss, func(x, y *Session) int {
		if c := cmp.Compare(x.FirstFrame, y.FirstFrame); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}
