package tlsdec

import "time"

// What the record layers share: a record as they handle it (rec) and its
// emission to the caller.

// rec is one record as the record layers handle it: its session and side,
// when it was captured, its header and its body. (The record functions
// took these as ten positional parameters.)
type rec struct {
	s     *Session
	side  int
	ts    time.Time
	frame uint64
	typ   uint8
	ver   uint16
	epoch uint16
	seq   uint64
	body  []byte
}

// emit hands a record's content (pt) to the caller's callback, which the
// entry points (DTLSDatagram, TLSData, Retry) keep in t.out for the call.
func (t *Tracker) emit(r *rec, decrypted bool, pt []byte) {
	s := r.s
	if decrypted {
		s.Decrypted++
	} else {
		s.Cleartext++
	}
	if t.out == nil {
		return
	}
	dir := DirUnknown
	if s.RolesKnown {
		dir = Direction(r.side + 1)
	}
	// field by field: the composite literal was built aside and copied
	// whole (TestEmitSetsEveryRecordField keeps the list whole)
	rc := &t.rec
	rc.Session, rc.Dir, rc.Time, rc.Frame, rc.ContentType = s, dir, r.ts, r.frame, r.typ
	rc.Epoch, rc.Seq, rc.Decrypted, rc.Plaintext = r.epoch, r.seq, decrypted, pt
	t.out(rc)
}

// --- keys arriving late ---

// nullClear emits the content of a NULL-cipher record whose MAC cannot be
// checked (no key): the data is in the clear on the wire anyway.
func (t *Tracker) nullClear(r *rec) bool {
	s, body := r.s, r.body
	si := suiteTable[s.CipherSuite]
	if !s.HandshakeSeen || si == nil || (si.cipher != cipherNull && si.cipher != cipherNoMAC) || s.Legacy() {
		return false
	}
	n := len(body)
	if si.cipher == cipherNull {
		n -= si.mac().Size()
	}
	if n < 0 {
		s.fail(ReasonMalformed, "frame %d: NULL-cipher record of %d bytes is shorter than its MAC", r.frame, len(body))
		return true
	}
	t.emit(r, false, body[:n])
	return true
}
