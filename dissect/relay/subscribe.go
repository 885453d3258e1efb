package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SubscribeConfig configures the central side.
type SubscribeConfig struct {
	URL    string
	Stream string // DefaultStream when empty
	// Lateness, HoleWait: as Merger's.
	Lateness time.Duration
	HoleWait time.Duration
	// IdleExit ends the run once nothing new has arrived for this long
	// and every sensor's subject has been read to the end of the stream
	// (0: run until ctx ends).
	IdleExit time.Duration
	// Buffer bounds the envelopes received and not yet analyzed, per
	// sensor (default 16384, at least 2 × BatchMax), whether waiting to
	// be merged or in the merger, and MaxBytes their bytes (default 64
	// MB): past them the sensor's consumer waits (the server keeps the
	// rest: back-pressure, not memory). The client fetches at most 64
	// messages (4 MB) ahead besides. The merger's out-of-order limit is
	// Buffer too: a publisher's buffer (--publish-buffer) should not be
	// larger.
	Buffer   int
	MaxBytes int
	// Logf reports connection events and bad messages (nil: silent).
	Logf func(format string, args ...any)
}

// SubStats counts the central side's work.
type SubStats struct {
	MergeStats
	Bytes   uint64
	Bad     uint64   // messages that are not envelopes this ompscope reads
	BadBy   []string // the first bad message's error of each sensor that sent one, by sensor
	Sensors []string // names with their envelope counts
	// SensorsRefused: subjects past MaxSensors, not read. Past
	// maxRefusedSensors of them, the others are not remembered nor
	// counted, and SensorsRefusedMore is set.
	SensorsRefused     int
	SensorsRefusedMore bool
	// Unread: messages the stream held for a sensor and that were not
	// read when the run ended (a consumer that could not catch up).
	Unread  uint64
	MaxHeld int // the most envelopes received and not yet analyzed at once
	// Latency: from the server storing an envelope to its analysis
	// (wall time), over a sample of at most 1 << 20 envelopes.
	LatencyP50, LatencyP99, LatencyMax time.Duration
}

// MaxSensors bounds the sensors (subjects) one central analyzer reads.
const MaxSensors = 256

// maxSensors is MaxSensors, and maxRefusedSensors how many refused
// sensors' names are remembered (so that each is counted and logged
// once: their map grew with the stream's subjects); tests lower them.
var maxSensors, maxRefusedSensors = MaxSensors, 4096

// latency keeps a bounded sample of delays (reservoir sampling past its
// size) for percentiles.
type latency struct {
	v    []time.Duration
	n    uint64
	max  time.Duration
	seed uint64
}

const latencySample = 1 << 20

func (l *latency) add(d time.Duration) {
	l.n++
	l.max = max(l.max, d)
	if len(l.v) < latencySample {
		l.v = append(l.v, d)
		return
	}
	l.seed = l.seed*6364136223846793005 + 1442695040888963407
	if j := (l.seed >> 11) % l.n; j < latencySample {
		l.v[j] = d
	}
}

func (l *latency) pct(p float64) time.Duration {
	if len(l.v) == 0 {
		return 0
	}
	slices.Sort(l.v)
	return l.v[min(len(l.v)-1, int(p*float64(len(l.v))))]
}

type item struct {
	env     *Envelope
	stored  time.Time // by the server
	pending uint64
	bad     error
	size    int
}

// sensorFeed is one sensor's consumer and its queue to the merge loop.
type sensorFeed struct {
	name    string
	subject string
	mu      sync.Mutex
	q       []item
	space   chan struct{} // a token per envelope it may hold (queued or merging)
	bytes   atomic.Int64  // bytes it holds (queued or merging)
	msgs    atomic.Uint64 // messages received
	lastSeq atomic.Uint64 // the stream sequence of the last message received
	pending atomic.Uint64 // the stream's count of messages after it (its consumer's view)
	waiting atomic.Bool   // waiting for room (the analyzer is behind): not stalled
	atEnd   atomic.Bool   // the stream holds nothing after lastSeq (set by the watchdog)
	badErr  error         // the first bad message's error (merge loop only)
}

// Subscribe reads the stream from its start, one ordered consumer per
// sensor subject (sensors appearing later are found within a second),
// merges the sensors in capture-time order and calls deliver for each
// envelope (valid during the call only), until ctx ends or IdleExit.
// Then everything held is delivered and the counts returned.
func Subscribe(ctx context.Context, cfg SubscribeConfig, deliver func(r *Released)) (SubStats, error) {
	var st SubStats
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if err := CheckName("stream", cfg.Stream); err != nil {
		return st, err
	}
	buf := max(cmpOr(cfg.Buffer, 16384), 2*BatchMax) // a message's envelopes always fit
	maxBytes := int64(max(cmpOr(cfg.MaxBytes, 64<<20), 2*MaxEnvelope))
	logf := orSilent(cfg.Logf)
	nc, err := connect(cfg.URL, "ompscope analyzer", logf)
	if err != nil {
		return st, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return st, err
	}
	// the central may start before any sensor: wait for the stream
	start := time.Now()
	var stream jetstream.Stream
	for waited := false; ; waited = true {
		stream, err = js.Stream(ctx, cfg.Stream)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			if e := noJetStream(err); e != nil {
				err = e
			}
			return st, fmt.Errorf("stream %s: %w", cfg.Stream, err)
		}
		if !waited {
			logf("stream %s does not exist yet: waiting for a sensor to publish", cfg.Stream)
		}
		if cfg.IdleExit > 0 && time.Since(start) >= cfg.IdleExit {
			return st, fmt.Errorf("stream %s not found (no sensor has published to it)", cfg.Stream)
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("stream %s not found (no sensor has published to it)", cfg.Stream)
		case <-time.After(250 * time.Millisecond):
		}
	}
	m := &Merger{Lateness: cfg.Lateness, HoleWait: cfg.HoleWait, MaxOutOfOrder: buf}
	prefix := Subject(cfg.Stream, "")
	notify := make(chan struct{}, 1)
	feeds := map[string]*sensorFeed{}
	refused := map[string]bool{}
	var order []*sensorFeed // by name
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	lastArrival := time.Now()
	var lat latency

	// streamCounts is the number of messages the stream holds per sensor
	// subject.
	streamCounts := func() (map[string]uint64, error) {
		info, err := stream.Info(cctx, jetstream.WithSubjectFilter(subjects(cfg.Stream)))
		if err != nil {
			return nil, err
		}
		return info.State.Subjects, nil
	}
	// discover adds a feed per sensor subject the stream holds, in name
	// order
	discover := func() error {
		counts, err := streamCounts()
		if err != nil {
			return err
		}
		var subs []string
		for subj, n := range counts {
			if name, ok := strings.CutPrefix(subj, prefix); ok && feeds[name] == nil && !refused[name] && n > 0 {
				subs = append(subs, subj)
			}
		}
		slices.Sort(subs)
		for _, subj := range subs {
			name := strings.TrimPrefix(subj, prefix)
			if len(feeds) >= maxSensors {
				if len(refused) >= maxRefusedSensors {
					if !st.SensorsRefusedMore {
						st.SensorsRefusedMore = true
						logf("sensors past %d refused: no longer counted nor logged one by one", maxRefusedSensors)
					}
					continue
				}
				st.SensorsRefused++
				logf("sensor %s: not read: more than %d sensors", name, maxSensors)
				refused[name] = true // refused once
				continue
			}
			f := &sensorFeed{name: name, subject: subj, space: make(chan struct{}, buf)}
			for range buf {
				f.space <- struct{}{}
			}
			feeds[name] = f
			i, _ := slices.BinarySearchFunc(order, name, func(g *sensorFeed, n string) int { return strings.Compare(g.name, n) })
			order = slices.Insert(order, i, f)
			m.Expect(name)
			wg.Add(1)
			go func() {
				defer wg.Done()
				feed(cctx, js, stream, f, maxBytes, int(nc.MaxPayload()), notify, logf)
			}()
		}
		return nil
	}
	if err := discover(); err != nil {
		return st, fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	lastDiscover := time.Now()
	done := ctx.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	flush := false
	idleChecks := 0
	for {
		// take what the feeds received
		now := time.Now()
		for _, f := range order {
			f.mu.Lock()
			q := f.q
			f.q = nil
			f.mu.Unlock()
			if len(q) == 0 && f.atEnd.Swap(false) {
				m.Caught(f.name, true) // its messages expired or were purged before they came
			}
			for _, it := range q {
				lastArrival = now
				idleChecks = 0
				st.Bytes += uint64(it.size)
				if it.bad != nil {
					st.Bad++
					if f.badErr == nil {
						f.badErr = it.bad
					}
					if st.Bad <= maxBadLogged {
						logf("sensor %s: skipped a bad message: %v", f.name, it.bad)
					}
					m.Caught(f.name, it.pending == 0)
					f.bytes.Add(-int64(it.size))
					f.space <- struct{}{}
					continue
				}
				it.env.stored, it.env.size = it.stored, it.size
				if !m.Push(f.name, it.env, it.pending, now) {
					f.release(it.env)
				}
			}
		}
		st.MaxHeld = max(st.MaxHeld, m.Held())
		for {
			r := m.Pop(now, flush)
			if r == nil {
				break
			}
			deliver(r)
			if !r.Env.stored.IsZero() {
				lat.add(time.Since(r.Env.stored))
			}
			// its place is free: the sensor's consumer may fetch more
			feeds[r.Sensor].release(r.Env)
		}
		if flush {
			break
		}
		if cfg.IdleExit > 0 && time.Since(lastArrival) >= cfg.IdleExit {
			// idle: but is everything the stream holds read?
			behind, err := unread(cctx, stream, order)
			if err == nil && behind == 0 || idleChecks >= 3 {
				if behind > 0 {
					st.Unread = behind
					logf("stopping with %d messages of the stream not read (their consumers did not catch up)", behind)
				}
				flush = true
				continue
			}
			idleChecks++
			if err != nil {
				logf("idle, but the stream cannot be asked what it holds (%v): waiting another %s", err, cfg.IdleExit)
			} else {
				logf("idle, but %d messages of the stream are not read yet: waiting another %s", behind, cfg.IdleExit)
			}
			lastArrival = time.Now()
		}
		if time.Since(lastDiscover) >= time.Second {
			if err := discover(); err != nil && cctx.Err() == nil {
				logf("looking for new sensors: %v", err)
			}
			lastDiscover = time.Now()
		}
		select {
		case <-done:
			flush = true
			done = nil
		case <-notify:
		case <-tick.C:
		}
	}
	st.LatencyP50, st.LatencyP99, st.LatencyMax = lat.pct(0.5), lat.pct(0.99), lat.max
	st.MergeStats = m.Stats()
	st.Sensors = m.Sensors()
	for _, f := range order {
		if f.badErr != nil {
			st.BadBy = append(st.BadBy, f.name+": "+f.badErr.Error())
		}
	}
	return st, nil
}

// unread is the number of messages the stream holds for the feeds'
// subjects after the last each received (0 when every feed is at the
// end). It compares stream sequences, not counts, so that a stream whose
// limits drop old messages does not look read.
func unread(ctx context.Context, stream jetstream.Stream, order []*sensorFeed) (uint64, error) {
	var behind uint64
	for _, f := range order {
		last, err := lastSeqOf(ctx, stream, f.subject)
		if err != nil {
			return 0, err
		}
		if last > f.lastSeq.Load() {
			behind += max(f.pending.Load(), 1)
		}
	}
	return behind, nil
}

// lastSeqOf is the stream sequence of the subject's last message (0:
// none).
func lastSeqOf(ctx context.Context, stream jetstream.Stream, subject string) (uint64, error) {
	m, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// release gives back the place and the bytes of an envelope the merge
// loop no longer holds.
func (f *sensorFeed) release(e *Envelope) {
	f.bytes.Add(-int64(e.size))
	f.space <- struct{}{}
}

// maxBadLogged is how many bad messages are logged one by one.
const maxBadLogged = 10

// feed reads one sensor's subject into its queue, waiting for room. Its
// ordered consumer is made again (after the last message received) when
// it fails: a server restarted, a cluster node lost.
func feed(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, f *sensorFeed, maxBytes int64,
	maxPayload int, notify chan struct{}, logf func(string, ...any)) {
	// behind reports whether the stream holds messages for the subject
	// after the last received: a consumer that stopped delivering (its
	// server died and it did not notice) is made again
	behind := func() bool {
		last, err := lastSeqOf(ctx, stream, f.subject)
		if err != nil {
			return true // the stream cannot say (no leader?): make the consumer again
		}
		return last > f.lastSeq.Load()
	}
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		// a few resets of its own, then ours (a fresh consumer after the
		// last message received)
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject}, DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxResetAttempts: 3}
		if last := f.lastSeq.Load(); last > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		}
		cons, err := js.OrderedConsumer(ctx, stream.CachedInfo().Config.Name, cfg)
		if err == nil {
			got := f.msgs.Load()
			err = readFeed(ctx, cons, f, maxBytes, notify, behind, maxPayload)
			if f.msgs.Load() > got {
				backoff = 250 * time.Millisecond // it had been working
			}
		}
		if ctx.Err() != nil {
			return
		}
		logf("sensor %s: %v (reading it again from message %d in %s)", f.name, err, f.lastSeq.Load()+1, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// readFeed reads until an error, or returns nil when the consumer has
// delivered nothing for a while although the stream holds more (made
// again by the caller).
func readFeed(ctx context.Context, cons jetstream.Consumer, f *sensorFeed, maxBytes int64, notify chan struct{},
	behind func() bool, maxPayload int) error {
	// short pulls with heartbeats: a consumer whose server died is noticed
	// (two missed heartbeats) and made again on another within seconds;
	// at most 64 messages or 4 MB fetched ahead
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(64, max(4<<20, 2*maxPayload)), jetstream.PullExpiry(3*time.Second),
		jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	// a watchdog: nothing delivered for 5 s while the stream holds more
	// (a consumer on a dead node, a reset that does not end) stops the
	// iterator; the caller makes a fresh consumer
	var stalled atomic.Bool
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		last := f.msgs.Load()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if now := f.msgs.Load(); now != last || f.waiting.Load() {
				last = now // moving, or waiting for the analyzer: not stalled
				continue
			}
			if behind() {
				stalled.Store(true)
				it.Stop()
				return
			}
			f.atEnd.Store(true) // nothing more: caught up, whatever it was told
		}
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if stalled.Load() {
				return fmt.Errorf("nothing delivered for 5 s while the stream holds more")
			}
			return err
		}
		var pending, seq uint64
		var stored time.Time
		if md, err := msg.Metadata(); err == nil {
			pending, stored, seq = md.NumPending, md.Timestamp, md.Sequence.Stream
		}
		f.atEnd.Store(false)
		data := msg.Data()
		var items []item
		var bad error
		if IsBatch(data) {
			bad = SplitBatch(data, func(e *Envelope) {
				items = append(items, item{env: e, stored: stored, pending: pending + 1})
			})
		} else {
			e := &Envelope{}
			if bad = e.Decode(data); bad == nil {
				items = append(items, item{env: e, stored: stored, pending: pending + 1})
			}
		}
		if bad != nil {
			items = append(items, item{bad: bad, pending: pending + 1})
		}
		items[len(items)-1].pending = pending
		// the message's bytes are shared by its envelopes (the rest on the
		// last), each released when it leaves the merge
		share := len(data) / len(items)
		for i := range items {
			items[i].size = share
		}
		items[len(items)-1].size += len(data) - share*len(items)
		// room: a place per envelope, and the bytes under the budget
		f.waiting.Store(true)
		for b := f.bytes.Load(); b > 0 && b > maxBytes-int64(len(data)); b = f.bytes.Load() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		f.bytes.Add(int64(len(data)))
		for range items {
			select {
			case <-f.space:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		f.waiting.Store(false)
		f.mu.Lock()
		f.q = append(f.q, items...)
		f.mu.Unlock()
		f.msgs.Add(1)
		f.pending.Store(pending)
		if seq > 0 {
			f.lastSeq.Store(seq)
		}
		select {
		case notify <- struct{}{}:
		default:
		}
	}
}
