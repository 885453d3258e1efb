package dissect

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
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

// logSink records everything a sink hears, in order.
type logSink struct{ log []string }

func (s *logSink) Record(e *Event) {
	s.log = append(s.log, "R "+strconv.FormatUint(e.Frame, 10)+" "+strconv.FormatUint(e.Seq, 10)+" "+e.Session.ID)
}
func (s *logSink) Gap(ss *tlsdec.Session, r tlsdec.Reason, n int) {
	s.log = append(s.log, "G "+ss.ID+" "+r.String()+" "+strconv.Itoa(n))
}
func (s *logSink) SessionEnd(ss *tlsdec.Session, _ time.Time, f uint64, why string) {
	s.log = append(s.log, "E "+ss.ID+" "+why)
}
func (s *logSink) Tick(t time.Time) { s.log = append(s.log, "T "+t.String()) }

// TestParallelSameAsOne: with keys arriving in the middle of the capture
// (a Decryption Secrets Block after packet N, as sniff -w writes them),
// and with Between stopping the run, a parallel run gives the sink what
// one Dissector gives it, in the same order.
func TestParallelSameAsOne(t *testing.T) {
	keys, err := os.ReadFile("../pcaps/route-flap.keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 80, 640} {
		buf := secretsCapture(t, "../pcaps/route-flap.pcap", -1, func(i int) []byte {
			if i == at {
				return keys
			}
			return nil
		})
		run := func(workers int, between func() bool) []string {
			rd, err := capture.NewReader(bytes.NewReader(buf))
			if err != nil {
				t.Fatal(err)
			}
			s := &logSink{}
			d := NewWithSink(Config{}, s)
			if err := d.RunSource(rd, RunOptions{Workers: workers, Between: between}); err != nil {
				t.Fatal(err)
			}
			d.Finish()
			return s.log
		}
		one, two := run(1, nil), run(2, nil)
		if !slices.Equal(one, two) {
			i := 0
			for i < min(len(one), len(two)) && one[i] == two[i] {
				i++
			}
			t.Errorf("keys after packet %d: -j 2 differs from -j 1 at event %d of %d/%d", at, i, len(one), len(two))
		}
		stop := func() func() bool {
			n := 0
			return func() bool { n++; return n == 300 }
		}
		// what comes up to the stop is the same (at Finish, the workers
		// have read ahead of the stop: what they flush may differ, as a
		// live capture stopped by a signal does)
		upTo := func(log []string) []string {
			n := 0
			for i, e := range log {
				if strings.HasPrefix(e, "T ") {
					if n++; n == 300 {
						return log[:i+1]
					}
				}
			}
			return log
		}
		one, two = run(1, stop()), run(2, stop())
		if !slices.Equal(upTo(one), upTo(two)) {
			t.Errorf("keys after packet %d, stopped at 300: -j 2 gives %d events before the stop, -j 1 %d", at, len(upTo(two)), len(upTo(one)))
		}
	}
}

// runEvicting runs edge-reboot-gr.pcapng with two workers, each holding one
// of two parts of a table of four sessions: at most two sessions a worker
// (evictions all along), stopping when between says so (nil: never).
func runEvicting(t *testing.T, between func() bool) *Dissector {
	t.Helper()
	r, err := capture.Open("../pcaps/edge-reboot-gr.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := NewWithSink(Config{TLS: tlsdec.Options{MaxSessions: 4, Parts: 2}}, &recSink{})
	if err := d.RunSource(r, RunOptions{Workers: 2, Between: between}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestParallelShadowsFollowEvictions: the sink's copies of sessions go
// when the tracker evicts them (MaxSessions bounds memory with -j too).
func TestParallelShadowsFollowEvictions(t *testing.T) {
	d := runEvicting(t, nil)
	for i, w := range d.par.ws {
		if st := w.d.tracker.Stats(); st.SessionsEvicted == 0 {
			t.Errorf("worker %d evicted nothing (%d sessions): the test sees no eviction there", i, st.SessionsCreated)
		}
	}
	if n := len(d.par.shadows); n > 8 {
		t.Errorf("%d session copies kept with at most 2 sessions a worker", n)
	}
	d.Finish()
}

// TestParallelSkippedReadAheadFollowsEvictions: after a stop (Between), the
// read-ahead the merger skips still lets evicted sessions go, as delivery
// does: the state of sessions skipped but not evicted is all it keeps.
func TestParallelSkippedReadAheadFollowsEvictions(t *testing.T) {
	n := 0
	d := runEvicting(t, func() bool { n++; return n == 1 })
	p := d.par
	// the reader hands over a file's packets 256 at a time: the stop at
	// the first leaves at least the rest of its batch to skip
	if len(p.unseen) == 0 {
		t.Fatal("nothing read ahead was skipped: the test sees no skip")
	}
	if k := len(p.shadows) + len(p.unseen); k > 8 {
		t.Errorf("%d session copies kept (%d skipped) with at most 2 sessions a worker", k, len(p.unseen))
	}
	d.Finish()
}

// TestSessionCountsFollowEvictions: the per-session counts (Sessions'
// second result) go with the sessions the tracker evicts, with one
// worker or two: a long run keeps the counts of the sessions it holds,
// not of every session it ever saw. (A table of 16 in two parts: five
// of the capture's sessions evicted, the rest decrypted whole.)
func TestSessionCountsFollowEvictions(t *testing.T) {
	for _, workers := range []int{1, 2} {
		r, err := capture.Open("../pcaps/edge-reboot-gr.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		d := NewWithSink(Config{TLS: tlsdec.Options{MaxSessions: 16, Parts: 2}}, &recSink{})
		if err := d.RunSource(r, RunOptions{Workers: workers}); err != nil {
			t.Fatal(err)
		}
		r.Close()
		d.Finish()
		all, counts := d.Sessions()
		evicted := d.tracker.Stats().SessionsEvicted
		if d.par != nil {
			evicted = 0
			for _, w := range d.par.ws {
				evicted += w.d.tracker.Stats().SessionsEvicted
			}
		}
		if evicted == 0 {
			t.Fatalf("-j %d: no session evicted: the test sees no eviction", workers)
		}
		held := map[*tlsdec.Session]bool{}
		for _, s := range all {
			held[s] = true
		}
		for s := range counts {
			if !held[s] {
				t.Errorf("-j %d: counts kept for session %s, not held (%d held, %d counted, %d evicted)", workers, s.ID,
					len(all), len(counts), evicted)
			}
		}
		withRecords := 0
		for _, s := range all {
			if c := counts[s]; c != nil && c.AppRecord > 0 {
				withRecords++
			}
		}
		if withRecords == 0 {
			t.Errorf("-j %d: no held session has counts", workers)
		}
		// the cache in front of the counts holds only what they hold
		filled := 0
		for i, c := range d.recent {
			if c.key == nil {
				continue
			}
			filled++
			if counts[c.key] != c.st || statsSlot(c.key) != i {
				t.Errorf("-j %d: the counts' cache holds session %s in slot %d, the counts do not", workers, c.key.ID, i)
			}
		}
		if filled == 0 {
			t.Errorf("-j %d: the counts' cache is empty", workers)
		}
	}
}

// TestParallelEvictionLastInItsStep: in a step every worker takes (merged
// by key), a session's eviction comes after the session's own items of
// the step, so the merger does not bring the session back after letting
// it go (its copy and its counts would then stay for good).
func TestParallelEvictionLastInItsStep(t *testing.T) {
	d := NewWithSink(Config{}, &recSink{})
	d.startParallel(1)
	defer d.Finish()
	p, w := d.par, d.par.ws[0]
	a := &tlsdec.Session{ID: "dtls:a", Transport: "dtls", FirstFrame: 5}
	ob := &outBatch{}
	w.cur = ob
	it := w.add(itemRecord, a) // a record of the session, keyed by its first frame
	it.pt = []byte{0xff}
	w.evicted(a) // then the session is evicted, in the same step
	w.cur = nil
	ob.ends = append(ob.ends, int32(len(ob.items)))
	p.cur[0], p.next[0] = ob, 0
	d.deliverAll()
	if _, ok := p.shadows[a]; ok {
		t.Error("the merger holds a copy of the evicted session")
	}
	if _, ok := d.perSess[a]; ok {
		t.Error("the merger holds counts of the evicted session")
	}
	if d.Counters.AppRecords != 1 {
		t.Errorf("%d records delivered, want the session's one", d.Counters.AppRecords)
	}
}
