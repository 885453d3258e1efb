package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcHeadroom is how much garbage the process lets accumulate between two
// collections, whatever its live heap: the analyzer allocates as it
// goes, and a small live heap (a fabric of a few thousand routes) would
// otherwise be collected every few megabytes.
var gcHeadroom int64 = 128 << 20

// tuneGC sets the collector's target after every collection: GOGC is the
// headroom over the live heap (at most 400 %, at least 50 %), so a small
// heap is collected rarely and a large one (millions of routes) keeps
// its peak memory close to what it holds. GOGC set by the user wins.
func tuneGC() { gcOnce.Do(startGCTuning) }

var gcOnce sync.Once

func startGCTuning() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		live := int64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = int64(sample[0].Value.Uint64())
		}
		pct := 400
		if live > 0 {
			pct = int(max(50, min(400, gcHeadroom*100/live)))
		}
		debug.SetGCPercent(pct)
	}
	set()
	// a sentinel re-armed at every collection
	type sentinel struct {
		p *byte // a pointer: never a tiny allocation, whose finalizer may not run
		_ [24]byte
	}
	var arm func(*sentinel)
	arm = func(s *sentinel) {
		set()
		runtime.SetFinalizer(&sentinel{}, arm)
	}
	runtime.SetFinalizer(&sentinel{}, arm)
}
