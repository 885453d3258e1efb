package tlsdec

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"time"

	"github.com/pion/dtls/v2/pkg/crypto/prf"
)

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

type keyStatus uint8

const (
	keyUnknown keyStatus = iota // not tried yet, or handshake incomplete
	keyReady
	keyWaiting // no key in the store (generation keyGen); retried when it changes
	keyFinal   // cannot ever decrypt (unsupported suite / version / feature)
)

// pendingRec is an encrypted record waiting for a key.
type pendingRec struct {
	side  uint8
	typ   uint8
	ver   uint16
	epoch uint16
	seq   uint64
	frame uint64
	ts    time.Time
	data  []byte
}

// sessState is the tracker-private state of a Session.
type sessState struct {
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
	s.ID = sessionID(s.Transport, s.Client, s.Server, s.FirstFrame)
}

// ensureKeys makes the record keys of the session ready if it can. It
// returns false with the reason (and description) when it cannot.
func (t *Tracker) ensureKeys(s *Session) (bool, Reason, string) {
	st := s.state
	switch st.keys {
	case keyReady:
		return true, 0, ""
	case keyFinal:
		return false, st.keyReason, st.keyMsg
	case keyWaiting:
		if st.keyGen == t.keyGeneration() && !st.hsChanged {
			return false, ReasonNoKey, st.keyMsg
		}
	}
	st.hsChanged = false
	final := func(r Reason, format string, args ...any) (bool, Reason, string) {
		st.keys, st.keyReason, st.keyMsg = keyFinal, r, fmt.Sprintf(format, args...)
		return false, r, st.keyMsg
	}
	if !st.chSeen || !st.shSeen {
		what := "ServerHello"
		if !st.chSeen {
			what = "ClientHello"
		}
		if !st.chSeen && !st.shSeen {
			what = "ClientHello and ServerHello"
		}
		return false, ReasonNoHandshake, fmt.Sprintf("%s not captured (capture started mid-session?)", what)
	}
	want := uint16(0x0303)
	if st.dtls {
		want = 0xfefd
	}
	if s.Version != want {
		return final(ReasonUnsupportedVersion, "negotiated version %s: only %s is decrypted", VersionName(s.Version), VersionName(want))
	}
	si := suiteTable[s.CipherSuite]
	if si == nil || si.cipher == cipherNoSupp {
		return final(ReasonUnsupportedSuite, "cipher suite %s (0x%04X) cannot be decrypted", SuiteName(s.CipherSuite), s.CipherSuite)
	}
	if st.sh.compression != 0 {
		return final(ReasonUnsupportedFeature, "record compression method %d is not supported", st.sh.compression)
	}
	if st.dtls && st.ch.cid && st.sh.cid {
		return final(ReasonUnsupportedFeature, "DTLS connection IDs (RFC 9146) are not supported")
	}
	st.suite = si
	gen := t.keyGeneration()
	master, source, msg := t.findMaster(s, si)
	if master == nil {
		st.keys, st.keyGen, st.keyReason, st.keyMsg = keyWaiting, gen, ReasonNoKey, msg
		return false, ReasonNoKey, msg
	}
	macLen, keyLen, ivLen := si.macLen(), si.keyLen, si.fixedIVLen()
	var kb *prf.EncryptionKeys
	err := callPion("prf.GenerateEncryptionKeys", func() error {
		var e error
		kb, e = prf.GenerateEncryptionKeys(master, s.ClientRandom[:], s.ServerRandom[:], macLen, keyLen, ivLen, si.prf)
		return e
	})
	if err == nil {
		err = st.half[0].setup(si, kb.ClientWriteKey, kb.ClientMACKey, kb.ClientWriteIV, s.EncryptThenMAC)
	}
	if err == nil {
		err = st.half[1].setup(si, kb.ServerWriteKey, kb.ServerMACKey, kb.ServerWriteIV, s.EncryptThenMAC)
	}
	if err != nil {
		return final(ReasonUnsupportedSuite, "cipher suite %s: key setup failed: %v", si.name, err)
	}
	st.master = master
	st.keys = keyReady
	s.KeySource = source
	return true, 0, ""
}

// findMaster finds the master secret: from a key log by client random, or
// from a PSK / RSA key and the captured handshake.
func (t *Tracker) findMaster(s *Session, si *suiteInfo) (master []byte, source, msg string) {
	st := s.state
	if e, ok := t.keys.master(&s.ClientRandom, t.keyLimit); ok {
		return e.secret, e.source, ""
	}
	noLog := "no key log line CLIENT_RANDOM " + hex.EncodeToString(s.ClientRandom[:])
	var cke clientKeyExchange
	if si.kex == kexPSK || si.kex == kexRSA {
		raw := st.slots[slotCKE]
		if raw == nil {
			return nil, "", noLog + "; ClientKeyExchange not captured"
		}
		hl := 4
		if st.dtls {
			hl = dtlsHSHeaderLen
		}
		var err error
		if cke, err = parseClientKeyExchange(raw[hl:], si.kex); err != nil {
			return nil, "", noLog + "; " + err.Error()
		}
	}
	var pms []byte
	switch si.kex {
	case kexPSK:
		s.PSKIdentity = string(cke.pskIdentity)
		e, ok := t.keys.psk(s.PSKIdentity, t.keyLimit)
		if !ok {
			return nil, "", fmt.Sprintf("%s and no PSK for identity %q", noLog, s.PSKIdentity)
		}
		pms = prf.PSKPreMasterSecret(e.secret)
		source = e.source
	case kexRSA:
		pms = t.rsaPremaster(s, cke.encPMS)
		if pms == nil {
			return nil, "", noLog + " and no RSA private key decrypts the premaster secret"
		}
		source = "rsa"
	case kexECDHEPSK:
		return nil, "", noLog + " (ECDHE_PSK: a PSK alone cannot decrypt, the key log is needed)"
	default:
		return nil, "", noLog + " ((EC)DHE key exchange: only a key log can decrypt)"
	}
	err := callPion("prf.MasterSecret", func() error {
		var e error
		if s.ExtendedMasterSecret {
			hash := st.transcriptHash(si.prf, slotCH, slotSH, slotSCert, slotCertStatus, slotSKE, slotCR, slotSHD, slotCCert, slotCKE)
			master, e = prf.ExtendedMasterSecret(pms, hash, si.prf)
		} else {
			master, e = prf.MasterSecret(pms, s.ClientRandom[:], s.ServerRandom[:], si.prf)
		}
		return e
	})
	if err != nil {
		return nil, "", fmt.Sprintf("master secret derivation failed: %v", err)
	}
	return master, source, ""
}

// rsaPremaster decrypts an RSA-encrypted premaster secret with the key
// matching the server certificate, or with each stored key in turn.
func (t *Tracker) rsaPremaster(s *Session, enc []byte) []byte {
	st := s.state
	keys := t.keys.rsaKeys(t.keyLimit)
	var certKey *rsa.PublicKey
	if raw := st.slots[slotSCert]; raw != nil {
		hl := 4
		if st.dtls {
			hl = dtlsHSHeaderLen
		}
		if der, err := parseFirstCertificate(raw[hl:]); err == nil {
			if c, err := x509.ParseCertificate(der); err == nil {
				certKey, _ = c.PublicKey.(*rsa.PublicKey)
			}
		}
	}
	for _, k := range keys {
		if certKey != nil && !certKey.Equal(&k.key.PublicKey) {
			continue
		}
		pms, err := rsa.DecryptPKCS1v15(nil, k.key, enc)
		if err == nil && len(pms) == 48 {
			return pms
		}
	}
	return nil
}

func sessionID(transport string, client, server interface{ String() string }, frame uint64) string {
	return fmt.Sprintf("%s:%s>%s#%d", transport, client.String(), server.String(), frame)
}
