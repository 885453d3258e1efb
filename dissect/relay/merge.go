package relay

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Merger puts the envelopes of several sensors in one capture-time order.
// Each sensor's envelopes come in their stream's order; the merger drops
// duplicates (a resend the stream's window did not catch), puts each run
// of a sensor back in Seq order, and releases the earliest head of all
// sensors once no other sensor can still send an earlier one:
//   - a sensor with envelopes queued, or that has finished, never holds
//     the others back;
//   - a sensor with more envelopes in the stream (not caught up) does, until
//     they arrive;
//   - a caught-up sensor (a live one, or one that went away) does while its
//     newest capture time is within Lateness of the newest of all sensors.
//
// An envelope released with a capture time before one of another sensor
// released earlier is late (counted; the analyzer takes it at its own
// clock). A sensor's runs (a capture each) are each kept in Seq order and
// released in the order they arrive: publish one sensor's captures in
// time order, or give each its own sensor name.
type Merger struct {
	// Lateness is how far (capture time) a caught-up sensor may lag the
	// newest sensor and still hold the merge back (default 2 s).
	Lateness time.Duration
	// HoleWait is how long (wall time) a missing Seq is awaited before
	// the envelopes after it are released without it (default 30 s).
	HoleWait time.Duration
	// MaxOutOfOrder bounds the envelopes a run holds after a missing Seq
	// (default 16384): past it the hole is given up. An envelope whose
	// Seq is further ahead than twice this is not believed (Implausible):
	// a publisher never has that many unacknowledged.
	MaxOutOfOrder int

	sensors []*sensorState // by name
	st      MergeStats
}

// MergeStats counts what the merger did.
type MergeStats struct {
	Envelopes   uint64 // received
	Duplicates  uint64 // received again, dropped
	Missing     uint64 // Seq never received (given up after HoleWait, and not arrived since)
	Recovered   uint64 // given up, then arrived after all (released late)
	Late        uint64 // released after a later capture time of another sensor
	Implausible uint64 // a Seq too far ahead of its run: dropped
	RunsDropped uint64 // runs forgotten past maxRuns per sensor (their place kept: a copy is still a duplicate)
	// ranges of given-up Seqs forgotten past maxGivenUp per run: an
	// envelope of one that arrives after all is dropped as a duplicate
	// (and stays counted as missing)
	GivenForgotten uint64
	// runs forgotten past maxRunsDone per sensor after they were
	// dropped: a copy of an envelope of one is taken for a new run's
	RunsDoneForgotten uint64
}

// Bounds of the merger's tables.
const (
	maxRuns     = 16   // runs kept per sensor (the least recent forgotten, counted)
	maxGivenUp  = 64   // ranges of Seqs given up kept per run (for a late arrival)
	maxRunsDone = 1024 // forgotten runs whose next Seq is kept per sensor
)

type sensorState struct {
	name     string
	runs     []*runState // least recently used first
	ready    []*Envelope
	head     int
	wm       time.Time // the newest capture time put in ready
	caughtUp bool      // the stream had nothing more for it when its last envelope came
	finished bool      // a run of it sent KindFinish, released, and nothing came after
	got      uint64
	outMax   time.Time         // the newest capture time released
	outRun   uint64            // the run it came from
	done     map[uint64]uint64 // forgotten runs: their next Seq
	doneList []uint64          // their order, oldest first
}

type runState struct {
	run    uint64
	next   uint64 // next Seq expected
	ooo    map[uint64]*Envelope
	holeAt time.Time   // wall time the hole was first seen
	given  []givenSpan // Seqs given up (a late arrival is still taken), in order
	// startAt: the run's first envelope read was its sensor's first, at
	// this Seq past 1. The Seqs before it are awaited while the stream
	// has more of the sensor (a batch resent under load is stored after
	// the next), and given up, uncounted, once it has not (the stream's
	// limits dropped them). 0: none awaited so.
	startAt uint64
}

// givenSpan is a range [lo, hi) of Seqs given up; counted: they count as
// missing (not: before the run's first seen envelope).
type givenSpan struct {
	lo, hi  uint64
	counted bool
}

// take removes q from the ranges given up, reporting whether it was there
// and whether it counted as missing (a range split in two past maxGivenUp
// forgets the oldest, counted in st).
func (r *runState) take(st *MergeStats, q uint64) (ok, counted bool) {
	for i, g := range r.given {
		if q < g.lo || q >= g.hi {
			continue
		}
		switch {
		case g.lo+1 == g.hi:
			r.given = append(r.given[:i], r.given[i+1:]...)
		case q == g.lo:
			r.given[i].lo++
		case q == g.hi-1:
			r.given[i].hi--
		default:
			r.given = append(r.given[:i+1], r.given[i:]...)
			r.given[i].hi, r.given[i+1].lo = q, q+1
			if len(r.given) > maxGivenUp {
				r.given = append(r.given[:0], r.given[1:]...)
				st.GivenForgotten++
			}
		}
		return true, g.counted
	}
	return false, false
}

// giveUp remembers [lo, hi) as given up (the oldest range forgotten past
// maxGivenUp, counted in st).
func (r *runState) giveUp(st *MergeStats, lo, hi uint64, counted bool) {
	if lo >= hi {
		return
	}
	if len(r.given) >= maxGivenUp {
		r.given = append(r.given[:0], r.given[1:]...)
		st.GivenForgotten++
	}
	r.given = append(r.given, givenSpan{lo, hi, counted})
}

// Released is an envelope the merger gives out, with its sensor.
type Released struct {
	Sensor string
	Env    *Envelope
}

func (m *Merger) limit() int {
	if m.MaxOutOfOrder <= 0 {
		return 16384
	}
	return m.MaxOutOfOrder
}

func (m *Merger) sensor(name string) *sensorState {
	i, ok := slices.BinarySearchFunc(m.sensors, name, func(s *sensorState, n string) int { return strings.Compare(s.name, n) })
	if ok {
		return m.sensors[i]
	}
	s := &sensorState{name: name}
	m.sensors = slices.Insert(m.sensors, i, s)
	return s
}

func (m *Merger) run(s *sensorState, run, seq uint64) *runState {
	for i, r := range s.runs {
		if r.run == run {
			if i != len(s.runs)-1 {
				s.runs = append(append(s.runs[:i:i], s.runs[i+1:]...), r)
			}
			return r
		}
	}
	if len(s.runs) >= maxRuns {
		// forget the least recent run; what it held is given out, and
		// its next Seq kept, so that a copy of it is still a duplicate
		old := s.runs[0]
		m.skipHole(s, old, ^uint64(0))
		s.runs = s.runs[1:]
		m.st.RunsDropped++
		if s.done == nil {
			s.done = map[uint64]uint64{}
		}
		if len(s.doneList) >= maxRunsDone {
			delete(s.done, s.doneList[0])
			s.doneList = s.doneList[1:]
			m.st.RunsDoneForgotten++
		}
		s.done[old.run] = old.next
		s.doneList = append(s.doneList, old.run)
	}
	r := &runState{run: run, next: 1, ooo: map[uint64]*Envelope{}}
	switch next, ok := s.done[run]; {
	case ok:
		r.next = next // a run forgotten, back
	case s.got == 1 && seq > 1:
		// the sensor's first envelope read is past its run's first:
		// either the stream's limits dropped the start, or its first
		// batches are stored further on (resent); settleStart decides.
		// Awaited: the limit's worth of Seqs before it (as many as a
		// publisher holds unacknowledged)
		r.startAt = seq
		r.next = seq - min(seq-1, uint64(m.limit()))
	}
	s.runs = append(s.runs, r)
	return r
}

// Expect names a sensor whose envelopes are in the stream but not yet
// received: it holds the merge back until they come.
func (m *Merger) Expect(name string) { m.sensor(name) }

// Caught says whether the stream has more for the sensor (after a
// message that was not an envelope).
func (m *Merger) Caught(name string, caughtUp bool) {
	s := m.sensor(name)
	s.caughtUp = caughtUp
	m.settleStarts(s)
}

// Push adds a received envelope; pending is how many more messages the
// stream holds for the sensor (0: caught up). now is the wall time. It
// reports whether the merger kept it (false: a duplicate, or not
// believed).
func (m *Merger) Push(name string, e *Envelope, pending uint64, now time.Time) bool {
	m.st.Envelopes++
	s := m.sensor(name)
	s.got++
	s.caughtUp = pending == 0
	r := m.run(s, e.Run, max(e.Seq, 1))
	switch {
	case e.Seq < r.next || r.ooo[e.Seq] != nil:
		if ok, counted := r.take(&m.st, e.Seq); ok {
			// given up, and here after all: released late
			if counted {
				m.st.Missing--
			}
			m.st.Recovered++
			m.ready(s, e)
			return true
		}
		m.st.Duplicates++
		return false
	case e.Seq-r.next > uint64(2*m.limit()):
		m.st.Implausible++
		return false
	case e.Seq > r.next:
		if len(r.ooo) == 0 {
			r.holeAt = now
		}
		r.ooo[e.Seq] = e
		if len(r.ooo) >= m.limit() {
			m.settleStart(s, r, true)
			m.skipHole(s, r, e.Seq)
		}
		m.settleStarts(s)
		return true
	}
	m.accept(s, r, e)
	m.drain(s, r)
	if len(r.ooo) > 0 {
		r.holeAt = now
	}
	m.settleStarts(s)
	return true
}

// settleStart gives up, uncounted, the Seqs before a run's first read
// envelope (startAt) when the stream has nothing more of the sensor, or
// when force says so (too much held, or waited long enough): the stream's
// limits dropped them, and the run begins at startAt (those before it, if
// they come, are taken late).
func (m *Merger) settleStart(s *sensorState, r *runState, force bool) {
	if r.startAt == 0 {
		return
	}
	if r.next >= r.startAt {
		r.startAt = 0 // they came
		return
	}
	if !force && !s.caughtUp {
		return
	}
	// those that came are released in order, the rest given up
	// (startAt itself is held: the run's first envelope read)
	m.skipTo(s, r, r.startAt, false)
	r.startAt = 0
}

// settleStarts is settleStart of every run of s.
func (m *Merger) settleStarts(s *sensorState) {
	for _, r := range s.runs {
		m.settleStart(s, r, false)
	}
}

func (m *Merger) ready(s *sensorState, e *Envelope) {
	s.ready = append(s.ready, e)
	s.finished = s.finished && e.Kind == KindFinish
	if e.Time.After(s.wm) {
		s.wm = e.Time
	}
}

func (m *Merger) accept(s *sensorState, r *runState, e *Envelope) {
	r.next = e.Seq + 1
	m.ready(s, e)
}

func (m *Merger) drain(s *sensorState, r *runState) {
	for len(r.ooo) > 0 {
		n := r.ooo[r.next]
		if n == nil {
			return
		}
		delete(r.ooo, r.next)
		m.accept(s, r, n)
	}
}

// skipHole gives up the Seqs missing before the lowest held one (at most
// upTo), counting them and remembering them (a late arrival is taken).
func (m *Merger) skipHole(s *sensorState, r *runState, upTo uint64) { m.skipTo(s, r, upTo, true) }

// skipTo releases the held Seqs up to upTo in order, giving up those
// missing between them (remembered: a late arrival is taken; counted as
// missing when counted).
func (m *Merger) skipTo(s *sensorState, r *runState, upTo uint64, counted bool) {
	if len(r.ooo) == 0 {
		return
	}
	held := make([]uint64, 0, len(r.ooo))
	for q := range r.ooo {
		held = append(held, q)
	}
	slices.Sort(held)
	for _, low := range held {
		if low > upTo {
			return
		}
		if low < r.next {
			continue // released by drain already
		}
		if counted {
			m.st.Missing += low - r.next
		}
		r.giveUp(&m.st, r.next, low, counted)
		r.next = low
		m.drain(s, r)
	}
}

// Pop returns the next envelope to analyze, or nil when none may go yet.
// flush releases everything held (the end: nothing more will come).
func (m *Merger) Pop(now time.Time, flush bool) *Released {
	hw := m.HoleWait
	if hw <= 0 {
		hw = 30 * time.Second
	}
	var newest time.Time
	for _, s := range m.sensors {
		for _, r := range s.runs {
			if len(r.ooo) > 0 && (flush || now.Sub(r.holeAt) >= hw) {
				m.settleStart(s, r, true)
				m.skipHole(s, r, ^uint64(0))
			}
		}
		if s.wm.After(newest) {
			newest = s.wm
		}
	}
	var best *sensorState
	for _, s := range m.sensors {
		if s.head < len(s.ready) && (best == nil || s.ready[s.head].Time.Before(best.ready[best.head].Time)) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	e := best.ready[best.head]
	if !flush {
		lat := m.Lateness
		if lat <= 0 {
			lat = 2 * time.Second
		}
		for _, o := range m.sensors {
			if o == best || o.head < len(o.ready) || o.finished && o.caughtUp {
				continue
			}
			if !o.caughtUp || o.holes() {
				return nil // more of it is in the stream, or a hole is awaited
			}
			if o.wm.Before(e.Time) && !o.wm.Before(newest.Add(-lat)) {
				return nil // a live sensor close behind: it may still send earlier
			}
		}
	}
	best.ready[best.head] = nil
	best.head++
	if best.head == len(best.ready) {
		best.ready, best.head = best.ready[:0], 0
	}
	if e.Kind == KindFinish && !best.holes() && best.head == len(best.ready) {
		best.finished = true
	}
	// late: a later capture time of another sensor, or of another run of
	// this one, went first (a run's own order is the dissector's, as
	// reading its capture)
	late := e.Run != best.outRun && e.Time.Before(best.outMax)
	for _, o := range m.sensors {
		if o != best && e.Time.Before(o.outMax) {
			late = true
			break
		}
	}
	if late {
		m.st.Late++
	}
	if e.Time.After(best.outMax) {
		best.outMax, best.outRun = e.Time, e.Run
	}
	return &Released{Sensor: best.name, Env: e}
}

func (s *sensorState) holes() bool {
	for _, r := range s.runs {
		if len(r.ooo) > 0 {
			return true
		}
	}
	return false
}

// Held is the number of envelopes received and not yet released.
func (m *Merger) Held() int {
	n := 0
	for _, s := range m.sensors {
		n += len(s.ready) - s.head
		for _, r := range s.runs {
			n += len(r.ooo)
		}
	}
	return n
}

// Stats returns the merger's counts.
func (m *Merger) Stats() MergeStats { return m.st }

// Sensors lists the sensors seen, by name, with their envelope counts.
func (m *Merger) Sensors() []string {
	var out []string
	for _, s := range m.sensors {
		out = append(out, fmt.Sprintf("%s (%d)", s.name, s.got))
	}
	return out
}
