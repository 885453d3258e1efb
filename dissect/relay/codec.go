package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Version is the envelope encoding's version, the third byte of every
// envelope. A decoder refuses a version it does not know (counted as a
// bad message by the subscriber), so sensors and analyzers of different
// releases fail loudly, not silently.
const Version = 1

// magic opens every envelope: "OS" (ompscope).
const magic0, magic1 = 'O', 'S'

// Kind says what an envelope carries.
type Kind uint8

// The kinds of envelope, one per dissector output the analyzer needs.
const (
	// KindSession: a session's facts (addresses, transport, suite, key
	// source, certificates), sent before the session's first event and
	// again when they change.
	KindSession Kind = 1 + iota
	// KindRecord: one decrypted record of a session (its plaintext: the
	// vdaemon message exactly as it was on the wire, decoded again by the
	// analyzer with the dissector's own codec).
	KindRecord
	// KindGap: records of a session that could not be decrypted.
	KindGap
	// KindEnd: a session ended (close_notify, alert, TCP FIN/RST).
	KindEnd
	// KindTick: the sensor's capture clock reached Time.
	KindTick
	// KindLoss: the sensor dropped events (its publishing buffer was
	// full): Count of them, from Start to Time.
	KindLoss
	// KindFinish: the sensor's run ended; Gaps says what of its capture
	// it could not read.
	KindFinish
	kindEnd
)

var kindNames = [...]string{"", "session", "record", "gap", "end", "tick", "loss", "finish"}

func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Envelope is one message of a sensor's stream. Run and Seq identify it:
// Run is the capture time (Unix ns) of the first event of the sensor's
// run, so that re-running the same capture gives the same envelopes;
// Seq counts the run's envelopes from 1 with no hole.
type Envelope struct {
	Kind    Kind
	Run     uint64
	Seq     uint64
	Time    time.Time // capture time
	Frame   uint64    // the sensor's frame number
	Session uint64    // the session's number in the run (0: none)

	Info *SessionFacts // KindSession
	// Announce (KindSession): the dissector announced the session before
	// any record (its certificates came in the clear handshake); without
	// it the facts only precede the session's next event.
	Announce bool

	FromServer bool   // KindRecord: the DTLS/TLS server sent it
	Plaintext  []byte // KindRecord

	Reason  string    // KindGap
	Records uint64    // KindGap
	Start   time.Time // KindGap (records waiting for a key: since when), KindLoss

	Why string // KindEnd

	Count uint64 // KindLoss

	Gaps []CaptureGap // KindFinish

	stored time.Time // the subscriber's: when the server stored it
	size   int       // the subscriber's: the message bytes it holds (the first of a batch)
}

// SessionFacts is what the sensor knows of a control connection.
type SessionFacts struct {
	ID             string
	Client, Server netip.AddrPort
	Transport      string // dtls, tls; udp, tcp for vdaemon in the clear
	Suite, Version string
	KeySource      string
	NullCipher     bool
	ClientCert     *Cert
	ServerCert     *Cert
}

// Cert is what the sensor read of a certificate.
type Cert struct {
	Time         time.Time
	Frame        uint64
	Empty        bool
	Subject      string
	Issuer       string
	SubjectEmpty bool
	SelfSigned   bool
	SHA256       [32]byte // zero when Empty
	ParseError   string
}

// CaptureGap is a part of a sensor's capture it could not read (as the
// analyzer's capture-gap anomaly reports it).
type CaptureGap struct {
	Reason      string
	Count, Of   uint64
	Unit        string
	What        string
	Detail      string
	Frames      []uint64
	First, Last time.Time
}

// Limits of a decoded envelope: a crafted message cannot make the decoder
// allocate more than its own size allows, and these bound the lists.
const (
	MaxEnvelope = 1 << 20 // NATS's default maximum payload
	maxGaps     = 64
	maxFrames   = 64
)

// Append encodes e after dst.
func (e *Envelope) Append(dst []byte) []byte {
	dst = append(dst, magic0, magic1, Version, byte(e.Kind))
	dst = binary.AppendUvarint(dst, e.Run)
	dst = binary.AppendUvarint(dst, e.Seq)
	dst = appendTime(dst, e.Time)
	dst = binary.AppendUvarint(dst, e.Frame)
	dst = binary.AppendUvarint(dst, e.Session)
	switch e.Kind {
	case KindSession:
		f := e.Info
		if f == nil {
			f = &SessionFacts{}
		}
		dst = appendBool(dst, e.Announce)
		dst = appendString(dst, f.ID)
		dst = appendAddrPort(dst, f.Client)
		dst = appendAddrPort(dst, f.Server)
		dst = appendString(dst, f.Transport)
		dst = appendString(dst, f.Suite)
		dst = appendString(dst, f.Version)
		dst = appendString(dst, f.KeySource)
		dst = appendBool(dst, f.NullCipher)
		dst = appendCert(dst, f.ClientCert)
		dst = appendCert(dst, f.ServerCert)
	case KindRecord:
		dst = appendBool(dst, e.FromServer)
		dst = append(dst, e.Plaintext...)
	case KindGap:
		dst = appendString(dst, e.Reason)
		dst = binary.AppendUvarint(dst, e.Records)
		dst = appendTime(dst, e.Start)
	case KindEnd:
		dst = appendString(dst, e.Why)
	case KindLoss:
		dst = binary.AppendUvarint(dst, e.Count)
		dst = appendTime(dst, e.Start)
	case KindFinish:
		n := min(len(e.Gaps), maxGaps)
		dst = binary.AppendUvarint(dst, uint64(n))
		for _, g := range e.Gaps[:n] {
			dst = appendString(dst, g.Reason)
			dst = binary.AppendUvarint(dst, g.Count)
			dst = binary.AppendUvarint(dst, g.Of)
			dst = appendString(dst, g.Unit)
			dst = appendString(dst, g.What)
			dst = appendString(dst, g.Detail)
			fr := g.Frames[:min(len(g.Frames), maxFrames)]
			dst = binary.AppendUvarint(dst, uint64(len(fr)))
			for _, f := range fr {
				dst = binary.AppendUvarint(dst, f)
			}
			dst = appendTime(dst, g.First)
			dst = appendTime(dst, g.Last)
		}
	}
	return dst
}

// Error is a decode error naming the field and its offset.
type Error struct {
	Field  string
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("relay envelope: %s at offset %d: %s", e.Field, e.Offset, e.Msg)
}

// Decode decodes b into e. Plaintext aliases b; everything else is
// copied. Unknown versions and kinds are errors.
func (e *Envelope) Decode(b []byte) error {
	*e = Envelope{}
	if len(b) > MaxEnvelope {
		return &Error{"envelope", 0, fmt.Sprintf("%d bytes, more than %d", len(b), MaxEnvelope)}
	}
	if len(b) < 4 || b[0] != magic0 || b[1] != magic1 {
		return &Error{"magic", 0, "not an ompscope envelope"}
	}
	if b[2] != Version {
		return &Error{"version", 2, fmt.Sprintf("version %d, this ompscope reads version %d", b[2], Version)}
	}
	e.Kind = Kind(b[3])
	if e.Kind == 0 || e.Kind >= kindEnd {
		return &Error{"kind", 3, fmt.Sprintf("unknown kind %d", b[3])}
	}
	d := decoder{b: b, off: 4}
	e.Run = d.uvarint("run")
	e.Seq = d.uvarint("seq")
	e.Time = d.time("time")
	e.Frame = d.uvarint("frame")
	e.Session = d.uvarint("session")
	switch e.Kind {
	case KindSession:
		f := &SessionFacts{}
		e.Announce = d.bool("announce")
		f.ID = d.string("session id")
		f.Client = d.addrPort("client")
		f.Server = d.addrPort("server")
		f.Transport = d.string("transport")
		f.Suite = d.string("suite")
		f.Version = d.string("version")
		f.KeySource = d.string("key source")
		f.NullCipher = d.bool("null cipher")
		f.ClientCert = d.cert("client certificate")
		f.ServerCert = d.cert("server certificate")
		e.Info = f
	case KindRecord:
		e.FromServer = d.bool("direction")
		if d.err == nil {
			e.Plaintext = b[d.off:]
			d.off = len(b)
		}
	case KindGap:
		e.Reason = d.string("reason")
		e.Records = d.uvarint("records")
		e.Start = d.time("start")
	case KindEnd:
		e.Why = d.string("why")
	case KindLoss:
		e.Count = d.uvarint("count")
		e.Start = d.time("start")
	case KindFinish:
		n := d.uvarint("gaps")
		if n > maxGaps && d.err == nil {
			d.fail("gaps", fmt.Sprintf("%d, more than %d", n, maxGaps))
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			var g CaptureGap
			g.Reason = d.string("gap reason")
			g.Count = d.uvarint("gap count")
			g.Of = d.uvarint("gap of")
			g.Unit = d.string("gap unit")
			g.What = d.string("gap what")
			g.Detail = d.string("gap detail")
			nf := d.uvarint("gap frames")
			if nf > maxFrames && d.err == nil {
				d.fail("gap frames", fmt.Sprintf("%d, more than %d", nf, maxFrames))
			}
			for j := uint64(0); j < nf && d.err == nil; j++ {
				g.Frames = append(g.Frames, d.uvarint("gap frame"))
			}
			g.First = d.time("gap first")
			g.Last = d.time("gap last")
			e.Gaps = append(e.Gaps, g)
		}
	}
	if d.err == nil && d.off != len(b) {
		d.fail("end", fmt.Sprintf("%d bytes left over", len(b)-d.off))
	}
	return d.err
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(field, msg string) {
	if d.err == nil {
		d.err = &Error{field, d.off, msg}
	}
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "truncated or overlong varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "truncated or overlong varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(field, fmt.Sprintf("%d bytes, %d left", n, len(d.b)-d.off))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) bool(field string) bool {
	p := d.bytes(field, 1)
	if p == nil {
		return false
	}
	if p[0] > 1 {
		d.off--
		d.fail(field, fmt.Sprintf("flag %d, not 0 or 1", p[0]))
	}
	return p[0] == 1
}

func (d *decoder) string(field string) string {
	n := d.uvarint(field + " length")
	if n > uint64(len(d.b)) {
		d.fail(field, fmt.Sprintf("length %d past the envelope", n))
		return ""
	}
	return string(d.bytes(field, int(n)))
}

// time: 0 is the zero time, else Unix ns + 1 (zigzag varint).
func (d *decoder) time(field string) time.Time {
	v := d.varint(field)
	if v == 0 || d.err != nil {
		return time.Time{}
	}
	if v > 0 {
		v--
	}
	return time.Unix(0, v) // in the local zone, as the capture readers give times
}

func (d *decoder) addrPort(field string) netip.AddrPort {
	p := d.bytes(field, 1)
	if p == nil {
		return netip.AddrPort{}
	}
	var a netip.Addr
	switch p[0] {
	case 0:
		return netip.AddrPort{}
	case 4:
		if q := d.bytes(field, 4); q != nil {
			a = netip.AddrFrom4([4]byte(q))
		}
	case 16:
		if q := d.bytes(field, 16); q != nil {
			a = netip.AddrFrom16([16]byte(q))
		}
	default:
		d.off--
		d.fail(field, fmt.Sprintf("address length %d, not 0, 4 or 16", p[0]))
		return netip.AddrPort{}
	}
	q := d.bytes(field+" port", 2)
	if q == nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(q))
}

func (d *decoder) cert(field string) *Cert {
	if !d.bool(field) {
		return nil
	}
	c := &Cert{}
	c.Time = d.time(field + " time")
	c.Frame = d.uvarint(field + " frame")
	c.Empty = d.bool(field + " empty")
	c.Subject = d.string(field + " subject")
	c.Issuer = d.string(field + " issuer")
	c.SubjectEmpty = d.bool(field + " subject empty")
	c.SelfSigned = d.bool(field + " self-signed")
	if p := d.bytes(field+" sha256", 32); p != nil {
		c.SHA256 = [32]byte(p)
	}
	c.ParseError = d.string(field + " parse error")
	return c
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(dst, 0)
	}
	v := t.UnixNano()
	if v >= 0 && v < math.MaxInt64 {
		v++
	}
	return binary.AppendVarint(dst, v)
}

func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		return append(dst, 0)
	case a.Is4():
		b := a.As4()
		dst = append(append(dst, 4), b[:]...)
	default:
		b := a.As16()
		dst = append(append(dst, 16), b[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, ap.Port())
}

func appendCert(dst []byte, c *Cert) []byte {
	if c == nil {
		return appendBool(dst, false)
	}
	dst = appendBool(dst, true)
	dst = appendTime(dst, c.Time)
	dst = binary.AppendUvarint(dst, c.Frame)
	dst = appendBool(dst, c.Empty)
	dst = appendString(dst, c.Subject)
	dst = appendString(dst, c.Issuer)
	dst = appendBool(dst, c.SubjectEmpty)
	dst = appendBool(dst, c.SelfSigned)
	dst = append(dst, c.SHA256[:]...)
	return appendString(dst, c.ParseError)
}

// A batch is how envelopes travel: one NATS message holds up to
// BatchMax envelopes (or BatchBytes), each preceded by its length
// (uvarint), after "OB" and the version. The work is per NATS message, in
// the client and in the server: one envelope per message published
// 31 600 envelopes/s, batches 109 000 (pcaps/bench/relay.sh,
// docs/performance.md).
const (
	batch0     = 'B'
	BatchMax   = 64
	BatchBytes = 64 << 10
)

// AppendBatchHeader starts a batch.
func AppendBatchHeader(dst []byte) []byte { return append(dst, magic0, batch0, Version) }

// AppendToBatch adds e to a batch begun with AppendBatchHeader.
func AppendToBatch(dst []byte, e *Envelope) []byte {
	// the length first: encode after a 3-byte hole, then move the
	// envelope if its length takes another size (copy moves overlapping
	// bytes correctly either way)
	start := len(dst)
	dst = append(dst, 0, 0, 0)
	dst = e.Append(dst)
	n := len(dst) - start - 3
	var l [binary.MaxVarintLen64]byte
	ln := binary.PutUvarint(l[:], uint64(n))
	if ln > 3 {
		dst = append(dst, make([]byte, ln-3)...)
	}
	if ln != 3 {
		copy(dst[start+ln:start+ln+n], dst[start+3:start+3+n])
		dst = dst[:start+ln+n]
	}
	copy(dst[start:], l[:ln])
	return dst
}

// IsBatch reports whether a message is a batch (else a single envelope).
func IsBatch(b []byte) bool { return len(b) >= 2 && b[0] == magic0 && b[1] == batch0 }

// SplitBatch calls fn with each envelope of a batch, in order; it stops
// at the first envelope that does not decode and returns its error (the
// envelopes before it were given). Plaintexts alias b.
func SplitBatch(b []byte, fn func(e *Envelope)) error {
	if len(b) > MaxEnvelope {
		return &Error{"batch", 0, fmt.Sprintf("%d bytes, more than %d", len(b), MaxEnvelope)}
	}
	if !IsBatch(b) || len(b) < 3 {
		return &Error{"magic", 0, "not an ompscope batch"}
	}
	if b[2] != Version {
		return &Error{"version", 2, fmt.Sprintf("version %d, this ompscope reads version %d", b[2], Version)}
	}
	off := 3
	for i := 0; off < len(b); i++ {
		if i >= BatchMax {
			return &Error{"batch", off, fmt.Sprintf("more than %d envelopes", BatchMax)}
		}
		n, ln := binary.Uvarint(b[off:])
		if ln <= 0 || n > uint64(len(b)-off-ln) {
			return &Error{"envelope length", off, "truncated, overlong or past the batch"}
		}
		off += ln
		e := &Envelope{}
		if err := e.Decode(b[off : off+int(n)]); err != nil {
			var de *Error
			if errors.As(err, &de) {
				de.Offset += off
			}
			return err
		}
		off += int(n)
		fn(e)
	}
	if off == 3 {
		return &Error{"batch", 3, "no envelope"}
	}
	return nil
}
