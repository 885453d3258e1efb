package tlsdec

import (
	"bytes"
)

// Records waiting for their keys: queued while the key store has none,
// retried when it changes (a key log that grows, a Decryption Secrets Block
// later in the file), counted as failures at the end.

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
func (t *Tracker) checkKeys() {
	if g := t.keyGeneration(); g != t.keyGen {
		t.keyGen = g
		t.retry()
	}
}

// Retry tries again to find keys for the sessions that have records
// waiting, and emits the records that can now be decrypted. The tracker
// does this by itself on its next DTLSDatagram / TLSData call after the
// KeyStore changed; call Retry to flush without new traffic.
func (t *Tracker) Retry(emit func(*Record)) {
	t.out = emit
	t.retry()
}

func (t *Tracker) retry() {
	if len(t.waiting) == 0 {
		return
	}
	for _, s := range t.waitingInOrder() {
		if ok, _, _ := t.ensureKeys(s); ok {
			t.flushPending(s)
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
	SortSessions(list)
	return list
}

func (t *Tracker) dropPending(s *Session) {
	st := s.state
	if n := len(st.pending); n > 0 {
		s.failN(ReasonNoKey, n, "%s", st.keyMsg)
	}
	st.pt.pendingTotal -= st.pendingBytes
	st.pending, st.pendingBytes = nil, 0
	delete(t.waiting, s)
}

// queue keeps an encrypted record until a key arrives, or counts it.
func (t *Tracker) queue(r *rec, reason Reason, msg string) {
	s := r.s
	st := s.state
	if reason != ReasonNoKey {
		s.fail(reason, "frame %d: %s", r.frame, msg)
		return
	}
	body := r.body
	if t.opt.MaxPendingRecords < 0 || len(st.pending) >= t.opt.MaxPendingRecords ||
		st.pendingBytes+len(body) > t.opt.MaxPendingBytes ||
		st.pt.pendingTotal+len(body) > t.lim.pending {
		s.fail(ReasonNoKey, "%s", msg)
		return
	}
	p := *r
	p.s, p.body = nil, bytes.Clone(body)
	st.pending = append(st.pending, p)
	st.pendingBytes += len(body)
	st.pt.pendingTotal += len(body)
	t.waiting[s] = struct{}{}
}

// flushPending decrypts the queued records of a session whose keys became
// ready.
func (t *Tracker) flushPending(s *Session) {
	st := s.state
	list := st.pending
	st.pt.pendingTotal -= st.pendingBytes
	st.pending, st.pendingBytes = nil, 0
	delete(t.waiting, s)
	for i := range list {
		p := &list[i]
		p.s = s
		before := s.Decrypted
		if st.dtls {
			t.dtlsDecrypt(p)
		} else {
			t.tlsDecrypt(p, true)
		}
		s.Recovered += s.Decrypted - before
	}
}

// --- DTLS ---

// retryAfterHandshake retries the key search of a session with records
// waiting when new handshake messages arrived (reordered datagrams).
func (t *Tracker) retryAfterHandshake(s *Session) {
	st := s.state
	if len(st.pending) == 0 || !st.hsChanged || st.keys == keyReady {
		return
	}
	if ok, _, _ := t.ensureKeys(s); ok {
		t.flushPending(s)
	}
}

// pendingRec is an encrypted record waiting for a key: a rec whose body is
// a copy (its session is nil while it waits).
type pendingRec = rec
