package tlsdec

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/ompscope/ompscope/dissect/internal/part"
)

// The session table: sessions by endpoint pair, in least-recently-active
// order, with the limits that bound the tracker's memory.

// Options bound the Tracker's memory. Zero values select the defaults.
type Options struct {
	// MaxSessions caps the sessions tracked at once (default 4096). When a
	// new session would exceed it, the least recently active session that
	// has not proven itself is evicted, else the least recently active one
	// (counted in Stats.SessionsEvicted, passed to OnEvict). A session
	// proves itself with a ServerHello, an encrypted record or a record
	// decrypted; until then it is one of the unproven, which
	// MaxUnproven caps on their own (default MaxSessions/8, at least 16):
	// a flood of one-packet flows (a ClientHello each) holds at most that
	// many sessions, about 3 KB each, and never pushes out a live one.
	MaxSessions int
	MaxUnproven int
	// MaxHandshakeBytes caps the handshake bytes held per session for
	// reassembly and the handshake hash (default 128 KiB); it is also the
	// largest handshake message accepted. MaxTotalHandshakeBytes caps the
	// sum over all sessions (default 64 MiB).
	MaxHandshakeBytes      int
	MaxTotalHandshakeBytes int
	// MaxPendingRecords and MaxPendingBytes cap the encrypted records kept
	// per session while waiting for a key (defaults 256 records, 1 MiB);
	// MaxTotalPendingBytes caps the sum over all sessions (default 64 MiB).
	// A negative MaxPendingRecords disables the queue.
	MaxPendingRecords    int
	MaxPendingBytes      int
	MaxTotalPendingBytes int
	// MaxTotalRecordBytes caps the bytes held over all sessions for TLS
	// records still incomplete (a record split across TCP segments, or
	// the bytes searched for the next record header after lost bytes;
	// default 64 MiB; a session holds at most maxRecordHeld of them).
	// Past it, the least recently active sessions holding such bytes let
	// go of them: the bytes are counted as skipped (Session.BytesSkipped,
	// Stats.RecordBytesDropped), the record as a lost-sync failure, and
	// the direction resynchronises on the next record.
	MaxTotalRecordBytes int
	// ResyncWindow caps how many sequence numbers are tried for a TLS
	// record after bytes were lost (default 256). The tracker tries as many
	// as the lost bytes could have held records (21 bytes each at least),
	// up to this cap. (AES-GCM/CCM records are found at once from their
	// explicit nonce, which implementations set to the sequence number.)
	ResyncWindow int
	// Parts cuts the table into parts by the sessions' pair of IP
	// addresses (dissect/internal/part), each holding its share of
	// MaxSessions, MaxUnproven, MaxTotalHandshakeBytes and
	// MaxTotalPendingBytes, with its own order of activity: a full part
	// evicts from itself. A part's byte shares are never less than one
	// session's own limits (MaxHandshakeBytes, MaxPendingBytes), so the
	// parts together may hold more than the totals when those are small
	// (parts × the limit). Default 1 (one table), at most 64. A dissector
	// sets it from its configuration alone, and gives a parallel run's
	// workers whole parts, so that what a full table evicts does not
	// depend on the number of workers.
	Parts int
	// OnEvict, if set, is called with each session evicted by MaxSessions.
	OnEvict func(*Session)
	// OnCertificate, if set, is called when a session learns a side's
	// certificate (Session.ClientCert or ServerCert was just set; the
	// handshake is in the clear, so this comes with or without a key).
	OnCertificate func(*Session)
	// OnFailure, if set, is called each time n records of s could not be
	// decrypted for reason r (s.LastSeen and s.LastFrame say when), so a
	// consumer can report the spans the analysis could not see.
	OnFailure func(s *Session, r Reason, n int)
}

// WithDefaults returns o with the defaults in place of its zero values.
func (o Options) WithDefaults() Options {
	o.defaults()
	return o
}

func (o *Options) defaults() {
	if o.MaxSessions <= 0 {
		o.MaxSessions = 4096
	}
	if o.MaxUnproven <= 0 {
		o.MaxUnproven = max(o.MaxSessions/8, 16)
	}
	if o.MaxHandshakeBytes <= 0 {
		o.MaxHandshakeBytes = 128 << 10
	}
	if o.MaxTotalHandshakeBytes <= 0 {
		o.MaxTotalHandshakeBytes = 64 << 20
	}
	if o.MaxTotalPendingBytes <= 0 {
		o.MaxTotalPendingBytes = 64 << 20
	}
	if o.MaxTotalRecordBytes <= 0 {
		o.MaxTotalRecordBytes = 64 << 20
	}
	if o.MaxPendingRecords == 0 {
		o.MaxPendingRecords = 256
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 1 << 20
	}
	if o.ResyncWindow <= 0 {
		o.ResyncWindow = 256
	}
	o.Parts = min(max(o.Parts, 1), part.Max)
}

// Stats are tracker-wide counters.
type Stats struct {
	Datagrams       uint64 // DTLS datagrams given to DTLSDatagram
	NotDTLS         uint64 // datagrams of no session whose first record is not DTLS
	TLSChunks       uint64 // chunks given to TLSData
	SessionsCreated uint64
	SessionsEvicted uint64
	// RecordDrops counts the incomplete TLS records (or resync bytes)
	// dropped by MaxTotalRecordBytes, RecordBytesDropped their bytes.
	RecordDrops        uint64
	RecordBytesDropped uint64
}

// Role tells TLSData which side of a TCP connection src is, when the layer
// below knows it (it saw the SYN).
type Role uint8

const (
	RoleUnknown Role = iota
	RoleClient       // src is the TCP client
	RoleServer       // src is the TCP server
)

// Tracker follows DTLS and TLS sessions and decrypts their records. It is
// not safe for concurrent use: drive it from one goroutine. The KeyStore it
// reads may be filled concurrently.
type Tracker struct {
	keys      *KeyStore
	opt       Options
	sessions  map[pairKey]*Session // through lookup, setSession, dropSession
	recent    sessCache            // in front of sessions
	certs     map[string]*CertInfo // Certificate messages read (certInfo)
	certBytes int                  // the bytes of their keys
	parts     []tpart
	lim       partLimits // each part's
	count     int        // sessions in all parts
	keyGen    uint64
	keyLimit  uint64 // SetKeyLimit
	waiting   map[*Session]struct{}
	stats     Stats
	rec       Record
	out       func(*Record) // the callback of the current call (DTLSDatagram, TLSData, Retry)
	buf       []byte        // decrypted plaintext, shared: valid during emit only
}

// tpart is a part of the session table (Options.Parts): its sessions in
// order of activity, and what they hold.
type tpart struct {
	head, tail   *Session // the proven, most recently active first
	uhead, utail *Session // the unproven, most recently active first
	count        int      // both
	ucount       int      // the unproven
	hsTotal      int      // handshake bytes held by its sessions
	pendingTotal int      // pending record bytes held by its sessions
	// the sessions holding incomplete TLS records, and those holding
	// only empty record buffers, least recently active first, and the
	// capacity of their buffers (settleStream)
	shead, stail *Session
	ihead, itail *Session
	streamTotal  int
}

// partLimits are a part's shares of the table's limits.
type partLimits struct {
	sessions, unproven, hs, pending, stream int
}

// pairKey names the two endpoints of a session, in either order, and its
// transport. Its fields are two netip.Addr (their bits and the handle
// that tells IPv4, IPv6 and a zone apart) and one word for the ports and
// the transport, with no padding, so the session map hashes and compares
// it as one block of memory: a key of two netip.AddrPort (a port and
// padding after each address) was hashed field by field, a tenth of
// `dissect -q`.
type pairKey struct {
	a, b  netip.Addr
	ports uint64 // a's port <<32 | b's port <<16 | TLS
}

// sessCache is a small direct-mapped cache in front of the session map:
// a slot holds a key and its session, or nothing. The records of a few
// sessions come interleaved, and the map's lookup (hashing the 56-byte
// key, comparing it through memequal) was about 200 of the 3 550
// instructions `dissect -q -j 1` spent on a small record (cachegrind,
// 200 000 packets of the 10 h GCM capture: 710 → 678 M instructions
// with the cache and its field-by-field comparison). A slot never
// disagrees with the map: setSession and dropSession change both, and
// lookup fills a slot only with what the map holds
// (TestSessionCacheFollowsTheMap).
type sessCache [sessCacheSlots]sessSlot

type sessSlot struct {
	key pairKey
	s   *Session
}

const sessCacheSlots = 64

// slot mixes the ports and the last bytes of both addresses.
func (k *pairKey) slot() int {
	a, b := k.a.As16(), k.b.As16()
	h := k.ports ^ uint64(binary.BigEndian.Uint32(a[12:]))<<8 ^ uint64(binary.BigEndian.Uint32(b[12:]))<<24
	return int((h * 0x9e3779b97f4a7c15) >> 58)
}

// same is k == o, field by field (== on the struct compares its 56 bytes
// through memequal).
func (k *pairKey) same(o *pairKey) bool {
	return k.ports == o.ports && k.a == o.a && k.b == o.b
}

// lookup returns the session between key's endpoints, or nil.
func (t *Tracker) lookup(key pairKey) *Session {
	c := &t.recent[key.slot()]
	if c.s != nil && c.key.same(&key) {
		return c.s
	}
	s := t.sessions[key]
	if s != nil {
		*c = sessSlot{key, s}
	}
	return s
}

func (t *Tracker) setSession(key pairKey, s *Session) {
	t.sessions[key] = s
	t.recent[key.slot()] = sessSlot{key, s}
}

func (t *Tracker) dropSession(key pairKey) {
	delete(t.sessions, key)
	if c := &t.recent[key.slot()]; c.s != nil && c.key.same(&key) {
		*c = sessSlot{}
	}
}

func makePairKey(x, y netip.AddrPort, tls bool) pairKey {
	if y.Compare(x) < 0 {
		x, y = y, x
	}
	k := pairKey{a: x.Addr(), b: y.Addr(), ports: uint64(x.Port())<<32 | uint64(y.Port())<<16}
	if tls {
		k.ports |= 1
	}
	return k
}

// NewTracker returns a tracker reading keys from keys (which may be nil:
// nothing is then decrypted, handshakes are still followed).
func NewTracker(keys *KeyStore, opts Options) *Tracker {
	if keys == nil {
		keys = NewKeyStore()
	}
	opts.defaults()
	n := opts.Parts
	return &Tracker{
		keys:  keys,
		opt:   opts,
		parts: make([]tpart, n),
		lim: partLimits{sessions: part.Share(opts.MaxSessions, n, 1), unproven: part.Share(opts.MaxUnproven, n, 1),
			hs:      part.Share(opts.MaxTotalHandshakeBytes, n, opts.MaxHandshakeBytes),
			pending: part.Share(opts.MaxTotalPendingBytes, n, opts.MaxPendingBytes),
			stream:  part.Share(opts.MaxTotalRecordBytes, n, maxRecordHeld)},
		sessions: map[pairKey]*Session{},
		waiting:  map[*Session]struct{}{},
		keyGen:   keys.Generation(),
		buf:      make([]byte, 0, maxCiphertext),
	}
}

// Stats returns the tracker-wide counters.
func (t *Tracker) Stats() Stats { return t.stats }

// Sessions returns the sessions currently tracked (including ended ones not
// yet evicted), ordered by first frame.
func (t *Tracker) Sessions() []*Session {
	out := make([]*Session, 0, t.count)
	for i := range t.parts {
		for _, h := range []*Session{t.parts[i].head, t.parts[i].uhead} {
			for s := h; s != nil; s = s.next {
				out = append(out, s)
			}
		}
	}
	SortSessions(out)
	return out
}

// --- LRU: two lists, the proven sessions and the unproven ---

// provenNow reports whether s has proven itself: a ServerHello, an
// encrypted record or a decrypted one (a lone ClientHello has not).
func provenNow(s *Session) bool {
	return s.Decrypted > 0 || s.state.shSeen || s.state.encSeen
}

func (t *Tracker) list(s *Session) (head, tail **Session) {
	pt := s.state.pt
	if s.proven {
		return &pt.head, &pt.tail
	}
	return &pt.uhead, &pt.utail
}

// touch makes s the most recently active of its list, moving it to the
// proven once it has proven itself.
func (t *Tracker) touch(s *Session) {
	if !s.proven && provenNow(s) {
		t.unlink(s)
		s.proven = true
		s.state.pt.ucount--
	}
	head, tail := t.list(s)
	if *head == s {
		return
	}
	t.unlink(s)
	s.next = *head
	if *head != nil {
		(*head).prev = s
	}
	*head = s
	if *tail == nil {
		*tail = s
	}
}

func (t *Tracker) unlink(s *Session) {
	head, tail := t.list(s)
	if s.prev != nil {
		s.prev.next = s.next
	} else if *head == s {
		*head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else if *tail == s {
		*tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// victim is the session a full part gives up: the least recently active
// unproven one, else the least recently active.
func (pt *tpart) victim() *Session {
	if pt.utail != nil {
		return pt.utail
	}
	return pt.tail
}

// partOf is the part of the table a session between a and b belongs to.
func (t *Tracker) partOf(a, b netip.Addr) *tpart {
	if len(t.parts) == 1 {
		return &t.parts[0]
	}
	return &t.parts[part.Of(part.Hash(a, b), len(t.parts))]
}

func (t *Tracker) newSession(key pairKey, client, server netip.AddrPort, transport string, ts time.Time, frame uint64) *Session {
	pt := t.partOf(client.Addr(), server.Addr())
	for pt.count > 0 && (pt.count >= t.lim.sessions || pt.ucount >= t.lim.unproven && pt.utail != nil) {
		t.evict(pt.victim())
	}
	s := &Session{
		ID: sessionID(transport, client, server, frame), Transport: transport,
		Client: client, Server: server, FirstFrame: frame, LastFrame: frame,
		FirstSeen: ts, LastSeen: ts, key: key,
		state: &sessState{dtls: transport == "dtls", chSeq: -1, pt: pt}, onFail: t.opt.OnFailure,
	}
	if old := t.lookup(key); old != nil {
		old.Ended = true
	}
	t.setSession(key, s)
	t.count++
	pt.count++
	pt.ucount++
	t.stats.SessionsCreated++
	t.touch(s)
	return s
}

func (t *Tracker) evict(s *Session) {
	t.unlink(s)
	t.count--
	s.state.pt.count--
	if !s.proven {
		s.state.pt.ucount--
	}
	if t.lookup(s.key) == s {
		t.dropSession(s.key)
	}
	if len(s.state.pending) > 0 {
		t.dropPending(s)
	}
	t.hsAdd(s.state, -s.state.hsBytes)
	t.streamRelease(s)
	releaseBuffers(s.state)
	t.stats.SessionsEvicted++
	if t.opt.OnEvict != nil {
		t.opt.OnEvict(s)
	}
}

// releaseBuffers lets go of what an evicted session held to decrypt: the
// handshake's messages and fragments, a TLS record or handshake message
// still incomplete. The Session itself may stay referenced a while (a
// listing, a relay's encoder, the cmd's session infos: up to 65 536 of
// them), and with it, before, up to the handshake limit and two TLS
// records' worth of bytes each, outside every budget. The rest of the
// state (keys, cipher, counters) is small and stays, so that nothing that
// still looks at the session finds it half made.
func releaseBuffers(st *sessState) {
	st.slots = [numSlots][]byte{}
	st.reasm = [2]dtlsReasm{}
	st.finPending = [2][]byte{}
	st.hsBytes = 0
	for i := range st.half {
		st.half[i].stream, st.half[i].hsBuf = nil, nil
	}
}

// --- emission ---

func sessionID(transport string, client, server interface{ String() string }, frame uint64) string {
	return fmt.Sprintf("%s:%s>%s#%d", transport, client.String(), server.String(), frame)
}
