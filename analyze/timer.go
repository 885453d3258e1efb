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
		return t
	}
	if t <= a.clock {
		return a.clock
	}
	a.tick()
	for len(a.timers) > 0 && a.timers[0].at <= t {
		tm := heap.Pop(&a.timers).(*timer)
		if tm.at > a.clock {
			a.clock = tm.at
		}
		tm.fn(a.clock)
		a.tick()
	}
	a.clock = t
	a.maybePrune()
	return t
}
