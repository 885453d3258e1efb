package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/relay"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// ---- the sensor side: dissect --publish, sniff --publish

type publishFlags struct {
	url      string
	sensor   string
	stream   string
	replicas int
	wait     time.Duration
	ackWait  time.Duration
	buffer   int
	dedup    time.Duration
}

// addPublishFlags adds the sensor's flags; live: sniff's (it publishes
// besides analyzing; a capture file's dissect publishes instead of
// printing).
func addPublishFlags(fs *pflag.FlagSet, p *publishFlags, live bool) {
	what := "instead of printing them"
	if live {
		what = "as well as analyzing them here"
	}
	fs.StringVar(&p.url, "publish", "", "publish the decoded control messages to a NATS JetStream server (nats://HOST:4222, or a comma-separated list of a cluster's; docs/scale-out.md), "+what)
	fs.StringVar(&p.sensor, "sensor", "", "with --publish: this sensor's name, its subject in the stream (default: the host name)")
	fs.StringVar(&p.stream, "stream", relay.DefaultStream, "with --publish: the JetStream stream (made, file-backed, if absent)")
	fs.IntVar(&p.replicas, "replicas", 1, "with --publish: the stream's replicas when this sensor creates it (a cluster: 3)")
	fs.DurationVar(&p.wait, "publish-wait", 30*time.Second, "with --publish: how long to wait for the server's acknowledgements before giving up (exit 1): at the end; with a capture file also on the way (a live capture drops and counts instead)")
	fs.DurationVar(&p.ackWait, "publish-ack-wait", 5*time.Second, "with --publish: how long the server's acknowledgement of a message is awaited before it is sent again (the stream drops the copy it already has)")
	fs.DurationVar(&p.dedup, "dedup-window", 10*time.Minute, "with --publish: the stream's duplicate window when this sensor creates it (a message sent again within it is stored once)")
	fs.IntVar(&p.buffer, "publish-buffer", 8192, "with --publish: envelopes kept until the server acknowledges them (then a file waits; a live capture drops, counts and reports)")
}

// check validates the flags before anything is read.
func (p *publishFlags) check(fs *pflag.FlagSet) error {
	if p.url == "" {
		for _, n := range []string{"sensor", "stream", "replicas", "publish-wait", "publish-ack-wait", "publish-buffer", "dedup-window"} {
			if fs.Changed(n) {
				return fmt.Errorf("--%s goes with --publish", n)
			}
		}
		return nil
	}
	if p.sensor == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "sensor"
		}
		p.sensor = relay.SensorName(h)
	}
	if err := relay.CheckName("--sensor", p.sensor); err != nil {
		return err
	}
	if err := relay.CheckName("--stream", p.stream); err != nil {
		return err
	}
	if p.replicas < 1 || p.replicas > 5 {
		return fmt.Errorf("--replicas %d: JetStream takes 1 to 5", p.replicas)
	}
	if p.ackWait <= 0 || p.wait <= 0 || p.dedup <= 0 {
		return fmt.Errorf("--publish-ack-wait, --publish-wait and --dedup-window must be more than 0")
	}
	if p.buffer < relay.BatchMax || p.buffer > relay.MaxPublishBuffer {
		return fmt.Errorf("--publish-buffer %d: must be %d to %d (a message holds up to %d envelopes; the analyzer awaits a missing one behind at most %d)",
			p.buffer, relay.BatchMax, relay.MaxPublishBuffer, relay.BatchMax, relay.MaxPublishBuffer)
	}
	return nil
}

// sensorOut is a running sensor: the encoder the dissector feeds and the
// publisher it hands envelopes to.
type sensorOut struct {
	enc    *relay.Encoder
	pub    *relay.Publisher
	flags  *publishFlags
	stderr io.Writer
	mu     *sync.Mutex // stderr
}

func (p *publishFlags) start(live bool, stderr io.Writer, mu *sync.Mutex) (*sensorOut, error) {
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "ompscope: --publish: "+format+"\n", args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := relay.Dial(ctx, relay.PublishConfig{URL: p.url, Stream: p.stream, Sensor: p.sensor, Replicas: p.replicas,
		MaxPending: p.buffer, Block: !live, AckWait: p.ackWait, GiveUp: p.wait, DedupWindow: p.dedup, Logf: logf})
	if err != nil {
		return nil, err
	}
	s := &sensorOut{pub: pub, flags: p, stderr: stderr, mu: mu}
	s.enc = &relay.Encoder{Out: pub.Publish}
	if live {
		s.enc.Full = pub.Full
		s.enc.Dropping = func(start bool, n uint64) {
			if start {
				logf("the server cannot take more (%d envelopes wait for its acknowledgement): dropping events, counted, until it can", p.buffer)
			} else {
				logf("publishing again: %d events were dropped (the analyzer is told: a capture-gap anomaly)", n)
			}
		}
	}
	return s, nil
}

// finish sends the run's end (with what of the capture could not be
// read), waits for the acknowledgements and says what was published.
func (s *sensorOut) finish(gaps []analyze.CaptureGap) error {
	var rg []relay.CaptureGap
	for _, g := range gaps {
		rg = append(rg, relay.CaptureGap{Reason: g.Reason, Count: g.Count, Of: g.Of, Unit: g.Unit, What: g.What,
			Detail: g.Detail, Frames: g.Frames, First: g.First, Last: g.Last})
	}
	s.enc.Finish(rg)
	ctx, cancel := context.WithTimeout(context.Background(), s.flags.wait)
	defer cancel()
	err := s.pub.Close(ctx)
	st := s.pub.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.stderr, "published %d envelopes (%d bytes) in %d messages to stream %s as sensor %s: %d acknowledged (%d the stream already had), %d sent again",
		st.Published, st.Bytes, st.Batches, s.flags.stream, s.flags.sensor, st.Acked, st.Duplicates, st.Resent)
	if n := s.enc.Lost(); n > 0 {
		fmt.Fprintf(s.stderr, "; %d events dropped while the server could not take them (reported to the analyzer)", n)
	}
	fmt.Fprintln(s.stderr)
	return err
}

// teeSink feeds two sinks (sniff: the local analyzer and the publisher).
type teeSink struct{ a, b dissect.InfoSink }

func (t teeSink) Record(e *dissect.Event) { t.a.Record(e); t.b.Record(e) }
func (t teeSink) Gap(s *tlsdec.Session, r tlsdec.Reason, n int) {
	t.a.Gap(s, r, n)
	t.b.Gap(s, r, n)
}
func (t teeSink) SessionEnd(s *tlsdec.Session, tm time.Time, frame uint64, why string) {
	t.a.SessionEnd(s, tm, frame, why)
	t.b.SessionEnd(s, tm, frame, why)
}
func (t teeSink) Tick(tm time.Time) { t.a.Tick(tm); t.b.Tick(tm) }
func (t teeSink) SessionInfo(s *tlsdec.Session, tm time.Time, frame uint64) {
	t.a.SessionInfo(s, tm, frame)
	t.b.SessionInfo(s, tm, frame)
}

// ---- the central side: analyze --subscribe

type subscribeFlags struct {
	url      string
	stream   string
	since    string
	until    string
	idleExit time.Duration
	lateness time.Duration
	holeWait time.Duration
	sensors  string // after run: the sensors read, for titles
}

func addSubscribeFlags(fs *pflag.FlagSet, s *subscribeFlags) {
	fs.StringVar(&s.url, "subscribe", "", "analyze what sensors publish to a NATS JetStream server (nats://HOST:4222, or a comma-separated list of a cluster's) instead of a capture: every sensor merged in capture-time order, from the stream's start (docs/scale-out.md)")
	fs.StringVar(&s.stream, "stream", relay.DefaultStream, "with --subscribe: the JetStream stream")
	fs.StringVar(&s.since, "since", "", "with --subscribe: analyze only what was captured from TIME on (RFC 3339; the stream is read from its start)")
	fs.StringVar(&s.until, "until", "", "with --subscribe: analyze only what was captured up to TIME (RFC 3339): with --since, a past window")
	fs.DurationVar(&s.idleExit, "idle-exit", 0, "with --subscribe: stop and print the summary once nothing new has arrived for this long (0: run until SIGINT/SIGTERM)")
	fs.DurationVar(&s.lateness, "lateness", 2*time.Second, "with --subscribe: how far (capture time) a live sensor may lag the newest one and still hold the merge back; later messages are analyzed late and counted")
	fs.DurationVar(&s.holeWait, "hole-wait", 30*time.Second, "with --subscribe: how long a missing message of a sensor is awaited before going on without it (counted)")
}

func (s *subscribeFlags) check(fs *pflag.FlagSet) (since, until time.Time, err error) {
	if s.url == "" {
		for _, n := range []string{"stream", "since", "until", "idle-exit", "lateness", "hole-wait"} {
			if fs.Changed(n) {
				return since, until, fmt.Errorf("--%s goes with --subscribe", n)
			}
		}
		return since, until, nil
	}
	if err := relay.CheckName("--stream", s.stream); err != nil {
		return since, until, err
	}
	if s.idleExit < 0 || s.lateness < 0 || s.holeWait < 0 {
		return since, until, fmt.Errorf("--idle-exit, --lateness and --hole-wait take 0 or more")
	}
	parse := func(flag, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return t, fmt.Errorf("--%s %s: not an RFC 3339 time (2026-12-02T10:00:00Z)", flag, v)
		}
		return t, nil
	}
	if since, err = parse("since", s.since); err != nil {
		return
	}
	if until, err = parse("until", s.until); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return since, until, fmt.Errorf("--since %s is not before --until %s", s.since, s.until)
	}
	return since, until, nil
}

// relayFeeder is the feeder of the central side: envelopes in, analyze
// inputs out, with the records decoded by the dissector's own codec.
type relayFeeder struct {
	a           *analyze.Analyzer
	dec         dissect.MessageDecoder
	infos       map[relayKey]*analyze.SessionInfo
	since       time.Time
	until       time.Time
	last        time.Time
	skipped     uint64 // before --since
	after       uint64 // after --until
	unknown     uint64 // events of a session whose facts never came
	gaps        int    // capture gaps the sensors reported, kept
	gapsDropped uint64 // past maxRelayGaps
	in          analyze.Input
}

// maxRelayGaps bounds the capture gaps the sensors' finish and loss
// envelopes add to the analysis (a stream of forged ones cannot grow it).
const maxRelayGaps = 1024

func (f *relayFeeder) captureGap(g analyze.CaptureGap) {
	if f.gaps >= maxRelayGaps {
		f.gapsDropped++
		return
	}
	f.gaps++
	f.a.CaptureGap(g)
}

type relayKey struct {
	sensor   string
	run, num uint64
}

func newRelayFeeder(a *analyze.Analyzer, since, until time.Time) *relayFeeder {
	return &relayFeeder{a: a, infos: map[relayKey]*analyze.SessionInfo{}, since: since, until: until}
}

func (f *relayFeeder) info(r *relay.Released) *analyze.SessionInfo {
	si := f.infos[relayKey{r.Sensor, r.Env.Run, r.Env.Session}]
	if si == nil {
		// its facts were lost (a sensor's dropped events): a session
		// known by its number only
		f.unknown++
		si = &analyze.SessionInfo{ID: fmt.Sprintf("%s:%d#%d", r.Sensor, r.Env.Run, r.Env.Session)}
		f.setInfo(r, si)
	}
	return si
}

func (f *relayFeeder) setInfo(r *relay.Released, si *analyze.SessionInfo) {
	if len(f.infos) >= maxInfos {
		clear(f.infos)
	}
	f.infos[relayKey{r.Sensor, r.Env.Run, r.Env.Session}] = si
}

func (f *relayFeeder) deliver(r *relay.Released) {
	e := r.Env
	before := !f.since.IsZero() && e.Time.Before(f.since)
	after := func(t time.Time) bool { return !f.until.IsZero() && t.After(f.until) }
	if e.Kind != relay.KindFinish && e.Kind != relay.KindLoss && after(e.Time) {
		f.after++ // outside the window (session facts too: nothing after needs them)
		return
	}
	switch e.Kind {
	case relay.KindSession:
		si := &analyze.SessionInfo{}
		setSessionInfo(si, e.Info)
		f.setInfo(r, si)
		if e.Announce && !before {
			f.a.SessionSeen(si, e.Time, e.Frame)
		}
		return
	case relay.KindFinish:
		for _, g := range e.Gaps {
			// a gap is kept when it overlaps the window
			if !f.since.IsZero() && !g.Last.IsZero() && g.Last.Before(f.since) || after(g.First) {
				continue
			}
			det := "sensor " + r.Sensor
			if g.Detail != "" {
				det += ": " + g.Detail
			}
			f.captureGap(analyze.CaptureGap{Reason: g.Reason, Count: g.Count, Of: g.Of, Unit: g.Unit, What: g.What,
				Detail: det, Frames: g.Frames, First: g.First, Last: g.Last})
		}
		return
	case relay.KindLoss:
		if before || after(e.Start) {
			f.skipped++
			return
		}
		f.captureGap(analyze.CaptureGap{Reason: "sensor-dropped", Count: e.Count, Unit: "event",
			What:  "were dropped by sensor " + r.Sensor + " (its server could not take them: its publishing buffer was full)",
			First: e.Start, Last: e.Time})
		return
	}
	if before {
		f.skipped++
		return
	}
	if e.Time.After(f.last) {
		f.last = e.Time
	}
	switch e.Kind {
	case relay.KindTick:
		f.a.Advance(e.Time)
	case relay.KindRecord:
		m := f.dec.Decode(e.Plaintext)
		f.in = analyze.Input{Time: e.Time, Frame: e.Frame, Session: f.info(r), FromClient: !e.FromServer,
			VDaemon: m.VDaemon, OMP: m.OMP, Err: m.Err, Header: m.Header}
		f.a.Message(&f.in)
	case relay.KindGap:
		f.a.Gap(&analyze.Gap{Time: e.Time, Start: e.Start, Frame: e.Frame, Session: f.info(r), Dir: analyze.DirUnknown,
			Reason: e.Reason, Records: int(min(e.Records, 1<<31))})
	case relay.KindEnd:
		f.a.SessionEnd(f.info(r), e.Time, e.Why)
	}
}

// run is the central side: it reads the stream until ctx ends or
// --idle-exit, feeding the analyzer, then tells the analyzer what never
// arrived and says on stderr what it read (cmd names the command).
func (s *subscribeFlags) run(ctx context.Context, cmd string, fd *relayFeeder, stderr io.Writer) error {
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "ompscope "+cmd+": --subscribe: "+format+"\n", args...)
	}
	st, err := relay.Subscribe(ctx, relay.SubscribeConfig{URL: s.url, Stream: s.stream, Lateness: s.lateness,
		HoleWait: s.holeWait, IdleExit: s.idleExit, Logf: logf}, fd.deliver)
	if err != nil {
		return err
	}
	if st.Missing > 0 {
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-missing", Count: st.Missing, Unit: "envelope",
			What: "of the sensors never reached the analyzer (awaited --hole-wait, then given up)"})
	}
	if st.Bad > 0 {
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-bad", Count: st.Bad, Unit: "message",
			What:   "on the stream's subjects are not envelopes this ompscope reads",
			Detail: "the first of each sensor: " + strings.Join(st.BadBy, "; ")})
	}
	if st.Unread > 0 {
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-unread", Count: st.Unread, Unit: "message",
			What: "of the stream were not read: their consumers had not caught up when the analysis ended"})
	}
	if st.Implausible > 0 {
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-refused", Count: st.Implausible, Unit: "envelope",
			What: "were refused: their sequence numbers were far beyond what a sensor keeps unacknowledged (forged, or a sensor's bug)"})
	}
	if st.SensorsRefused > 0 {
		what := fmt.Sprintf("were not read: one analyzer reads at most %d", relay.MaxSensors)
		if st.SensorsRefusedMore {
			what += " (and more, not counted one by one)"
		}
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-sensors", Count: uint64(st.SensorsRefused), Unit: "sensor", What: what})
	}
	if fd.gapsDropped > 0 {
		fd.a.CaptureGap(analyze.CaptureGap{Reason: "relay-gap-reports", Count: fd.gapsDropped, Unit: "report",
			What: fmt.Sprintf("of the sensors' capture gaps were not kept (at most %d)", maxRelayGaps)})
	}
	s.sensors = strings.Join(st.Sensors, ", ")
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stderr, "ompscope "+cmd+": --subscribe: %d envelopes (%d bytes) from %d sensor(s): %s; %d duplicates dropped, %d missing, %d late, %d bad",
		st.Envelopes, st.Bytes, len(st.Sensors), strings.Join(st.Sensors, ", "), st.Duplicates, st.Missing, st.Late, st.Bad)
	for _, c := range []struct {
		n    uint64
		what string
	}{{st.Recovered, "arrived after being given up (analyzed late)"}, {st.Implausible, "refused (implausible sequence numbers)"},
		{st.RunsDropped, "runs forgotten"}, {st.GivenForgotten, "ranges of given-up envelopes forgotten (one arriving after all is dropped as a duplicate)"},
		{st.RunsDoneForgotten, "forgotten runs dropped from memory (a copy of one of their envelopes is taken for a new run's)"}, {st.Unread, "messages not read"}, {fd.skipped, "before --since"}, {fd.after, "after --until"},
		{fd.unknown, "events of sessions whose facts never came"}} {
		if c.n > 0 {
			fmt.Fprintf(stderr, ", %d %s", c.n, c.what)
		}
	}
	if st.Envelopes > 0 {
		fmt.Fprintf(stderr, "; from the server to the analysis: median %s, 99%% %s, max %s", st.LatencyP50.Round(time.Microsecond),
			st.LatencyP99.Round(time.Microsecond), st.LatencyMax.Round(time.Microsecond))
	}
	fmt.Fprintln(stderr)
	return nil
}
