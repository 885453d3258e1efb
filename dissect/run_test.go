package dissect

import (
	"errors"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// idleEvery is a capture file that, like a quiet live interface, has
// nothing to give now and then.
type idleEvery struct {
	r    *capture.Reader
	n, k int
}

func (s *idleEvery) Next(p *capture.Packet) error {
	s.n++
	if s.n%s.k == 0 {
		return capture.ErrIdle
	}
	return s.r.Next(p)
}

type recSink struct{ records, gaps, ends, ticks int }

func (s *recSink) Record(e *Event) { s.records++ }
func (s *recSink) Gap(*tlsdec.Session, tlsdec.Reason, int) {
	s.gaps++
}
func (s *recSink) SessionEnd(*tlsdec.Session, time.Time, uint64, string) { s.ends++ }
func (s *recSink) Tick(time.Time)                                        { s.ticks++ }

// TestRunSource: the one packet loop feeds every packet, ticks the clock
// after each and at each idle timeout, stops at MaxPackets or when Between
// says so, and hands a file's Decryption Secrets Blocks to the key store.
func TestRunSource(t *testing.T) {
	open := func() *capture.Reader {
		r, err := capture.Open("../pcaps/route-flap.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	// the whole file, through the plain loop: records decrypted with the
	// file's own keys
	all := &recSink{}
	d := NewWithSink(Config{}, all)
	if err := d.RunSource(open(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	if all.records < 500 || all.ticks != int(d.Counters.Packets) || all.gaps != 0 {
		t.Fatalf("%d records, %d ticks for %d packets, %d gaps", all.records, all.ticks, d.Counters.Packets, all.gaps)
	}
	// idle timeouts tick the wall clock; MaxPackets stops
	s := &recSink{}
	d = NewWithSink(Config{}, s)
	src := &idleEvery{r: open(), k: 10}
	seen := 0
	if err := d.RunSource(src, RunOptions{MaxPackets: 100, OnPacket: func(*capture.Packet) { seen++ }}); err != nil {
		t.Fatal(err)
	}
	if seen != 100 || d.Counters.Packets != 100 || s.ticks != 100+11 {
		t.Errorf("%d packets seen, %d dissected, %d ticks; want 100, 100, 111", seen, d.Counters.Packets, s.ticks)
	}
	// Between stops the run
	s = &recSink{}
	d = NewWithSink(Config{}, s)
	calls := 0
	if err := d.RunSource(open(), RunOptions{Between: func() bool { calls++; return calls == 7 }}); err != nil {
		t.Fatal(err)
	}
	if d.Counters.Packets != 7 {
		t.Errorf("Between stopped after %d packets, want 7", d.Counters.Packets)
	}
	// a source's error ends the run and is returned
	bad := errors.New("disk on fire")
	d = NewWithSink(Config{}, &recSink{})
	if err := d.RunSource(failing{bad}, RunOptions{}); !errors.Is(err, bad) {
		t.Errorf("RunSource = %v", err)
	}
}

type failing struct{ err error }

func (f failing) Next(*capture.Packet) error { return f.err }
