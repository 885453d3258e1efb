package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestGCTuning: with a small live heap the collector's target is 400 %;
// once the live heap is large against the headroom it falls to 50 %.
func TestGCTuning(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the tuning leaves it alone")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	old := gcHeadroom
	defer func() { gcHeadroom = old }()
	gcHeadroom = 8 << 20
	startGCTuning()
	if p := debug.SetGCPercent(-1); p < 50 || p > 400 {
		t.Fatalf("GOGC %d after tuning", p)
	} else {
		debug.SetGCPercent(p)
	}
	hold := make([][]byte, 64)
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		if p == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d with 64 MB live and 8 MB of headroom, want 50", p)
		}
	}
	runtime.KeepAlive(hold)
}
