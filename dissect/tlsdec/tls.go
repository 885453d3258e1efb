package tlsdec

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// The TLS record layer: a TCP byte stream into records (RFC 5246 6.2),
// resynchronisation after lost bytes, decryption with implicit sequence
// numbers.

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
	s := t.lookup(key)
	if s != nil {
		s.Ended = true
		t.dropSession(key)
		t.streamRelease(s) // no more bytes come to complete a record
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
	t.out = emit
	t.checkKeys()
	key := makePairKey(src, dst, true)
	s := t.lookup(key)
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
	t.tlsStream(s, side, ts, frame, data, gap)
	t.settleStream(s)
}

// tlsStream cuts one direction's bytes into records (TLSData).
func (t *Tracker) tlsStream(s *Session, side int, ts time.Time, frame uint64, data []byte, gap int) {
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
			if cap(h.stream) < need && len(h.stream)+take < need {
				// room for the whole record at once (no growth by doubling)
				h.stream = append(make([]byte, 0, need), h.stream...)
			}
			h.stream = append(h.stream, data[:take]...)
			data = data[take:]
			if len(h.stream) < need {
				return
			}
			t.tlsRecord(s, side, ts, frame, h.stream)
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
			if cap(h.stream) < tlsRecordHeaderLen+n {
				h.stream = make([]byte, 0, tlsRecordHeaderLen+n)
			}
			h.stream = append(h.stream, data...)
			return
		}
		t.tlsRecord(s, side, ts, frame, data[:tlsRecordHeaderLen+n])
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

func (t *Tracker) tlsRecord(s *Session, side int, ts time.Time, frame uint64, raw []byte) {
	st := s.state
	h := &st.half[side]
	r := rec{s: s, side: side, ts: ts, frame: frame, typ: raw[0], ver: binary.BigEndian.Uint16(raw[1:3]),
		body: raw[tlsRecordHeaderLen:]}
	typ, body := r.typ, r.body
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
			t.emit(&r, false, body)
			return
		case ContentHandshake:
			if len(h.hsBuf) == 0 && len(body) > 0 && body[0] == hsClientHello && st.shSeen && side == 0 {
				s.fail(ReasonUnsupportedFeature, "frame %d: second ClientHello on one TCP connection is not followed", frame)
				return
			}
			t.tlsHandshake(s, side, frame, body, 0)
			t.emit(&r, false, body)
			t.retryAfterHandshake(s)
			return
		case ContentAlert:
			if len(body) == 2 {
				t.emit(&r, false, body)
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
	known := h.seqKnown
	r.epoch, r.seq = 1, h.seq
	h.seq++
	st.encSeen = true
	if st.keys != keyReady {
		ok, reason, msg := t.ensureKeys(s)
		if !ok {
			if t.nullClear(&r) {
				return
			}
			if !known && reason == ReasonNoKey {
				reason, msg = ReasonLostSync, "sequence number unknown after lost bytes, and "+msg
			}
			t.queue(&r, reason, msg)
			return
		}
		if len(st.pending) > 0 {
			t.flushPending(s)
		}
	}
	t.tlsDecrypt(&r, known)
}

// tlsDecrypt opens a record (known: its sequence number is r.seq; else
// it is searched from there).
func (t *Tracker) tlsDecrypt(r *rec, known bool) {
	s, side, frame, seq := r.s, r.side, r.frame, r.seq
	h := &s.state.half[side]
	var pt []byte
	var malformed bool
	var err error
	if known {
		pt, malformed, err = h.open(t.buf, r.typ, r.ver, seq, r.body)
	} else {
		var found uint64
		pt, found, malformed, err = t.resyncOpen(h, r.typ, r.ver, seq, r.body)
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
	if r.typ == ContentHandshake {
		t.tlsHandshake(s, side, frame, pt, 1)
	}
	r.seq = seq
	t.emit(r, true, pt)
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

// --- the bytes of incomplete records ---

const (
	// streamKeepCap is the capacity a direction's record buffer may keep
	// when it holds little: more is let go of, so that a record once large
	// does not leave its buffer behind.
	streamKeepCap = 4 << 10
	// streamIdleCap is the capacity an empty buffer may keep: one record
	// of the largest size, so that a session whose large records come in
	// many segments does not allocate one buffer per record (budget
	// pressure lets empty buffers go first, settleStream).
	streamIdleCap = tlsRecordHeaderLen + maxCiphertext
	// maxRecordHeld bounds what one session's two record buffers may hold
	// (their capacity) after a TLSData call: in resynchronisation, up to
	// two records (findTLSRecord), with twice that in capacity.
	maxRecordHeld = 2 * 2 * 2 * (tlsRecordHeaderLen + maxCiphertext)
)

// streamRoom is the capacity h.stream may keep: twice what it holds, or
// the whole record it is completing, and never less than streamKeepCap.
func (h *halfConn) streamRoom() int {
	if len(h.stream) == 0 {
		return streamIdleCap
	}
	n := max(streamKeepCap, 2*len(h.stream))
	if !h.resync && len(h.stream) >= tlsRecordHeaderLen {
		n = max(n, tlsRecordHeaderLen+int(binary.BigEndian.Uint16(h.stream[3:5])))
	}
	return n
}

// settleStream accounts the record buffers of s after a TLSData call (their
// capacity, trimmed to streamRoom), makes s the most recently active of
// its part's sessions holding incomplete records or only empty buffers,
// and, while the part holds more than its share of
// Options.MaxTotalRecordBytes, has the least recently active let go of
// their empty buffers (nothing is lost), then of their incomplete records.
func (t *Tracker) settleStream(s *Session) {
	st := s.state
	held, partial := 0, false
	for i := range st.half {
		h := &st.half[i]
		if cap(h.stream) > h.streamRoom() {
			if len(h.stream) == 0 {
				h.stream = nil
			} else {
				h.stream = append([]byte(nil), h.stream...)
			}
		}
		held += cap(h.stream)
		partial = partial || len(h.stream) > 0
	}
	if held == 0 && st.streamHeld == 0 {
		return
	}
	pt := st.pt
	pt.streamTotal += held - st.streamHeld
	if st.streamHeld > 0 {
		t.streamUnlink(s)
	}
	st.streamHeld = held
	if held > 0 {
		// the most recently active: at the tail of its list
		st.sidle = !partial
		head, tail := &pt.shead, &pt.stail
		if st.sidle {
			head, tail = &pt.ihead, &pt.itail
		}
		st.sprev = *tail
		if *tail != nil {
			(*tail).state.snext = s
		} else {
			*head = s
		}
		*tail = s
	}
	for pt.streamTotal > t.lim.stream && pt.ihead != nil {
		t.streamRelease(pt.ihead)
	}
	for pt.streamTotal > t.lim.stream && pt.shead != nil {
		t.dropStream(pt.shead)
	}
}

// streamUnlink takes s out of its part's list of sessions holding record
// bytes (not its accounting).
func (t *Tracker) streamUnlink(s *Session) {
	st := s.state
	pt := st.pt
	head, tail := &pt.shead, &pt.stail
	if st.sidle {
		head, tail = &pt.ihead, &pt.itail
	}
	if st.sprev != nil {
		st.sprev.state.snext = st.snext
	} else if *head == s {
		*head = st.snext
	}
	if st.snext != nil {
		st.snext.state.sprev = st.sprev
	} else if *tail == s {
		*tail = st.sprev
	}
	st.sprev, st.snext = nil, nil
}

// streamRelease lets go of the record buffers of s and of their
// accounting, counting nothing (an evicted or ended session).
func (t *Tracker) streamRelease(s *Session) {
	st := s.state
	if st.streamHeld > 0 {
		t.streamUnlink(s)
		st.pt.streamTotal -= st.streamHeld
		st.streamHeld = 0
	}
	st.half[0].stream, st.half[1].stream = nil, nil
}

// dropStream makes s let go of its incomplete records for the bound on
// them: their bytes are lost, counted as skipped, each record as a
// lost-sync failure, and the direction resynchronises on the next record.
func (t *Tracker) dropStream(s *Session) {
	st := s.state
	for i := range st.half {
		h := &st.half[i]
		n := len(h.stream)
		if n == 0 {
			continue
		}
		t.stats.RecordDrops++
		t.stats.RecordBytesDropped += uint64(n)
		s.BytesSkipped += uint64(n)
		h.lostBytes += n
		if !h.resync {
			s.Resyncs++
		}
		h.resync = true
		h.seqKnown = false
		t.dropHSBuf(st, h)
		s.fail(ReasonLostSync, "frame %d: %d bytes of an incomplete record dropped: the %d-byte bound on incomplete records in all sessions was reached",
			s.LastFrame, n, t.opt.MaxTotalRecordBytes)
	}
	t.streamRelease(s)
}
