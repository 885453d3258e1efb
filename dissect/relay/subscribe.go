package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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
	// (0: run until ctx ends).
	IdleExit time.Duration
	// Buffer bounds the envelopes received and not yet analyzed, per
	// sensor (default 4096), whether waiting to be merged or in the
	// merger: past it the sensor's consumer waits (the server keeps the
	// rest: back-pressure, not memory). The merger's out-of-order limit
	// is Buffer too.
	Buffer int
	// Logf reports connection events and bad messages (nil: silent).
	Logf func(format string, args ...any)
}

// SubStats counts the central side's work.
type SubStats struct {
	MergeStats
	Bytes    uint64
	Bad      uint64   // messages that are not envelopes this ompscope reads
	BadFirst []string // the first reasons (at most 10)
	Sensors  []string // names with their envelope counts
	MaxHeld  int      // the most envelopes received and not yet analyzed at once
	// Lateness: from the server storing an envelope to its analysis
	// (wall time), over a sample of at most 1 << 20 envelopes.
	LatencyP50, LatencyP99, LatencyMax time.Duration
}

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

// maxBadLogged is how many bad messages are logged one by one.
const maxBadLogged = 10

type item struct {
	env     *Envelope
	stored  time.Time // by the server
	pending uint64
	bad     error
	size    int
}

type sensorFeed struct {
	name  string
	mu    sync.Mutex
	q     []item
	space chan struct{} // a token per free place in q
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
	buf := max(cmpOr(cfg.Buffer, 4096), BatchMax) // a message's envelopes fit
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	nc, err := nats.Connect(cfg.URL, nats.Name("ompscope analyzer"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logf("disconnected from the server: %v", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logf("reconnected to %s", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return st, fmt.Errorf("connecting to %s: %w", redact(cfg.URL), err)
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
	var order []*sensorFeed
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	lastArrival := time.Now()
	var lat latency

	// discover adds a feed per sensor subject the stream holds
	discover := func() error {
		info, err := stream.Info(cctx, jetstream.WithSubjectFilter(subjects(cfg.Stream)))
		if err != nil {
			return err
		}
		for subj, n := range info.State.Subjects {
			name, ok := strings.CutPrefix(subj, prefix)
			if !ok || feeds[name] != nil || n == 0 {
				continue
			}
			f := &sensorFeed{name: name, space: make(chan struct{}, buf)}
			for range buf {
				f.space <- struct{}{}
			}
			feeds[name] = f
			order = append(order, f)
			m.Expect(name)
			cons, err := js.OrderedConsumer(cctx, cfg.Stream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverAllPolicy})
			if err != nil {
				return fmt.Errorf("consumer for sensor %s: %w", name, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				feed(cctx, cons, f, notify, logf)
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
	for {
		// take what the feeds received
		now := time.Now()
		for _, f := range order {
			f.mu.Lock()
			q := f.q
			f.q = nil
			f.mu.Unlock()
			for _, it := range q {
				lastArrival = now
				st.Bytes += uint64(it.size)
				if it.bad != nil {
					st.Bad++
					if len(st.BadFirst) < maxBadLogged {
						st.BadFirst = append(st.BadFirst, it.bad.Error())
						logf("sensor %s: skipped a bad message: %v", f.name, it.bad)
					}
					m.Caught(f.name, it.pending == 0)
					f.space <- struct{}{}
					continue
				}
				it.env.stored = it.stored
				if !m.Push(f.name, it.env, it.pending, now) {
					f.space <- struct{}{}
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
			// its place is free: the sensor's consumer may fetch one more
			// (a sensor holds at most Buffer envelopes, queued or merging)
			feeds[r.Sensor].space <- struct{}{}
		}
		if flush {
			break
		}
		if cfg.IdleExit > 0 && time.Since(lastArrival) >= cfg.IdleExit {
			flush = true
			continue
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
	return st, nil
}

// feed reads one sensor's subject into its queue, waiting for room.
func feed(ctx context.Context, cons jetstream.Consumer, f *sensorFeed, notify chan struct{}, logf func(string, ...any)) {
	// short pulls with heartbeats: a consumer whose server died is noticed
	// (two missed heartbeats) and made again on another within seconds
	it, err := cons.Messages(jetstream.PullMaxMessages(64), jetstream.PullExpiry(3*time.Second),
		jetstream.PullHeartbeat(time.Second))
	if err != nil {
		logf("sensor %s: %v", f.name, err)
		return
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				logf("sensor %s: %v", f.name, err)
			}
			return
		}
		var pending uint64
		var stored time.Time
		if md, err := msg.Metadata(); err == nil {
			pending, stored = md.NumPending, md.Timestamp
		}
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
		items[0].size = len(data)
		// a place per envelope (queued here or held by the merger)
		for range items {
			select {
			case <-f.space:
			case <-ctx.Done():
				return
			}
		}
		f.mu.Lock()
		f.q = append(f.q, items...)
		f.mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
}
