package analyze

import "container/heap"

// timer is a callback due at a capture time. Callbacks re-check their
// condition (timers are never cancelled, they are made harmless).
type timer struct {
	at  int64
	seq uint64
	fn  func(now int64)
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// after schedules fn at capture time at (not before the clock).
func (a *Analyzer) after(at int64, fn func(now int64)) {
	if at < a.clock {
		at = a.clock
	}
	a.seq++
	heap.Push(&a.timers, &timer{at: at, seq: a.seq, fn: fn})
}

// advanceTo moves the clock to t (never backwards), evaluating pending
// work at the old time and firing the timers due on the way. It returns
// the clock.
func (a *Analyzer) advanceTo(t int64) int64 {
	if !a.started {
		if t == 0 {
			// an input without a time before any with one: start the
			// clock at the earliest time there is, so it never goes back
			t = minTime.UnixNano()
		}
		a.started = true
		a.clock, a.first = t, t
		a.resolveMarks()
		for _, m := range a.marks {
			if !m.in.End && m.at < t {
				// an instant before the capture: nothing yet
				m.snap = &Snapshot{At: nsTime(m.at), Exact: true}
			}
		}
		return t
	}
	if t <= a.clock {
		return a.clock
	}
	a.tick()
	for {
		// the earliest of: a timer due by t, an instant to snapshot
		// before t (inputs at the instant itself come first)
		m := a.nextMark(t)
		if len(a.timers) > 0 && a.timers[0].at <= t && (m == nil || a.timers[0].at <= m.at) {
			tm := heap.Pop(&a.timers).(*timer)
			if tm.at > a.clock {
				a.clock = tm.at
			}
			tm.fn(a.clock)
			a.tick()
			continue
		}
		if m == nil {
			break
		}
		a.takeMark(m)
	}
	a.clock = t
	a.maybePrune()
	return t
}

// mark is an instant of Config.SnapshotAt and, once the capture passed
// it, its snapshot.
type mark struct {
	in    Instant
	at    int64 // resolved (0: not yet, or End)
	snap  *Snapshot
	after bool // the instant lies after the end of the capture
}

// resolveMarks turns the configured instants into capture times once the
// capture start is known.
func (a *Analyzer) resolveMarks() {
	if a.marks == nil {
		for _, in := range a.cfg.SnapshotAt {
			a.marks = append(a.marks, &mark{in: in})
		}
	}
	for _, m := range a.marks {
		switch {
		case m.in.End:
		case !m.in.Time.IsZero():
			m.at = timeNS(m.in.Time)
		default:
			m.at = a.first + int64(m.in.Offset)
		}
	}
}

// nextMark returns the earliest instant not yet snapshotted that lies
// before t.
func (a *Analyzer) nextMark(t int64) *mark {
	var best *mark
	for _, m := range a.marks {
		if m.snap == nil && !m.in.End && m.at < t && (best == nil || m.at < best.at) {
			best = m
		}
	}
	return best
}

// takeMark snapshots the tables at m's instant: everything up to it has
// been applied and nothing after it.
func (a *Analyzer) takeMark(m *mark) {
	at := max(m.at, a.clock)
	if m.at >= a.clock {
		a.clock = m.at
	}
	a.tick()
	m.snap = a.snapshotNow(at)
	m.snap.At = nsTime(m.at)
}

// markAt returns the snapshot kept for instant T, if one was asked for.
func (a *Analyzer) markAt(T int64, end bool) *Snapshot {
	for _, m := range a.marks {
		if m.snap != nil && ((end && m.in.End) || (!end && m.at == T)) {
			return m.snap
		}
	}
	return nil
}

// finishMarks snapshots, at the end of the capture, the instants it did
// not reach (and the end itself).
func (a *Analyzer) finishMarks() {
	for _, m := range a.marks {
		if m.snap != nil {
			continue
		}
		if m.in.End {
			m.at = a.clock
		}
		m.after = m.at > a.clock
		m.snap = a.snapshotNow(a.clock)
		m.snap.At = nsTime(m.at)
		m.snap.AfterEnd = m.after
	}
}
