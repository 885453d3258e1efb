package relay

import (
	"time"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// Encoder is the sensor's side: a dissect.InfoSink that turns what the
// dissector produces into envelopes, in order, for Out. It numbers the
// run's sessions and envelopes, sends a session's facts before its first
// event (and again when they change), and thins the dissector's clock
// ticks (one per packet) to one per TickEvery of capture time: the
// analyzer's timers fire at their own time whatever the ticks, so the
// analysis is the same.
type Encoder struct {
	// Out receives each envelope (valid during the call only).
	Out func(e *Envelope)
	// TickEvery is the capture time between two ticks (0: one second).
	TickEvery time.Duration
	// Full, when set, says the publisher cannot take more now (a live
	// sensor whose server is away): the event (a record, a gap, a
	// session's end or announcement, a tick) is then dropped and counted;
	// once Full is false again a KindLoss envelope says how many, and the
	// sessions' facts are sent again before their next events. Seq has no
	// hole.
	Full func() bool
	// Dropping, when set, hears when dropping starts (n 0) and when it
	// stops (n events dropped), for a log line.
	Dropping func(start bool, n uint64)

	run      uint64
	seq      uint64
	nextSess uint64
	gen      uint64 // bumped by each loss: facts sent before it go again
	sess     map[*tlsdec.Session]*sessEntry
	plain    map[string]*sessEntry
	lastTick time.Time // the last tick sent
	last     time.Time // the last capture time seen
	env      Envelope
	facts    SessionFacts
	sentMax  time.Time // the newest capture time sent
	lost     uint64    // events dropped since the last KindLoss
	lostFrom time.Time // the first of them
	lostAll  uint64    // events dropped in all
}

type sessEntry struct {
	num   uint64
	facts SessionFacts
	gen   uint64 // c.gen when its facts were last sent
}

// maxSessions bounds the encoder's maps as the analyzer's feeder bounds
// its own: past it they start over (a session seen again is sent again
// under a new number, with the same ID).
const maxSessions = 1 << 16

var _ dissect.InfoSink = (*Encoder)(nil)

// Run is the run's identity (0 before the first event).
func (c *Encoder) Run() uint64 { return c.run }

// Seq is the number of envelopes sent.
func (c *Encoder) Seq() uint64 { return c.seq }

// Last is the last capture time seen.
func (c *Encoder) Last() time.Time { return c.last }

// Lost is the number of events dropped because the publisher was full.
func (c *Encoder) Lost() uint64 { return c.lostAll }

// begin starts an event at capture time t; it reports false when the
// event is dropped (the publisher is full), and sends the loss envelope
// when dropping has just ended.
func (c *Encoder) begin(t time.Time) bool {
	if c.run == 0 {
		c.run = uint64(max(t.UnixNano(), 1))
		c.sess = map[*tlsdec.Session]*sessEntry{}
		c.plain = map[string]*sessEntry{}
	}
	if t.After(c.last) {
		c.last = t
	}
	if c.Full != nil && c.Full() {
		if c.lost == 0 {
			c.lostFrom = t
			c.gen++ // the facts go again after the loss
			if c.Dropping != nil {
				c.Dropping(true, 0)
			}
		}
		c.lost++
		c.lostAll++
		return false
	}
	if c.lost > 0 {
		n := c.lost
		c.lost = 0
		e := c.send(KindLoss, t, 0, 0)
		e.Count, e.Start = n, c.lostFrom
		c.emit()
		if c.Dropping != nil {
			c.Dropping(false, n)
		}
	}
	return true
}

// send starts an envelope (Out gets it at emit).
func (c *Encoder) send(k Kind, t time.Time, frame, sess uint64) *Envelope {
	if k != KindTick && t.Before(c.last) && c.sentMax.Before(c.last) {
		// the clock went past t in a tick not sent (ticks are thinned):
		// the analyzer's clock must be there too before this event, as
		// it would be reading the capture
		c.seq++
		c.env = Envelope{Kind: KindTick, Run: c.run, Seq: c.seq, Time: c.last}
		c.lastTick, c.sentMax = c.last, c.last
		c.emit()
	}
	if t.After(c.sentMax) {
		c.sentMax = t
	}
	c.seq++
	c.env = Envelope{Kind: k, Run: c.run, Seq: c.seq, Time: t, Frame: frame, Session: sess}
	return &c.env
}

func (c *Encoder) emit() { c.Out(&c.env) }

// session returns s's number, sending its facts first when they are new
// or changed (or went before a loss); announce sends them in any case,
// marked as the dissector's announcement.
func (c *Encoder) session(s *tlsdec.Session, t time.Time, frame uint64, announce bool) uint64 {
	en := c.sess[s]
	if en == nil {
		if len(c.sess) >= maxSessions {
			clear(c.sess)
		}
		c.nextSess++
		en = &sessEntry{num: c.nextSess}
		c.sess[s] = en
		c.facts = SessionFacts{}
		FillFacts(&c.facts, s)
	} else {
		c.facts = en.facts
		FillFacts(&c.facts, s)
		if !announce && en.gen == c.gen && factsEqual(&c.facts, &en.facts) {
			return en.num
		}
	}
	en.facts, en.gen = c.facts, c.gen
	f := en.facts
	e := c.send(KindSession, t, frame, en.num)
	e.Info, e.Announce = &f, announce
	c.emit()
	return en.num
}

// FillFacts sets f from what the dissector knows of s now: the facts
// learned late (suite, key source) refreshed, the version and the
// certificates kept once seen. The analyzer's feeder reading a capture
// and a sensor publishing it use it alike, so that both analyses see the
// same sessions.
func FillFacts(f *SessionFacts, s *tlsdec.Session) {
	f.ID, f.Client, f.Server, f.Transport = s.ID, s.Client, s.Server, s.Transport
	f.Suite, f.KeySource, f.NullCipher = "", s.KeySource, s.NullCipher()
	if s.HandshakeSeen {
		f.Suite, f.Version = s.CipherSuiteName(), s.VersionName()
	}
	if f.ClientCert == nil && s.ClientCert != nil {
		f.ClientCert = cert(s.ClientCert)
	}
	if f.ServerCert == nil && s.ServerCert != nil {
		f.ServerCert = cert(s.ServerCert)
	}
}

func cert(c *tlsdec.CertInfo) *Cert {
	out := &Cert{Time: c.Time, Frame: c.Frame, Empty: c.Empty, Subject: c.Subject, Issuer: c.Issuer,
		SubjectEmpty: c.SubjectEmpty, SelfSigned: c.SelfSigned, ParseError: c.ParseError}
	if !c.Empty {
		out.SHA256 = c.SHA256
	}
	return out
}

func factsEqual(a, b *SessionFacts) bool {
	return a.ID == b.ID && a.Client == b.Client && a.Server == b.Server && a.Transport == b.Transport &&
		a.Suite == b.Suite && a.Version == b.Version && a.KeySource == b.KeySource && a.NullCipher == b.NullCipher &&
		(a.ClientCert == nil) == (b.ClientCert == nil) && (a.ServerCert == nil) == (b.ServerCert == nil)
}

// SessionInfo sends a session whose certificates came before any record.
func (c *Encoder) SessionInfo(s *tlsdec.Session, t time.Time, frame uint64) {
	if c.begin(t) {
		c.session(s, t, frame, true)
	}
}

// Record sends one record's plaintext.
func (c *Encoder) Record(ev *dissect.Event) {
	if !c.begin(ev.Time) {
		return
	}
	var num uint64
	fromServer := ev.Dir == tlsdec.FromServer
	if ev.Session != nil {
		num = c.session(ev.Session, ev.Time, ev.Frame, false)
	} else {
		// vdaemon outside DTLS/TLS: a "plain" session per endpoint pair,
		// the sender of the first message its client (as the feeder does)
		k := ev.Src.String() + ">" + ev.Dst.String()
		rk := ev.Dst.String() + ">" + ev.Src.String()
		en := c.plain[rk]
		if en != nil {
			fromServer = true
		} else if en = c.plain[k]; en == nil {
			if len(c.plain) >= maxSessions {
				clear(c.plain)
			}
			c.nextSess++
			en = &sessEntry{num: c.nextSess, gen: c.gen - 1,
				facts: SessionFacts{ID: "plain:" + k, Client: ev.Src, Server: ev.Dst, Transport: ev.Transport}}
			c.plain[k] = en
		} else {
			fromServer = false
		}
		if en.gen != c.gen {
			en.gen = c.gen
			f := en.facts
			e := c.send(KindSession, ev.Time, ev.Frame, en.num)
			e.Info = &f
			c.emit()
		}
		num = en.num
	}
	e := c.send(KindRecord, ev.Time, ev.Frame, num)
	e.FromServer, e.Plaintext = fromServer, ev.Plaintext
	c.emit()
}

// Gap sends n records of s that could not be decrypted.
func (c *Encoder) Gap(s *tlsdec.Session, r tlsdec.Reason, n int) {
	if !c.begin(s.LastSeen) {
		return
	}
	num := c.session(s, s.LastSeen, s.LastFrame, false)
	e := c.send(KindGap, s.LastSeen, s.LastFrame, num)
	e.Reason, e.Records = r.String(), uint64(max(n, 0))
	if r == tlsdec.ReasonNoKey {
		e.Start = s.FirstSeen
	}
	c.emit()
}

// SessionEnd sends the end of a session.
func (c *Encoder) SessionEnd(s *tlsdec.Session, t time.Time, frame uint64, why string) {
	if !c.begin(t) {
		return
	}
	num := c.session(s, t, frame, false)
	e := c.send(KindEnd, t, frame, num)
	e.Why = why
	c.emit()
}

// Tick sends the capture clock once per TickEvery.
func (c *Encoder) Tick(t time.Time) {
	every := c.TickEvery
	if every <= 0 {
		every = time.Second
	}
	if !c.lastTick.IsZero() && t.Sub(c.lastTick) < every && c.run != 0 {
		if t.After(c.last) {
			c.last = t
		}
		return
	}
	if c.begin(t) {
		c.tick(t)
	}
}

func (c *Encoder) tick(t time.Time) {
	c.send(KindTick, t, 0, 0)
	c.lastTick = t
	c.emit()
}

// Finish sends the last capture time as a tick (the analysis ends there)
// and what of the capture could not be read. Nothing is sent for a run
// that saw nothing. The publisher waits for room at the end.
func (c *Encoder) Finish(gaps []CaptureGap) {
	if c.run == 0 {
		return
	}
	c.Full = nil
	c.begin(c.last) // the loss envelope, if events were dropped
	if !c.lastTick.Equal(c.last) {
		c.tick(c.last)
	}
	e := c.send(KindFinish, c.last, 0, 0)
	e.Gaps = gaps
	c.emit()
}
