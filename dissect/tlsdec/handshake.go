package tlsdec

import (
	"bytes"
	"encoding/binary"
	"hash"
	"sort"

	"github.com/pion/dtls/v2/pkg/crypto/prf"
)

// The handshake layer: DTLS fragment reassembly and TLS handshake
// message reassembly, the transcript (for the handshake hash and the
// extended master secret), Finished checks. parse.go reads the messages.

// hsRoom reports whether n more handshake bytes fit the session's and its
// part's bounds.
func (t *Tracker) hsRoom(st *sessState, n int) bool {
	return st.hsBytes+n <= t.opt.MaxHandshakeBytes && st.pt.hsTotal+n <= t.lim.hs
}

// hsAdd accounts n (possibly negative) handshake bytes.
func (t *Tracker) hsAdd(st *sessState, n int) {
	st.hsBytes += n
	st.pt.hsTotal += n
}

// Transcript slots: the handshake messages of a full handshake in the order
// in which they enter the handshake hash (RFC 5246 7.4.9, RFC 6347 4.2.6).
// Storing messages by slot rather than arrival order makes the hash
// independent of reordering and retransmission.
const (
	slotCH = iota
	slotSH
	slotSCert
	slotCertStatus
	slotSKE
	slotCR
	slotSHD
	slotCCert
	slotCKE
	slotCV
	slotCFin
	slotNST
	slotSFin
	numSlots
)

// slotFor maps a message from side (0 client, 1 server) to its slot, or -1.
func slotFor(side int, typ uint8) int {
	if side == 0 {
		switch typ {
		case hsClientHello:
			return slotCH
		case hsCertificate:
			return slotCCert
		case hsClientKeyExchange:
			return slotCKE
		case hsCertificateVerify:
			return slotCV
		case hsFinished:
			return slotCFin
		}
		return -1
	}
	switch typ {
	case hsServerHello:
		return slotSH
	case hsCertificate:
		return slotSCert
	case hsCertificateStatus:
		return slotCertStatus
	case hsServerKeyExchange:
		return slotSKE
	case hsCertificateRequest:
		return slotCR
	case hsServerHelloDone:
		return slotSHD
	case hsNewSessionTicket:
		return slotNST
	case hsFinished:
		return slotSFin
	}
	return -1
}

// dtlsReasm reassembles fragmented DTLS handshake messages of one direction.
type dtlsReasm struct {
	partial []*fragMsg
	done    [4]uint64 // message_seq < 256 already processed
}

type fragMsg struct {
	typ    uint8
	seq    uint16
	length int
	frags  []fragment
	held   int
}

type fragment struct {
	off  int
	data []byte
}

const (
	maxPartialMsgs = 16
	maxFragsPerMsg = 256
)

func (r *dtlsReasm) isDone(seq uint16) bool {
	return seq < 256 && r.done[seq/64]&(1<<(seq%64)) != 0
}

func (r *dtlsReasm) setDone(seq uint16) {
	if seq < 256 {
		r.done[seq/64] |= 1 << (seq % 64)
	}
}

// complete reports whether the fragments of m cover the whole message.
func (m *fragMsg) complete() bool {
	sort.Slice(m.frags, func(i, j int) bool { return m.frags[i].off < m.frags[j].off })
	end := 0
	for _, f := range m.frags {
		if f.off > end {
			return false
		}
		end = max(end, f.off+len(f.data))
	}
	return end >= m.length
}

// assemble returns the message in its canonical single-fragment form:
// the 12-byte DTLS header (offset 0, fragment length = length) + body.
func (m *fragMsg) assemble() []byte {
	out := make([]byte, dtlsHSHeaderLen+m.length)
	out[0] = m.typ
	putU24(out[1:], m.length)
	binary.BigEndian.PutUint16(out[4:], m.seq)
	putU24(out[6:], 0)
	putU24(out[9:], m.length)
	for _, f := range m.frags {
		copy(out[dtlsHSHeaderLen+f.off:], f.data)
	}
	return out
}

func putU24(b []byte, v int) {
	b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v)
}

// dtlsHandshake feeds the handshake messages of one DTLS handshake record
// (plaintext at epoch 0, or decrypted) into reassembly.
func (t *Tracker) dtlsHandshake(s *Session, side int, frame uint64, body []byte, epoch uint16) {
	off := 0
	for off < len(body) {
		hh, err := parseDTLSHandshakeHeader(body[off:])
		if err != nil {
			s.fail(ReasonMalformed, "frame %d: dtls handshake message at record byte %d: %v", frame, off, err)
			return
		}
		msg := body[off : off+dtlsHSHeaderLen+hh.fragLen]
		t.dtlsFragment(s, side, frame, hh, msg, epoch)
		off += len(msg)
	}
}

func (t *Tracker) dtlsFragment(s *Session, side int, frame uint64, hh dtlsHandshakeHeader, msg []byte, epoch uint16) {
	st := s.state
	r := &st.reasm[side]
	if r.isDone(hh.seq) || st.hsDone {
		return // retransmission of a message already processed
	}
	if hh.seq >= 256 {
		s.fail(ReasonHandshakeDropped, "frame %d: handshake message_seq %d beyond the 256 tracked", frame, hh.seq)
		return
	}
	if hh.length > t.opt.MaxHandshakeBytes {
		s.fail(ReasonHandshakeDropped, "frame %d: handshake message type %d of %d bytes exceeds the %d-byte bound", frame, hh.typ, hh.length, t.opt.MaxHandshakeBytes)
		return
	}
	frag := msg[dtlsHSHeaderLen:]
	var m *fragMsg
	mi := -1
	for i, p := range r.partial {
		if p.seq == hh.seq {
			m, mi = p, i
			break
		}
	}
	if m == nil && hh.fragOff == 0 && hh.fragLen == hh.length {
		r.setDone(hh.seq)
		t.onHandshake(s, side, frame, hh.typ, int(hh.seq), frag, msg, epoch)
		return
	}
	if m == nil {
		if len(r.partial) >= maxPartialMsgs {
			s.fail(ReasonHandshakeDropped, "frame %d: more than %d handshake messages in reassembly", frame, maxPartialMsgs)
			return
		}
		m = &fragMsg{typ: hh.typ, seq: hh.seq, length: hh.length}
		r.partial = append(r.partial, m)
		mi = len(r.partial) - 1
	} else if m.typ != hh.typ || m.length != hh.length {
		s.fail(ReasonMalformed, "frame %d: fragment of handshake message_seq %d says type %d length %d, earlier fragments said type %d length %d",
			frame, hh.seq, hh.typ, hh.length, m.typ, m.length)
		return
	}
	if len(m.frags) >= maxFragsPerMsg || !t.hsRoom(st, len(frag)) {
		s.fail(ReasonHandshakeDropped, "frame %d: handshake reassembly bound (%d bytes per session, %d in all, %d fragments) reached",
			frame, t.opt.MaxHandshakeBytes, t.opt.MaxTotalHandshakeBytes, maxFragsPerMsg)
		return
	}
	m.frags = append(m.frags, fragment{off: hh.fragOff, data: bytes.Clone(frag)})
	m.held += len(frag)
	t.hsAdd(st, len(frag))
	if !m.complete() {
		return
	}
	whole := m.assemble()
	t.hsAdd(st, -m.held)
	r.partial = append(r.partial[:mi], r.partial[mi+1:]...)
	r.setDone(hh.seq)
	t.onHandshake(s, side, frame, m.typ, int(m.seq), whole[dtlsHSHeaderLen:], whole, epoch)
}

// tlsHandshake feeds TLS handshake record content (plaintext or decrypted)
// of one direction; messages may span records.
func (t *Tracker) tlsHandshake(s *Session, side int, frame uint64, data []byte, epoch uint16) {
	st := s.state
	h := &st.half[side]
	if st.hsDone {
		return
	}
	buf := data
	if len(h.hsBuf) > 0 {
		if !t.hsRoom(st, len(data)) {
			s.fail(ReasonHandshakeDropped, "frame %d: handshake message exceeds the %d-byte bound (or %d in all)", frame, t.opt.MaxHandshakeBytes, t.opt.MaxTotalHandshakeBytes)
			t.dropHSBuf(st, h)
			return
		}
		h.hsBuf = append(h.hsBuf, data...)
		t.hsAdd(st, len(data))
		buf = h.hsBuf
	}
	for len(buf) >= 4 {
		n := int(buf[1])<<16 | int(buf[2])<<8 | int(buf[3])
		if n > t.opt.MaxHandshakeBytes {
			s.fail(ReasonHandshakeDropped, "frame %d: handshake message type %d of %d bytes exceeds the %d-byte bound", frame, buf[0], n, t.opt.MaxHandshakeBytes)
			t.dropHSBuf(st, h)
			return
		}
		if len(buf) < 4+n {
			break
		}
		t.onHandshake(s, side, frame, buf[0], -1, buf[4:4+n], buf[:4+n], epoch)
		if s.state != st || st.hsDone {
			return
		}
		buf = buf[4+n:]
	}
	if len(h.hsBuf) > 0 {
		// buf is a suffix of hsBuf: move the incomplete tail to the front.
		n := copy(h.hsBuf, buf)
		t.hsAdd(st, n-len(h.hsBuf))
		h.hsBuf = h.hsBuf[:n]
		if cap(h.hsBuf) > max(streamKeepCap, 2*n) {
			// a large message done: let its buffer go (only the bytes
			// held are accounted)
			h.hsBuf = bytes.Clone(h.hsBuf)
		}
		return
	}
	if len(buf) == 0 {
		return
	}
	if !t.hsRoom(st, len(buf)) {
		s.fail(ReasonHandshakeDropped, "frame %d: handshake message exceeds the %d-byte bound (or %d in all)", frame, t.opt.MaxHandshakeBytes, t.opt.MaxTotalHandshakeBytes)
		return
	}
	// Keep the incomplete tail (copying: data is only borrowed).
	h.hsBuf = append(h.hsBuf[:0], buf...)
	t.hsAdd(st, len(buf))
}

// dropHSBuf discards the incomplete TLS handshake message of a direction.
func (t *Tracker) dropHSBuf(st *sessState, h *halfConn) {
	t.hsAdd(st, -len(h.hsBuf))
	h.hsBuf = nil
}

// onHandshake handles one complete handshake message. raw is its
// transcript form (with the 4-byte TLS or 12-byte DTLS header).
func (t *Tracker) onHandshake(s *Session, side int, frame uint64, typ uint8, seq int, body, raw []byte, epoch uint16) {
	st := s.state
	switch typ {
	case hsHelloRequest:
		return // not part of the transcript
	case hsClientHello:
		if epoch != 0 {
			s.fail(ReasonUnsupportedFeature, "frame %d: encrypted ClientHello: renegotiation is not followed", frame)
			return
		}
		if side == 1 {
			if s.RolesKnown {
				s.fail(ReasonMalformed, "frame %d: ClientHello sent by the server side", frame)
				return
			}
			t.swapRoles(s)
			side = 0
		}
		h, err := parseClientHello(body, st.dtls)
		if err != nil {
			s.fail(ReasonMalformed, "frame %d: %v", frame, err)
			return
		}
		s.RolesKnown = true
		if st.chSeen && seq <= st.chSeq {
			return // a retransmission of an earlier ClientHello
		}
		st.ch, st.chSeen, st.chSeq = h, true, seq
		s.ClientRandom = h.random
		t.store(s, slotCH, raw, frame)
		return
	case hsHelloVerifyRequest:
		if err := parseHelloVerifyRequest(body); err != nil {
			s.fail(ReasonMalformed, "frame %d: %v", frame, err)
			return
		}
		if side == 0 && !s.RolesKnown {
			t.swapRoles(s)
		}
		s.RolesKnown = true
		s.HelloVerify = true
		return // neither it nor the ClientHello it answers is hashed
	case hsServerHello:
		if side == 0 {
			if s.RolesKnown {
				s.fail(ReasonMalformed, "frame %d: ServerHello sent by the client side", frame)
				return
			}
			t.swapRoles(s)
			side = 1
		}
		if st.shSeen {
			return
		}
		h, err := parseServerHello(body)
		if err != nil {
			s.fail(ReasonMalformed, "frame %d: %v", frame, err)
			return
		}
		s.RolesKnown = true
		st.sh, st.shSeen = h, true
		s.HandshakeSeen = true
		s.ServerRandom = h.random
		s.Version = h.version
		if h.suppVersion != 0 {
			s.Version = h.suppVersion
		}
		s.CipherSuite = h.suite
		s.ExtendedMasterSecret = h.ems && (!st.chSeen || st.ch.ems)
		s.EncryptThenMAC = h.etm && (!st.chSeen || st.ch.etm)
		t.store(s, slotSH, raw, frame)
		return
	case hsFinished:
		t.onFinished(s, side, frame, body, raw)
		return
	}
	if sl := slotFor(side, typ); sl >= 0 {
		if typ == hsCertificate {
			t.noteCert(s, side, body, frame)
		}
		t.store(s, sl, raw, frame)
		if sl == slotCKE && st.shSeen {
			if si := suiteTable[s.CipherSuite]; si != nil && si.isPSK() {
				if c, err := parseClientKeyExchange(body, si.kex); err == nil {
					s.PSKIdentity = string(c.pskIdentity)
				}
			}
		}
	}
}

// store keeps a copy of a transcript message, within the session bound.
func (t *Tracker) store(s *Session, slot int, raw []byte, frame uint64) {
	st := s.state
	old := len(st.slots[slot])
	if old > 0 && slot != slotCH {
		return // first copy wins (retransmissions are identical)
	}
	if !t.hsRoom(st, len(raw)-old) {
		s.fail(ReasonHandshakeDropped, "frame %d: handshake transcript exceeds the %d-byte bound (or %d in all)", frame, t.opt.MaxHandshakeBytes, t.opt.MaxTotalHandshakeBytes)
		return
	}
	t.hsAdd(st, len(raw)-old)
	st.slots[slot] = append(st.slots[slot][:0], raw...)
	st.hsChanged = true
	for side := range st.finPending {
		if f := st.finPending[side]; f != nil {
			st.finPending[side] = nil
			t.onFinished(s, side, frame, f[len(f)-12:], f)
		}
	}
}

// transcriptHash hashes the stored messages of the given slots, in order.
func (st *sessState) transcriptHash(newHash func() hash.Hash, slots ...int) []byte {
	h := newHash()
	for _, sl := range slots {
		h.Write(st.slots[sl])
	}
	return h.Sum(nil)
}

func (st *sessState) abbreviated() bool {
	return st.slots[slotCKE] == nil && st.slots[slotSHD] == nil
}

// onFinished checks a decrypted Finished message against the transcript.
func (t *Tracker) onFinished(s *Session, side int, frame uint64, body, raw []byte) {
	st := s.state
	if st.keys != keyReady || len(st.master) == 0 {
		return
	}
	slot := slotCFin
	if side == 1 {
		slot = slotSFin
	}
	if st.slots[slot] != nil || st.hsDone {
		return
	}
	if len(body) != 12 {
		s.fail(ReasonMalformed, "frame %d: Finished verify_data is %d bytes, want 12", frame, len(body))
		return
	}
	var order []int
	abbr := st.abbreviated()
	s.Resumed = abbr
	switch {
	case !abbr && side == 0:
		order = []int{slotCH, slotSH, slotSCert, slotCertStatus, slotSKE, slotCR, slotSHD, slotCCert, slotCKE, slotCV}
	case !abbr:
		order = []int{slotCH, slotSH, slotSCert, slotCertStatus, slotSKE, slotCR, slotSHD, slotCCert, slotCKE, slotCV, slotCFin, slotNST}
	case side == 1:
		order = []int{slotCH, slotSH, slotNST}
	default:
		order = []int{slotCH, slotSH, slotNST, slotSFin}
	}
	// The messages a Finished covers must all be there; a full handshake
	// needs at least CH, SH, SHD, CKE (and the client's Finished for the
	// server's). If some are missing (reordered), check when they arrive.
	need := []int{slotCH, slotSH}
	if !abbr {
		need = append(need, slotSHD, slotCKE)
		if side == 1 {
			need = append(need, slotCFin)
		}
	} else if side == 0 {
		need = append(need, slotSFin)
	}
	for _, sl := range need {
		if st.slots[sl] == nil {
			if st.finPending[side] == nil {
				st.finPending[side] = bytes.Clone(raw)
			}
			return
		}
	}
	sum := st.transcriptHash(st.suite.prf, order...)
	// verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]
	var want []byte
	label := "client finished"
	if side == 1 {
		label = "server finished"
	}
	err := callPion("prf.PHash", func() error {
		var e error
		want, e = prf.PHash(st.master, append([]byte(label), sum...), 12, st.suite.prf)
		return e
	})
	if err == nil && bytes.Equal(want, body) {
		if side == 0 {
			s.ClientFinishedOK = true
		} else {
			s.ServerFinishedOK = true
		}
	} else {
		s.note("%s Finished verify_data does not match the captured handshake (frame %d): transcript incomplete or altered", Direction(side+1), frame)
	}
	t.store(s, slot, raw, frame)
	if st.slots[slotCFin] != nil && st.slots[slotSFin] != nil {
		t.releaseHandshake(st)
	}
}

// releaseHandshake frees the transcript once both Finished were checked.
func (t *Tracker) releaseHandshake(st *sessState) {
	st.slots = [numSlots][]byte{}
	st.reasm = [2]dtlsReasm{{done: st.reasm[0].done}, {done: st.reasm[1].done}}
	st.half[0].hsBuf, st.half[1].hsBuf = nil, nil
	t.hsAdd(st, -st.hsBytes)
	st.hsDone = true
	st.finPending = [2][]byte{}
}

// swapRoles exchanges client and server when a hello shows the first
// sender was the server.
func (t *Tracker) swapRoles(s *Session) {
	st := s.state
	s.Client, s.Server = s.Server, s.Client
	st.half[0], st.half[1] = st.half[1], st.half[0]
	st.reasm[0], st.reasm[1] = st.reasm[1], st.reasm[0]
	s.ClientCert, s.ServerCert = s.ServerCert, s.ClientCert
	s.ID = sessionID(s.Transport, s.Client, s.Server, s.FirstFrame)
}
