package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ompscope/ompscope/dissect/capture"
)

// progress shows, on a terminal's stderr, how far the reading of a capture
// file has come: bytes, packets, rate and the time left (not for compressed
// input, whose size says nothing of its length). OnPacket may run on the
// reading goroutine (-j): it only stores atomics; Between prints, at most
// twice a second, and Done clears the line.
type progress struct {
	w       io.Writer
	size    int64 // bytes of the file(s), 0: unknown
	start   time.Time
	last    time.Time
	off     atomic.Int64
	packets atomic.Uint64
	shown   bool
}

// newProgress returns a progress for the files, or nil when it should stay
// silent (stderr is not a terminal and force is off, or standard input).
func newProgress(stderr io.Writer, files []string, force bool) *progress {
	if !force && !isTerminal(stderr) {
		return nil
	}
	p := &progress{w: stderr, start: time.Now()}
	for _, f := range files {
		if f == "-" {
			return nil
		}
		st, err := os.Stat(f)
		if err != nil || strings.HasSuffix(f, ".gz") || len(files) > 1 {
			p.size = -1
			break
		}
		p.size += st.Size()
	}
	return p
}

func (p *progress) onPacket(pk *capture.Packet) {
	p.off.Store(pk.Offset)
	p.packets.Add(1)
}

func (p *progress) between() {
	now := time.Now()
	if now.Sub(p.last) < 500*time.Millisecond {
		return
	}
	p.last = now
	p.shown = true
	el := now.Sub(p.start).Seconds()
	off, n := p.off.Load(), p.packets.Load()
	line := fmt.Sprintf("\r%d packets", n)
	if p.size > 0 && el > 0 {
		rate := float64(off) / el
		line += fmt.Sprintf(", %.0f of %.0f MB (%.0f%%), %.1f MB/s", float64(off)/1e6, float64(p.size)/1e6,
			100*float64(off)/float64(p.size), rate/1e6)
		if rate > 0 {
			line += fmt.Sprintf(", %s left", time.Duration(float64(p.size-off)/rate*float64(time.Second)).Round(time.Second))
		}
	} else if el > 0 {
		line += fmt.Sprintf(", %.0f packets/s", float64(n)/el)
	}
	fmt.Fprint(p.w, line+"   ")
}

// done ends the progress line.
func (p *progress) done() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", 78)+"\r")
	}
}
