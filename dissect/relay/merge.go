package relay

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Merger puts the envelopes of several sensors in one capture-time order.
// Each sensor's envelopes come in their stream's order; the merger drops
// duplicates (a resend the stream's window did not catch), puts a
// sensor's envelopes back in Seq order, and releases the earliest head of
// all sensors once no other sensor can still send an earlier one:
//   - a sensor with envelopes queued, or that has finished, never holds
//     the others back;
//   - a sensor with more envelopes in the stream (not caught up) does, until
//     they arrive;
//   - a caught-up sensor (a live one, or one that went away) does while its
//     newest capture time is within Lateness of the newest of all sensors.
//
// An envelope released with a capture time before one of another sensor
// released earlier is late (counted; the analyzer takes it at its own
// clock).
type Merger struct {
	// Lateness is how far (capture time) a caught-up sensor may lag the
	// newest sensor and still hold the merge back (default 2 s).
	Lateness time.Duration
	// HoleWait is how long (wall time) a missing Seq is awaited before
	// the envelopes after it are released without it (default 30 s).
	HoleWait time.Duration
	// MaxOutOfOrder bounds the envelopes a sensor holds after a missing
	// Seq (default 4096): past it the hole is given up.
	MaxOutOfOrder int

	sensors []*sensorState // by name
	st      MergeStats
}

// MergeStats counts what the merger did.
type MergeStats struct {
	Envelopes  uint64 // received
	Duplicates uint64 // received again, dropped
	Missing    uint64 // Seq never received (given up after HoleWait)
	Late       uint64 // released after a later capture time
	OldRuns    uint64 // envelopes of a sensor's earlier run arriving after a newer one began, dropped
}

type sensorState struct {
	name     string
	run      uint64
	next     uint64 // next Seq expected in run
	ooo      map[uint64]*Envelope
	holeAt   time.Time // wall time the first out-of-order envelope arrived
	ready    []*Envelope
	head     int
	wm       time.Time // the newest capture time put in ready
	caughtUp bool      // the stream had nothing more for it when its last envelope came
	finished bool      // its run sent KindFinish and everything was released
	got      uint64
	outMax   time.Time // the newest capture time released
}

// Released is an envelope the merger gives out, with its sensor.
type Released struct {
	Sensor string
	Env    *Envelope
}

func (m *Merger) sensor(name string) *sensorState {
	i, ok := slices.BinarySearchFunc(m.sensors, name, func(s *sensorState, n string) int { return strings.Compare(s.name, n) })
	if ok {
		return m.sensors[i]
	}
	s := &sensorState{name: name, ooo: map[uint64]*Envelope{}}
	m.sensors = slices.Insert(m.sensors, i, s)
	return s
}

// Expect names a sensor whose envelopes are in the stream but not yet
// received: it holds the merge back until they come.
func (m *Merger) Expect(name string) { m.sensor(name) }

// Caught says whether the stream has more for the sensor (after a
// message that was not an envelope).
func (m *Merger) Caught(name string, caughtUp bool) { m.sensor(name).caughtUp = caughtUp }

// Push adds a received envelope; pending is how many more the stream
// holds for the sensor (0: caught up). now is the wall time. It reports
// whether the merger kept it (false: a duplicate, or an earlier run's).
func (m *Merger) Push(name string, e *Envelope, pending uint64, now time.Time) bool {
	m.st.Envelopes++
	s := m.sensor(name)
	s.got++
	s.caughtUp = pending == 0
	switch {
	case s.run == 0 || e.Run > s.run:
		if s.run != 0 {
			// a new run: what the old one still waited for will not come
			m.skipHole(s, ^uint64(0))
		}
		s.run, s.next, s.finished = e.Run, 1, false
		clear(s.ooo)
	case e.Run < s.run:
		m.st.OldRuns++
		return false
	}
	switch {
	case e.Seq < s.next || s.ooo[e.Seq] != nil:
		m.st.Duplicates++
		return false
	case e.Seq > s.next:
		if len(s.ooo) == 0 {
			s.holeAt = now
		}
		s.ooo[e.Seq] = e
		limit := m.MaxOutOfOrder
		if limit <= 0 {
			limit = 4096
		}
		if len(s.ooo) >= limit {
			m.skipHole(s, e.Seq)
		}
		return true
	}
	m.accept(s, e)
	for len(s.ooo) > 0 {
		n := s.ooo[s.next]
		if n == nil {
			break
		}
		delete(s.ooo, s.next)
		m.accept(s, n)
	}
	if len(s.ooo) > 0 {
		s.holeAt = now
	}
	return true
}

func (m *Merger) accept(s *sensorState, e *Envelope) {
	s.next = e.Seq + 1
	s.ready = append(s.ready, e)
	if e.Time.After(s.wm) {
		s.wm = e.Time
	}
}

// skipHole gives up the Seqs missing before the lowest held one (at most
// upTo), counting them.
func (m *Merger) skipHole(s *sensorState, upTo uint64) {
	for len(s.ooo) > 0 {
		low := ^uint64(0)
		for q := range s.ooo {
			low = min(low, q)
		}
		if low > upTo {
			return
		}
		m.st.Missing += low - s.next
		s.next = low
		for {
			n := s.ooo[s.next]
			if n == nil {
				break
			}
			delete(s.ooo, s.next)
			m.accept(s, n)
		}
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
		if len(s.ooo) > 0 && (flush || now.Sub(s.holeAt) >= hw) {
			m.skipHole(s, ^uint64(0))
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
			if o == best || o.finished || o.head < len(o.ready) {
				continue
			}
			if !o.caughtUp || len(o.ooo) > 0 {
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
	if e.Kind == KindFinish && len(best.ooo) == 0 {
		best.finished = true
	}
	// late: another sensor's later capture time went first (a sensor's
	// own order is the dissector's, as reading its capture)
	for _, o := range m.sensors {
		if o != best && e.Time.Before(o.outMax) {
			m.st.Late++
			break
		}
	}
	if e.Time.After(best.outMax) {
		best.outMax = e.Time
	}
	return &Released{Sensor: best.name, Env: e}
}

// Held is the number of envelopes received and not yet released.
func (m *Merger) Held() int {
	n := 0
	for _, s := range m.sensors {
		n += len(s.ready) - s.head + len(s.ooo)
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
