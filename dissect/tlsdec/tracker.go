package tlsdec

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sort"
	"time"
)

// Options bound the Tracker's memory. Zero values select the defaults.
type Options struct {
	// MaxSessions caps the sessions tracked at once (default 4096). When a
	// new session would exceed it, the least recently active one is
	// evicted (counted in Stats.SessionsEvicted, passed to OnEvict).
	MaxSessions int
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
	// ResyncWindow caps how many sequence numbers are tried for a TLS
	// record after bytes were lost (default 256). The tracker tries as many
	// as the lost bytes could have held records (21 bytes each at least),
	// up to this cap. (AES-GCM/CCM records are found at once from their
	// explicit nonce, which implementations set to the sequence number.)
	ResyncWindow int
	// OnEvict, if set, is called with each session evicted by MaxSessions.
	OnEvict func(*Session)
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
	if o.MaxHandshakeBytes <= 0 {
		o.MaxHandshakeBytes = 128 << 10
	}
	if o.MaxTotalHandshakeBytes <= 0 {
		o.MaxTotalHandshakeBytes = 64 << 20
	}
	if o.MaxTotalPendingBytes <= 0 {
		o.MaxTotalPendingBytes = 64 << 20
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
}

// Stats are tracker-wide counters.
type Stats struct {
	Datagrams       uint64 // DTLS datagrams given to DTLSDatagram
	NotDTLS         uint64 // datagrams of no session whose first record is not DTLS
	TLSChunks       uint64 // chunks given to TLSData
	SessionsCreated uint64
	SessionsEvicted uint64
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
	keys     *KeyStore
	opt      Options
	sessions map[pairKey]*Session
	head     *Session // most recently active
	tail     *Session
	count    int
	keyGen   uint64
	keyLimit uint64 // SetKeyLimit
	waiting  map[*Session]struct{}
	stats    Stats
	rec      Record
	buf      []byte // decrypted plaintext, shared: valid during emit only

	hsTotal      int // handshake bytes held by all sessions
	pendingTotal int // pending record bytes held by all sessions
}

// hsRoom reports whether n more handshake bytes fit the session's and the
// tracker's bounds.
func (t *Tracker) hsRoom(st *sessState, n int) bool {
	return st.hsBytes+n <= t.opt.MaxHandshakeBytes && t.hsTotal+n <= t.opt.MaxTotalHandshakeBytes
}

// hsAdd accounts n (possibly negative) handshake bytes.
func (t *Tracker) hsAdd(st *sessState, n int) {
	st.hsBytes += n
	t.hsTotal += n
}

type pairKey struct {
	a, b netip.AddrPort
	tls  bool
}

func makePairKey(x, y netip.AddrPort, tls bool) pairKey {
	if y.Compare(x) < 0 {
		x, y = y, x
	}
	return pairKey{x, y, tls}
}

// NewTracker returns a tracker reading keys from keys (which may be nil:
// nothing is then decrypted, handshakes are still followed).
func NewTracker(keys *KeyStore, opts Options) *Tracker {
	if keys == nil {
		keys = NewKeyStore()
	}
	opts.defaults()
	return &Tracker{
		keys:     keys,
		opt:      opts,
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
	for s := t.head; s != nil; s = s.next {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].FirstFrame != out[j].FirstFrame {
			return out[i].FirstFrame < out[j].FirstFrame
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// --- LRU ---

func (t *Tracker) touch(s *Session) {
	if t.head == s {
		return
	}
	t.unlink(s)
	s.next = t.head
	if t.head != nil {
		t.head.prev = s
	}
	t.head = s
	if t.tail == nil {
		t.tail = s
	}
}

func (t *Tracker) unlink(s *Session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if t.head == s {
		t.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else if t.tail == s {
		t.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (t *Tracker) newSession(key pairKey, client, server netip.AddrPort, transport string, ts time.Time, frame uint64) *Session {
	for t.count >= t.opt.MaxSessions && t.tail != nil {
		t.evict(t.tail)
	}
	s := &Session{
		ID: sessionID(transport, client, server, frame), Transport: transport,
		Client: client, Server: server, FirstFrame: frame, LastFrame: frame,
		FirstSeen: ts, LastSeen: ts, key: key,
		state: &sessState{dtls: transport == "dtls", chSeq: -1}, onFail: t.opt.OnFailure,
	}
	if old := t.sessions[key]; old != nil {
		old.Ended = true
	}
	t.sessions[key] = s
	t.count++
	t.stats.SessionsCreated++
	t.touch(s)
	return s
}

func (t *Tracker) evict(s *Session) {
	t.unlink(s)
	t.count--
	if t.sessions[s.key] == s {
		delete(t.sessions, s.key)
	}
	if len(s.state.pending) > 0 {
		t.dropPending(s)
	}
	t.hsAdd(s.state, -s.state.hsBytes)
	t.stats.SessionsEvicted++
	if t.opt.OnEvict != nil {
		t.opt.OnEvict(s)
	}
}

// --- emission ---

func (t *Tracker) emit(emit func(*Record), s *Session, side int, ts time.Time, frame uint64, typ uint8, epoch uint16, seq uint64, decrypted bool, pt []byte) {
	if decrypted {
		s.Decrypted++
	} else {
		s.Cleartext++
	}
	if emit == nil {
		return
	}
	dir := DirUnknown
	if s.RolesKnown {
		dir = Direction(side + 1)
	}
	t.rec = Record{Session: s, Dir: dir, Time: ts, Frame: frame, ContentType: typ,
		Epoch: epoch, Seq: seq, Decrypted: decrypted, Plaintext: pt}
	emit(&t.rec)
}

// --- keys arriving late ---

// SetKeyLimit makes the tracker see only the keys the store held at
// generation g (KeyStore.Generation; 0: every key). A worker of a parallel
// run (dissect's -j) gets the generation its packets were read at, so it
// decrypts what one tracker reading them in order would have.
func (t *Tracker) SetKeyLimit(g uint64) { t.keyLimit = g }

// keyGeneration is the store's generation as the tracker sees it.
func (t *Tracker) keyGeneration() uint64 {
	g := t.keys.Generation()
	if t.keyLimit != 0 && g > t.keyLimit {
		g = t.keyLimit
	}
	return g
}

// checkKeys retries waiting sessions when the key store changed.
func (t *Tracker) checkKeys(emit func(*Record)) {
	if g := t.keyGeneration(); g != t.keyGen {
		t.keyGen = g
		t.Retry(emit)
	}
}

// Retry tries again to find keys for the sessions that have records
// waiting, and emits the records that can now be decrypted. The tracker
// does this by itself on its next DTLSDatagram / TLSData call after the
// KeyStore changed; call Retry to flush without new traffic.
func (t *Tracker) Retry(emit func(*Record)) {
	if len(t.waiting) == 0 {
		return
	}
	for _, s := range t.waitingInOrder() {
		if ok, _, _ := t.ensureKeys(s); ok {
			t.flushPending(s, emit)
		}
	}
}

// Finish gives up on records still waiting for keys, counting them as
// failures (no-key). Call it at the end of a capture file.
func (t *Tracker) Finish() {
	for _, s := range t.waitingInOrder() {
		t.dropPending(s)
	}
}

// waitingInOrder lists the sessions with records waiting for keys in the
// order they began (the map's own order must not reach any output).
func (t *Tracker) waitingInOrder() []*Session {
	list := make([]*Session, 0, len(t.waiting))
	for s := range t.waiting {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].FirstFrame != list[j].FirstFrame {
			return list[i].FirstFrame < list[j].FirstFrame
		}
		return list[i].ID < list[j].ID
	})
	return list
}

func (t *Tracker) dropPending(s *Session) {
	st := s.state
	if n := len(st.pending); n > 0 {
		s.failN(ReasonNoKey, n, "%s", st.keyMsg)
	}
	t.pendingTotal -= st.pendingBytes
	st.pending, st.pendingBytes = nil, 0
	delete(t.waiting, s)
}

// queue keeps an encrypted record until a key arrives, or counts it.
func (t *Tracker) queue(s *Session, p pendingRec, body []byte, reason Reason, msg string) {
	st := s.state
	if reason != ReasonNoKey {
		s.fail(reason, "frame %d: %s", p.frame, msg)
		return
	}
	if t.opt.MaxPendingRecords < 0 || len(st.pending) >= t.opt.MaxPendingRecords ||
		st.pendingBytes+len(body) > t.opt.MaxPendingBytes ||
		t.pendingTotal+len(body) > t.opt.MaxTotalPendingBytes {
		s.fail(ReasonNoKey, "%s", msg)
		return
	}
	p.data = bytes.Clone(body)
	st.pending = append(st.pending, p)
	st.pendingBytes += len(body)
	t.pendingTotal += len(body)
	t.waiting[s] = struct{}{}
}

// flushPending decrypts the queued records of a session whose keys became
// ready.
func (t *Tracker) flushPending(s *Session, emit func(*Record)) {
	st := s.state
	list := st.pending
	t.pendingTotal -= st.pendingBytes
	st.pending, st.pendingBytes = nil, 0
	delete(t.waiting, s)
	for _, p := range list {
		before := s.Decrypted
		if st.dtls {
			t.dtlsDecrypt(s, int(p.side), p.ts, p.frame, p.typ, p.ver, p.epoch, p.seq, p.data, emit)
		} else {
			t.tlsDecrypt(s, int(p.side), p.ts, p.frame, p.typ, p.ver, p.seq, true, p.data, emit)
		}
		s.Recovered += s.Decrypted - before
	}
}

// --- DTLS ---

const dtlsRecordHeaderLen = 13

// IsDTLS reports whether payload looks like one or more DTLS records: each
// header with content type 20..25, version 0xfefd or 0xfeff, a plausible
// epoch (< 256; epoch 0 only for handshake, alert and ChangeCipherSpec) and
// sequence number (< 2^32), and a length that fits, the records filling the
// datagram exactly. It lets the layer below pick up DTLS on any UDP port.
func IsDTLS(payload []byte) bool {
	if len(payload) < dtlsRecordHeaderLen {
		return false
	}
	for len(payload) > 0 {
		n, ok := dtlsHeaderOK(payload)
		if !ok || payload[5] != 0 || payload[6] != 0 {
			return false
		}
		if payload[4] == 0 && payload[0] > ContentHandshake {
			return false
		}
		payload = payload[dtlsRecordHeaderLen+n:]
	}
	return true
}

// dtlsHeaderOK checks one record header and returns its body length.
func dtlsHeaderOK(b []byte) (int, bool) {
	if len(b) < dtlsRecordHeaderLen {
		return 0, false
	}
	if b[0] < ContentChangeCipherSpec || b[0] > ContentTLS12CID {
		return 0, false
	}
	if v := binary.BigEndian.Uint16(b[1:3]); v != 0xfefd && v != 0xfeff {
		return 0, false
	}
	if b[3] != 0 { // epoch >= 256: not a plausible session
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[11:13]))
	if n > maxCiphertext || n > len(b)-dtlsRecordHeaderLen {
		return 0, false
	}
	return n, true
}

// DTLSDatagram processes one UDP datagram of a DTLS session between src and
// dst. Records that are decrypted (or were sent in the clear) are passed to
// emit in order; the Record and its Plaintext are valid during the call
// only. emit may be nil.
func (t *Tracker) DTLSDatagram(src, dst netip.AddrPort, ts time.Time, frame uint64, payload []byte, emit func(*Record)) {
	t.stats.Datagrams++
	t.checkKeys(emit)
	key := makePairKey(src, dst, false)
	s := t.sessions[key]
	if s == nil || t.newHandshake(s, payload) {
		if _, ok := dtlsHeaderOK(payload); !ok {
			if s == nil {
				t.stats.NotDTLS++
				return
			}
		} else {
			client, server, known := dtlsRoles(src, dst, payload)
			s = t.newSession(key, client, server, "dtls", ts, frame)
			s.RolesKnown = known
		}
	}
	t.touch(s)
	s.LastFrame, s.LastSeen = frame, ts
	side := 0
	if src != s.Client {
		side = 1
	}
	off := 0
	for off < len(payload) {
		b := payload[off:]
		n, ok := dtlsHeaderOK(b)
		if !ok {
			s.fail(ReasonMalformed, "frame %d: dtls record at datagram byte %d: %s", frame, off, dtlsHeaderProblem(b))
			return
		}
		typ := b[0]
		ver := binary.BigEndian.Uint16(b[1:3])
		epoch := binary.BigEndian.Uint16(b[3:5])
		seq := uint64(binary.BigEndian.Uint16(b[5:7]))<<32 | uint64(binary.BigEndian.Uint32(b[7:11]))
		body := b[dtlsRecordHeaderLen : dtlsRecordHeaderLen+n]
		off += dtlsRecordHeaderLen + n
		t.dtlsRecord(s, side, ts, frame, typ, ver, epoch, seq, body, emit)
	}
}

// dtlsHeaderProblem names what is wrong with a record header.
func dtlsHeaderProblem(b []byte) string {
	switch {
	case len(b) < dtlsRecordHeaderLen:
		return "header truncated: " + itoa(len(b)) + " of 13 bytes"
	case b[0] < ContentChangeCipherSpec || b[0] > ContentTLS12CID:
		return "content type " + itoa(int(b[0])) + " (offset 0) is not 20..25"
	case binary.BigEndian.Uint16(b[1:3]) != 0xfefd && binary.BigEndian.Uint16(b[1:3]) != 0xfeff:
		return "version " + VersionName(binary.BigEndian.Uint16(b[1:3])) + " (offset 1) is not DTLS"
	case b[3] != 0:
		return "epoch " + itoa(int(binary.BigEndian.Uint16(b[3:5]))) + " (offset 3) is implausible"
	}
	n := int(binary.BigEndian.Uint16(b[11:13]))
	return "length " + itoa(n) + " (offset 11) exceeds the " + itoa(min(maxCiphertext, len(b)-dtlsRecordHeaderLen)) + " bytes available"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// firstHandshake returns the first handshake message type and, for a
// ClientHello, its random, when payload starts with an epoch-0 DTLS
// handshake record holding the message's first fragment.
func firstDTLSHandshake(payload []byte) (typ uint8, random []byte, ok bool) {
	n, hok := dtlsHeaderOK(payload)
	if !hok || payload[0] != ContentHandshake || payload[3] != 0 || payload[4] != 0 || n < dtlsHSHeaderLen {
		return 0, nil, false
	}
	hs := payload[dtlsRecordHeaderLen : dtlsRecordHeaderLen+n]
	hh, err := parseDTLSHandshakeHeader(hs)
	if err != nil || hh.fragOff != 0 {
		return 0, nil, false
	}
	if hh.typ == hsClientHello && hh.fragLen >= 34 {
		random = hs[dtlsHSHeaderLen+2 : dtlsHSHeaderLen+34]
	}
	return hh.typ, random, true
}

// dtlsRoles guesses client and server from the first datagram.
func dtlsRoles(src, dst netip.AddrPort, payload []byte) (client, server netip.AddrPort, known bool) {
	typ, _, ok := firstDTLSHandshake(payload)
	if ok {
		switch typ {
		case hsClientHello, hsClientKeyExchange, hsCertificateVerify:
			return src, dst, true
		case hsServerHello, hsHelloVerifyRequest, hsServerKeyExchange, hsCertificateRequest, hsServerHelloDone, hsNewSessionTicket:
			return dst, src, true
		}
	}
	return src, dst, false
}

// newHandshake reports whether payload starts a new handshake on the
// endpoints of s: a ClientHello with another random, or any ClientHello
// after encrypted traffic of a session whose hello was not seen.
func (t *Tracker) newHandshake(s *Session, payload []byte) bool {
	typ, random, ok := firstDTLSHandshake(payload)
	if !ok || typ != hsClientHello || random == nil {
		return false
	}
	st := s.state
	if st.chSeen {
		return !bytes.Equal(random, s.ClientRandom[:])
	}
	return st.encSeen
}

func (t *Tracker) dtlsRecord(s *Session, side int, ts time.Time, frame uint64, typ uint8, ver, epoch uint16, seq uint64, body []byte, emit func(*Record)) {
	st := s.state
	h := &st.half[side]
	if typ == ContentTLS12CID {
		s.fail(ReasonUnsupportedFeature, "frame %d: DTLS connection-ID record (type 25) is not supported", frame)
		return
	}
	switch {
	case epoch == 0:
		if h.win[0].seen(seq) {
			s.Duplicates++
			return
		}
		switch typ {
		case ContentHandshake:
			h.win[0].mark(seq)
			t.dtlsHandshake(s, side, frame, body, 0)
			t.emit(emit, s, side, ts, frame, typ, epoch, seq, false, body)
			t.retryAfterHandshake(s, emit)
			return
		case ContentAlert:
			if len(body) != 2 {
				s.fail(ReasonMalformed, "frame %d: epoch-0 alert of %d bytes, want 2", frame, len(body))
				return
			}
			h.win[0].mark(seq)
		case ContentChangeCipherSpec:
			if len(body) != 1 || body[0] != 1 {
				s.fail(ReasonMalformed, "frame %d: ChangeCipherSpec body is not the single byte 1", frame)
				return
			}
			h.win[0].mark(seq)
		default:
			s.fail(ReasonMalformed, "frame %d: content type %d in epoch 0 (unencrypted) is not allowed", frame, typ)
			return
		}
		t.emit(emit, s, side, ts, frame, typ, epoch, seq, false, body)
	case epoch == 1:
		st.encSeen = true
		if st.keys != keyReady {
			ok, reason, msg := t.ensureKeys(s)
			if !ok {
				if t.nullClear(s, side, ts, frame, typ, epoch, seq, body, emit) {
					return
				}
				t.queue(s, pendingRec{side: uint8(side), typ: typ, ver: ver, epoch: epoch, seq: seq, frame: frame, ts: ts}, body, reason, msg)
				return
			}
			if len(st.pending) > 0 {
				t.flushPending(s, emit)
			}
		}
		t.dtlsDecrypt(s, side, ts, frame, typ, ver, epoch, seq, body, emit)
	default:
		s.fail(ReasonUnsupportedFeature, "frame %d: record epoch %d: renegotiation is not followed", frame, epoch)
	}
}

// retryAfterHandshake retries the key search of a session with records
// waiting when new handshake messages arrived (reordered datagrams).
func (t *Tracker) retryAfterHandshake(s *Session, emit func(*Record)) {
	st := s.state
	if len(st.pending) == 0 || !st.hsChanged || st.keys == keyReady {
		return
	}
	if ok, _, _ := t.ensureKeys(s); ok {
		t.flushPending(s, emit)
	}
}

// nullClear emits the content of a NULL-cipher record whose MAC cannot be
// checked (no key): the data is in the clear on the wire anyway.
func (t *Tracker) nullClear(s *Session, side int, ts time.Time, frame uint64, typ uint8, epoch uint16, seq uint64, body []byte, emit func(*Record)) bool {
	si := suiteTable[s.CipherSuite]
	if !s.HandshakeSeen || si == nil || (si.cipher != cipherNull && si.cipher != cipherNoMAC) || s.Legacy() {
		return false
	}
	n := len(body)
	if si.cipher == cipherNull {
		n -= si.mac().Size()
	}
	if n < 0 {
		s.fail(ReasonMalformed, "frame %d: NULL-cipher record of %d bytes is shorter than its MAC", frame, len(body))
		return true
	}
	t.emit(emit, s, side, ts, frame, typ, epoch, seq, false, body[:n])
	return true
}

func (t *Tracker) dtlsDecrypt(s *Session, side int, ts time.Time, frame uint64, typ uint8, ver, epoch uint16, seq uint64, body []byte, emit func(*Record)) {
	h := &s.state.half[side]
	if h.win[1].seen(seq) {
		s.Duplicates++
		return
	}
	pt, malformed, err := h.open(t.buf, typ, ver, uint64(epoch)<<48|seq, body)
	if err != nil {
		if malformed {
			s.fail(ReasonMalformed, "frame %d: epoch %d seq %d: %v", frame, epoch, seq, err)
		} else {
			s.fail(ReasonAuthFailed, "frame %d: epoch %d seq %d: %s record does not authenticate with the %s key (wrong key?)",
				frame, epoch, seq, Direction(side+1), s.KeySource)
		}
		return
	}
	h.win[1].mark(seq)
	if typ == ContentHandshake {
		t.dtlsHandshake(s, side, frame, pt, epoch)
	}
	t.emit(emit, s, side, ts, frame, typ, epoch, seq, true, pt)
}

// --- TLS ---

const tlsRecordHeaderLen = 5

// tlsHeaderOK checks a TLS record header and returns the body length.
func tlsHeaderOK(b []byte) (int, bool) {
	if len(b) < tlsRecordHeaderLen {
		return 0, false
	}
	if b[0] < ContentChangeCipherSpec || b[0] > ContentHeartbeat || b[1] != 3 || b[2] > 4 {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	return n, n <= maxCiphertext
}

func tlsHeaderProblem(b []byte) string {
	switch {
	case b[0] < ContentChangeCipherSpec || b[0] > ContentHeartbeat:
		return "content type " + itoa(int(b[0])) + " (offset 0) is not 20..24"
	case b[1] != 3 || b[2] > 4:
		return "version " + VersionName(binary.BigEndian.Uint16(b[1:3])) + " (offset 1) is not TLS"
	}
	return "length " + itoa(int(binary.BigEndian.Uint16(b[3:5]))) + " (offset 3) exceeds " + itoa(maxCiphertext)
}

// TLSEnd tells the tracker that the TCP connection between src and dst
// ended; a later connection on the same endpoints is a new session.
func (t *Tracker) TLSEnd(src, dst netip.AddrPort) *Session {
	key := makePairKey(src, dst, true)
	s := t.sessions[key]
	if s != nil {
		s.Ended = true
		delete(t.sessions, key)
	}
	return s
}

// TLSData processes in-order bytes of one direction (src → dst) of a TCP
// connection carrying TLS. gap is the number of bytes lost just before
// data (0 if none); role says whether src is the TCP client, when known.
// Records may be split across calls anywhere. Decrypted (or cleartext)
// records are passed to emit, valid during the call only; emit may be nil.
func (t *Tracker) TLSData(src, dst netip.AddrPort, ts time.Time, frame uint64, data []byte, gap int, role Role, emit func(*Record)) {
	t.stats.TLSChunks++
	t.checkKeys(emit)
	key := makePairKey(src, dst, true)
	s := t.sessions[key]
	if s == nil {
		client, server, known := src, dst, false
		if typ, ok := firstTLSHandshake(data); ok && gap == 0 {
			switch typ {
			case hsClientHello:
				known = true
			case hsServerHello:
				client, server, known = dst, src, true
			}
		}
		switch role {
		case RoleClient:
			client, server = src, dst
		case RoleServer:
			client, server = dst, src
		}
		s = t.newSession(key, client, server, "tls", ts, frame)
		s.RolesKnown = known || role != RoleUnknown
		if gap > 0 {
			s.state.setMidTLS()
		}
	}
	t.touch(s)
	s.LastFrame, s.LastSeen = frame, ts
	side := 0
	if src != s.Client {
		side = 1
	}
	st := s.state
	h := &st.half[side]
	if gap > 0 {
		s.BytesLost += uint64(gap)
		h.stream = h.stream[:0]
		t.dropHSBuf(st, h)
		if !h.resync {
			s.Resyncs++
		}
		h.resync = true
		h.seqKnown = false
		h.lostBytes += gap
	}
	for len(data) > 0 {
		if h.resync {
			// Look for a plausible record start in what we have.
			h.stream = append(h.stream, data...)
			data = nil
			i, wait := findTLSRecord(h.stream)
			if i < 0 || wait {
				keep := tlsRecordHeaderLen - 1 // a header may straddle chunks
				if i >= 0 {
					keep = len(h.stream) - i
				}
				if keep > 2*(tlsRecordHeaderLen+maxCiphertext) {
					keep = tlsRecordHeaderLen - 1
				}
				if keep < len(h.stream) {
					s.BytesSkipped += uint64(len(h.stream) - keep)
					h.lostBytes += len(h.stream) - keep
					n := copy(h.stream, h.stream[len(h.stream)-keep:])
					h.stream = h.stream[:n]
				}
				return
			}
			h.lostBytes += i
			s.BytesSkipped += uint64(i)
			data = append([]byte(nil), h.stream[i:]...)
			h.stream = h.stream[:0]
			h.resync = false
		}
		if len(h.stream) > 0 {
			// Complete the pending record from data: first its header...
			if len(h.stream) < tlsRecordHeaderLen {
				take := min(tlsRecordHeaderLen-len(h.stream), len(data))
				h.stream = append(h.stream, data[:take]...)
				data = data[take:]
				if len(h.stream) < tlsRecordHeaderLen {
					return
				}
				if _, ok := tlsHeaderOK(h.stream); !ok {
					s.fail(ReasonMalformed, "frame %d: tls record header: %s", frame, tlsHeaderProblem(h.stream))
					h.resync = true
					s.Resyncs++
					data = append(append([]byte(nil), h.stream[1:]...), data...)
					h.stream = h.stream[:0]
					continue
				}
			}
			// ... then its body.
			need := tlsRecordHeaderLen + int(binary.BigEndian.Uint16(h.stream[3:5]))
			take := min(need-len(h.stream), len(data))
			h.stream = append(h.stream, data[:take]...)
			data = data[take:]
			if len(h.stream) < need {
				return
			}
			t.tlsRecord(s, side, ts, frame, h.stream, emit)
			h.stream = h.stream[:0]
			if s.state != st {
				return
			}
			continue
		}
		if len(data) < tlsRecordHeaderLen {
			h.stream = append(h.stream, data...)
			return
		}
		n, ok := tlsHeaderOK(data)
		if !ok {
			s.fail(ReasonMalformed, "frame %d: tls record header: %s", frame, tlsHeaderProblem(data))
			h.resync = true
			s.Resyncs++
			data = data[1:]
			continue
		}
		if len(data) < tlsRecordHeaderLen+n {
			h.stream = append(h.stream, data...)
			return
		}
		t.tlsRecord(s, side, ts, frame, data[:tlsRecordHeaderLen+n], emit)
		data = data[tlsRecordHeaderLen+n:]
	}
}

// findTLSRecord returns the offset of the first plausible TLS record in b:
// a valid header whose record is followed by another valid header, or
// which ends exactly at the end of b. wait means the candidate at that
// offset cannot be judged before more bytes arrive. -1 if none.
func findTLSRecord(b []byte) (off int, wait bool) {
	for i := 0; i+tlsRecordHeaderLen <= len(b); i++ {
		n, ok := tlsHeaderOK(b[i:])
		if !ok {
			continue
		}
		next := i + tlsRecordHeaderLen + n
		switch {
		case next == len(b):
			return i, false
		case next+tlsRecordHeaderLen <= len(b):
			if _, ok := tlsHeaderOK(b[next:]); ok {
				return i, false
			}
		default:
			return i, true
		}
	}
	return -1, false
}

// setMidTLS marks a TLS session picked up after its handshake: every record
// is taken as encrypted, with unknown sequence numbers.
func (st *sessState) setMidTLS() {
	st.midTLS = true
	for i := range st.half {
		st.half[i].encrypting = true
		st.half[i].seqKnown = false
	}
}

// firstTLSHandshake returns the first handshake message type when data
// starts with a TLS handshake record.
func firstTLSHandshake(data []byte) (uint8, bool) {
	if _, ok := tlsHeaderOK(data); !ok || data[0] != ContentHandshake || len(data) < tlsRecordHeaderLen+1 {
		return 0, false
	}
	return data[tlsRecordHeaderLen], true
}

func (t *Tracker) tlsRecord(s *Session, side int, ts time.Time, frame uint64, rec []byte, emit func(*Record)) {
	st := s.state
	h := &st.half[side]
	typ := rec[0]
	ver := binary.BigEndian.Uint16(rec[1:3])
	body := rec[tlsRecordHeaderLen:]
	if !st.midTLS && !st.chSeen && !st.shSeen && len(h.hsBuf) == 0 &&
		!(typ == ContentHandshake && len(body) > 0 && (body[0] == hsClientHello || body[0] == hsServerHello)) {
		// The first record is not a hello: the capture started mid-session.
		st.setMidTLS()
	}
	if !h.encrypting {
		switch typ {
		case ContentChangeCipherSpec:
			if len(body) != 1 || body[0] != 1 {
				s.fail(ReasonMalformed, "frame %d: ChangeCipherSpec body is not the single byte 1", frame)
				return
			}
			h.encrypting, h.seq, h.seqKnown = true, 0, true
			t.emit(emit, s, side, ts, frame, typ, 0, 0, false, body)
			return
		case ContentHandshake:
			if len(h.hsBuf) == 0 && len(body) > 0 && body[0] == hsClientHello && st.shSeen && side == 0 {
				s.fail(ReasonUnsupportedFeature, "frame %d: second ClientHello on one TCP connection is not followed", frame)
				return
			}
			t.tlsHandshake(s, side, frame, body, 0)
			t.emit(emit, s, side, ts, frame, typ, 0, 0, false, body)
			t.retryAfterHandshake(s, emit)
			return
		case ContentAlert:
			if len(body) == 2 {
				t.emit(emit, s, side, ts, frame, typ, 0, 0, false, body)
				return
			}
		}
		if !st.shSeen {
			s.fail(ReasonMalformed, "frame %d: %d-byte record of type %d before any handshake", frame, len(body), typ)
			return
		}
		// Encrypted content without a ChangeCipherSpec: it was lost.
		h.encrypting, h.seqKnown = true, false
	}
	seq, known := h.seq, h.seqKnown
	h.seq++
	st.encSeen = true
	if st.keys != keyReady {
		ok, reason, msg := t.ensureKeys(s)
		if !ok {
			if t.nullClear(s, side, ts, frame, typ, 1, seq, body, emit) {
				return
			}
			if !known && reason == ReasonNoKey {
				reason, msg = ReasonLostSync, "sequence number unknown after lost bytes, and "+msg
			}
			t.queue(s, pendingRec{side: uint8(side), typ: typ, ver: ver, epoch: 1, seq: seq, frame: frame, ts: ts}, body, reason, msg)
			return
		}
		if len(st.pending) > 0 {
			t.flushPending(s, emit)
		}
	}
	t.tlsDecrypt(s, side, ts, frame, typ, ver, seq, known, body, emit)
}

func (t *Tracker) tlsDecrypt(s *Session, side int, ts time.Time, frame uint64, typ uint8, ver uint16, seq uint64, known bool, body []byte, emit func(*Record)) {
	h := &s.state.half[side]
	var pt []byte
	var malformed bool
	var err error
	if known {
		pt, malformed, err = h.open(t.buf, typ, ver, seq, body)
	} else {
		var found uint64
		pt, found, malformed, err = t.resyncOpen(h, typ, ver, seq, body)
		if err == nil {
			seq = found
			h.seq, h.seqKnown, h.lostBytes = found+1, true, 0
		}
	}
	if err != nil {
		switch {
		case malformed:
			s.fail(ReasonMalformed, "frame %d: tls record seq %d: %v", frame, seq, err)
		case !known:
			s.fail(ReasonLostSync, "frame %d: no sequence number in [%d, %d) authenticates the %s record after %d lost byte(s)", frame, seq, seq+uint64(t.resyncTries(h)), Direction(side+1), h.lostBytes)
		default:
			s.fail(ReasonAuthFailed, "frame %d: tls record seq %d: %s record does not authenticate with the %s key (wrong key?)", frame, seq, Direction(side+1), s.KeySource)
		}
		return
	}
	if typ == ContentHandshake {
		t.tlsHandshake(s, side, frame, pt, 1)
	}
	t.emit(emit, s, side, ts, frame, typ, 1, seq, true, pt)
}

// minTLSRecord is a lower bound of the wire size of a protected record.
const minTLSRecord = tlsRecordHeaderLen + 16

// resyncTries is how many sequence numbers to try after lost bytes.
func (t *Tracker) resyncTries(h *halfConn) int {
	return min(h.lostBytes/minTLSRecord+2, t.opt.ResyncWindow)
}

// resyncOpen tries the sequence numbers that may follow lost bytes: for
// AES-GCM/CCM first the explicit nonce (which implementations set to the
// sequence number), then next, next+1, ... (see resyncTries).
func (t *Tracker) resyncOpen(h *halfConn, typ uint8, ver uint16, next uint64, body []byte) (pt []byte, seq uint64, malformed bool, err error) {
	switch h.suite.cipher {
	case cipherGCM, cipherCCM, cipherCCM8:
		if len(body) >= 8 {
			if cand := binary.BigEndian.Uint64(body[:8]); cand >= next && cand-next < 1<<20 {
				if pt, malformed, err = h.open(t.buf, typ, ver, cand, body); err == nil || malformed {
					return pt, cand, malformed, err
				}
			}
		}
	case cipherNoMAC:
		pt, malformed, err = h.open(t.buf, typ, ver, next, body)
		return pt, next, malformed, err
	}
	for i := 0; i < t.resyncTries(h); i++ {
		pt, malformed, err = h.open(t.buf, typ, ver, next+uint64(i), body)
		if err == nil || malformed {
			return pt, next + uint64(i), malformed, err
		}
	}
	return nil, next, false, errAuth
}
