package tlsdec

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"
)

// The DTLS record layer: datagrams into records (RFC 6347 4.1), epochs,
// replay windows, decryption of epoch-1 records.

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
	t.out = emit
	t.checkKeys()
	key := makePairKey(src, dst, false)
	s := t.lookup(key)
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
		r := rec{s: s, side: side, ts: ts, frame: frame, typ: b[0], ver: binary.BigEndian.Uint16(b[1:3]),
			epoch: binary.BigEndian.Uint16(b[3:5]),
			seq:   uint64(binary.BigEndian.Uint16(b[5:7]))<<32 | uint64(binary.BigEndian.Uint32(b[7:11])),
			body:  b[dtlsRecordHeaderLen : dtlsRecordHeaderLen+n]}
		off += dtlsRecordHeaderLen + n
		t.dtlsRecord(&r)
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
	if len(payload) == 0 || payload[0] != ContentHandshake {
		return 0, nil, false // (most datagrams: application data, asked of each)
	}
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

func (t *Tracker) dtlsRecord(r *rec) {
	s, frame, typ, seq, body := r.s, r.frame, r.typ, r.seq, r.body
	st := s.state
	h := &st.half[r.side]
	if typ == ContentTLS12CID {
		s.fail(ReasonUnsupportedFeature, "frame %d: DTLS connection-ID record (type 25) is not supported", frame)
		return
	}
	switch {
	case r.epoch == 0:
		if h.win[0].seen(seq) {
			s.Duplicates++
			return
		}
		switch typ {
		case ContentHandshake:
			h.win[0].mark(seq)
			t.dtlsHandshake(s, r.side, frame, body, 0)
			t.emit(r, false, body)
			t.retryAfterHandshake(s)
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
		t.emit(r, false, body)
	case r.epoch == 1:
		st.encSeen = true
		if st.keys != keyReady {
			ok, reason, msg := t.ensureKeys(s)
			if !ok {
				if t.nullClear(r) {
					return
				}
				t.queue(r, reason, msg)
				return
			}
			if len(st.pending) > 0 {
				t.flushPending(s)
			}
		}
		t.dtlsDecrypt(r)
	default:
		s.fail(ReasonUnsupportedFeature, "frame %d: record epoch %d: renegotiation is not followed", frame, r.epoch)
	}
}

func (t *Tracker) dtlsDecrypt(r *rec) {
	s, side, frame, epoch, seq := r.s, r.side, r.frame, r.epoch, r.seq
	h := &s.state.half[side]
	if h.win[1].seen(seq) {
		s.Duplicates++
		return
	}
	pt, malformed, err := h.open(t.buf, r.typ, r.ver, uint64(epoch)<<48|seq, r.body)
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
	if r.typ == ContentHandshake {
		t.dtlsHandshake(s, side, frame, pt, epoch)
	}
	t.emit(r, true, pt)
}

// --- TLS ---
