package relay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxPublishBuffer is the most envelopes a sensor keeps unacknowledged:
// the central analyzer awaits a missing one behind as many (the default
// Buffer), and refuses a sequence number twice as far ahead.
const MaxPublishBuffer = 16384

// DefaultStream is the JetStream stream sensors publish to.
const DefaultStream = "OMPSCOPE"

// Subject is the subject of a sensor's envelopes in a stream:
// ompscope.<stream, lower case>.<sensor>. A stream made by a sensor takes
// ompscope.<stream>.* (every sensor).
func Subject(stream, sensor string) string {
	return "ompscope." + strings.ToLower(stream) + "." + sensor
}

func subjects(stream string) string { return "ompscope." + strings.ToLower(stream) + ".*" }

// CheckName checks a sensor or stream name: 1 to 64 letters, digits, '-'
// or '_' (a NATS subject token and stream name). A loop, not a regular
// expression: compiling one at start-up cost every command a millisecond.
func CheckName(what, s string) error {
	ok := len(s) >= 1 && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("%s %q: use 1 to 64 letters, digits, '-' or '_'", what, s)
	}
	return nil
}

// SensorName makes a sensor name from a host name: its first label, with
// any other character than a letter, digit, '-' or '_' replaced by '_'.
func SensorName(host string) string {
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "sensor"
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// PublishConfig configures a sensor's publisher.
type PublishConfig struct {
	URL    string
	Stream string // DefaultStream when empty
	Sensor string
	// Replicas of the stream when the publisher creates it (default 1).
	Replicas int
	// DedupWindow is the stream's duplicate window when the publisher
	// creates it (default 10 minutes: a resend after a longer outage is
	// stored twice, and the central analyzer drops the copy).
	DedupWindow time.Duration
	// MaxPending bounds the envelopes published and not yet acknowledged
	// (default 8192) and MaxPendingBytes their bytes (default 64 MB); it
	// is at least BatchMax.
	MaxPending      int
	MaxPendingBytes int
	// Block: wait for room when full (a file replay); else Full reports
	// it and the Encoder drops and counts (a live capture cannot wait).
	Block bool
	// AckWait is how long an acknowledgement is awaited before the
	// envelope is sent again (default 5 s).
	AckWait time.Duration
	// GiveUp: with Block, after this long with no message acknowledged
	// while some wait (the server away, the stream deleted or full), the
	// publisher stops and Err says why (default 1 minute).
	GiveUp time.Duration
	// Logf reports connection events (nil: silent).
	Logf func(format string, args ...any)
}

// PubStats counts a publisher's work.
type PubStats struct {
	Published  uint64 // envelopes published
	Batches    uint64 // messages they went in
	Acked      uint64 // messages acknowledged by the stream
	Duplicates uint64 // of them, the stream already had (a re-run, a resend)
	Resent     uint64 // messages sent again after a timeout or an error
	Bytes      uint64 // encoded bytes of the envelopes published
	Pending    int    // messages not acknowledged when Close gave up
}

// Publisher publishes a sensor's envelopes to a JetStream stream,
// asynchronously, each with a message ID (sensor:run:session:seq) that
// makes a resend or a re-run of the same capture a duplicate the stream
// drops. Envelopes not yet acknowledged are kept (bounded) and sent again
// after a timeout or a reconnection.
type Publisher struct {
	cfg     PublishConfig
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	pend    []pending // oldest first
	head    int
	bytes   int
	envs    int // envelopes in pend
	st      PubStats
	lastErr error
	logged  string    // the last error logged
	failing time.Time // since when messages wait and none was acknowledged (zero: all is well)
	fatal   error
	logf    func(string, ...any)

	// the batch being filled
	cur      []byte
	curN     int
	last     uint64 // the Seq of the last envelope added
	curRun   uint64
	curSeq   uint64
	curSince time.Time // wall time of its first envelope
}

type pending struct {
	id   string
	data []byte
	n    int                    // envelopes
	fut  jetstream.PubAckFuture // nil: not sent (the send failed)
	// what wait received from fut (its channels give one value)
	ack *jetstream.PubAck
	err error
}

// Dial connects, makes sure the stream exists (creating it with the
// config's replicas and duplicate window), and returns the publisher.
func Dial(ctx context.Context, cfg PublishConfig) (*Publisher, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if err := CheckName("stream", cfg.Stream); err != nil {
		return nil, err
	}
	if err := CheckName("sensor", cfg.Sensor); err != nil {
		return nil, err
	}
	cfg.MaxPending = max(cmpOr(cfg.MaxPending, 8192), BatchMax)
	cfg.MaxPendingBytes = cmpOr(cfg.MaxPendingBytes, 64<<20)
	if cfg.AckWait <= 0 {
		cfg.AckWait = 5 * time.Second
	}
	if cfg.GiveUp <= 0 {
		cfg.GiveUp = time.Minute
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = 10 * time.Minute
	}
	logf := orSilent(cfg.Logf)
	nc, err := connect(cfg.URL, "ompscope sensor "+cfg.Sensor, logf, nats.ReconnectBufSize(cfg.MaxPendingBytes))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxPending+16),
		jetstream.WithPublishAsyncTimeout(cfg.AckWait))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p := &Publisher{cfg: cfg, nc: nc, js: js, subject: Subject(cfg.Stream, cfg.Sensor), logf: logf}
	if err := EnsureStream(ctx, js, cfg.Stream, cfg.Replicas, cfg.DedupWindow); err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

// connect connects to a server of the list, reconnecting without end
// (250 ms apart) and logging disconnections and reconnections; a URL's
// password never reaches an error.
func connect(urls, name string, logf func(string, ...any), opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logf("disconnected from the server: %v", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logf("reconnected to %s", c.ConnectedUrlRedacted()) })}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", redact(urls), redactErr(err, urls))
	}
	return nc, nil
}

func orSilent(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// redact drops the user and password of each URL of a list (a,b,c) for
// messages.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for k, u := range parts {
		if i := strings.LastIndex(u, "@"); i >= 0 {
			j := strings.Index(u, "://")
			if j < 0 || j > i {
				j = -3
			}
			parts[k] = u[:j+3] + "…@" + u[i+1:]
		}
	}
	return strings.Join(parts, ",")
}

// redactErr is err with the user and password of each URL of the list
// taken out of its text (a URL parser's error quotes the URL, escaped):
// the user information as given, and anything before an '@' in the text.
func redactErr(err error, urls string) error {
	if !strings.Contains(urls, "@") {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// a URL that does not parse: its text is the URL, escaped; only
		// the reason is kept
		err = fmt.Errorf("a URL does not parse: %w", ue.Err)
	}
	msg := err.Error()
	for _, u := range strings.Split(urls, ",") {
		i := strings.LastIndex(u, "@")
		if i < 0 {
			continue
		}
		j := strings.Index(u, "://")
		if j < 0 || j > i {
			j = -3
		}
		if info := u[j+3 : i]; info != "" {
			msg = strings.ReplaceAll(msg, info, "…")
		}
	}
	return errors.New(userInfoRE().ReplaceAllString(msg, "…@"))
}

// userInfoRE matches what stands before an '@' up to a space, a quote, a
// slash or a comma (a user and password, however escaped). Compiled when
// first needed, not at every command's start.
var userInfoRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^\s"'/,]+@`) })

// EnsureStream makes sure the stream exists and takes the sensors'
// subjects; it creates it (file storage) when it does not. Sensors that
// start together race to create it: the server may then refuse all but
// one (the name in use, or, for a creation it is still making, the
// subjects overlapping), and on a cluster leave a lookup unanswered while
// a replicated creation is in flight. So the lookup and the creation are
// tried again, each try with a deadline of its own (ensureTry), a few
// times (ensureTries, the pauses growing) within ctx; a stream that exists but takes other
// subjects is an answer, not tried again, and so is a server without
// JetStream (nobody answers the JetStream API: noJetStream).
func EnsureStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int, dedup time.Duration) error {
	if replicas <= 0 {
		replicas = 1
	}
	if dedup <= 0 {
		dedup = 10 * time.Minute
	}
	var err error
	pause := ensurePause
	for try := 0; try < ensureTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
			pause = min(2*pause, ensureMaxPause)
		}
		var done bool
		done, err = ensureOnce(ctx, js, stream, replicas, dedup)
		if done || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// EnsureStream's tries: how many, each one's deadline, the first pause
// between two, doubled after each up to ensureMaxPause: 9 s of pauses in
// all, time for a cluster that just started to know its peers (one that
// has its leader but not yet the peers to place three replicas on answers
// at once "no suitable peers for placement"; five tries 200 ms apart, a
// second in all, were not always enough for a cluster of three started
// by the tests on a busy machine).
const (
	ensureTries    = 8
	ensureTry      = 2 * time.Second
	ensurePause    = 200 * time.Millisecond
	ensureMaxPause = 2 * time.Second
)

// ensureOnce is one try of EnsureStream: done when its error (nil or
// not) is the answer, not when another try may do better.
func ensureOnce(ctx context.Context, js jetstream.JetStream, stream string, replicas int, dedup time.Duration) (done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, ensureTry)
	defer cancel()
	want := subjects(stream)
	s, err := js.Stream(ctx, stream)
	if err == nil {
		return true, takes(s, stream, want)
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		if e := noJetStream(err); e != nil {
			return true, fmt.Errorf("stream %s: %w", stream, e) // no try will do better
		}
		return false, fmt.Errorf("stream %s: %w", stream, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{want},
		Storage: jetstream.FileStorage, Replicas: replicas, Duplicates: dedup})
	if err == nil {
		return true, nil
	}
	s, lerr := js.Stream(ctx, stream)
	if lerr == nil {
		return true, takes(s, stream, want) // another sensor created it meanwhile
	}
	if !mayPassLater(err) {
		return true, fmt.Errorf("creating stream %s: %w", stream, err)
	}
	return false, fmt.Errorf("creating stream %s: %w (and looking it up again: %v)", stream, err, lerr)
}

// mayPassLater tells whether a refused creation may go otherwise on
// another try: no answer in time, or the server's refusals of a race
// with another sensor (the name in use; the subjects overlapping a
// creation still under way) and of a cluster still forming (no leader,
// no peers to place the replicas on). Any other refusal (more replicas
// than the cluster has servers, a limit of the account) is final.
func mayPassLater(err error) bool {
	var je jetstream.JetStreamError
	if !errors.As(err, &je) || je.APIError() == nil {
		return true
	}
	switch je.APIError().ErrorCode {
	case jetstream.JSErrCodeStreamNameInUse, jsErrSubjectOverlap, jsErrClusterNotAvailable, jsErrClusterNoPeers:
		return true
	}
	return false
}

// JetStream API error codes the client names no constant for (the
// server's errors.json).
const (
	jsErrClusterNoPeers      jetstream.ErrorCode = 10005 // no suitable peers for placement
	jsErrClusterNotAvailable jetstream.ErrorCode = 10008 // JetStream cluster not available
	jsErrSubjectOverlap      jetstream.ErrorCode = 10065 // subjects overlap with an existing stream
)

// noJetStream returns an error that says the server has no JetStream when
// err is what such a server answers (nobody listens to the JetStream API:
// "no responders"), else nil.
func noJetStream(err error) error {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("the server has no JetStream (start nats-server with -js or jetstream {} in its configuration, or enable it for the account), or, for a leaf node, cannot reach its hub: %w", err)
	}
	return nil
}

// takes checks that stream s (named stream) takes the subjects want.
func takes(s jetstream.Stream, stream, want string) error {
	for _, sub := range s.CachedInfo().Config.Subjects {
		if sub == want || sub == ">" || sub == "ompscope.>" || sub == "ompscope."+strings.ToLower(stream)+".>" {
			return nil
		}
	}
	return fmt.Errorf("stream %s exists but does not take the subjects %s (its subjects: %s)", stream, want,
		strings.Join(s.CachedInfo().Config.Subjects, ", "))
}

// MsgID is a batch's message ID: the sensor, its run (the capture time
// its capture began) and the Seq of the batch's first and last
// envelopes. A file's batches break at the same envelopes on every run
// (by count and size), so re-publishing a capture gives the same IDs
// and the stream keeps one copy.
func MsgID(sensor string, run, first, last uint64) string {
	return fmt.Sprintf("%s:%d:%d-%d", sensor, run, first, last)
}

// Full reports whether the publisher holds as many unacknowledged
// envelopes as it may (never once it gave up: see Err).
func (p *Publisher) Full() bool {
	p.reap()
	return p.fatal == nil && (p.envs+p.curN >= p.cfg.MaxPending || p.bytes+len(p.cur) >= p.cfg.MaxPendingBytes)
}

// Err is why the publisher gave up (nil: it has not). It gives up when
// messages wait and none has been acknowledged for GiveUp.
func (p *Publisher) Err() error { return p.fatal }

// failed notes an error of a send or an acknowledgement: logged when it
// is new; the publisher gives up when the failures last.
func (p *Publisher) failed(err error) {
	p.lastErr = err
	if msg := err.Error(); msg != p.logged {
		p.logged = msg
		if p.cfg.Block {
			p.logf("publishing: %v (sent again until acknowledged, for at most %s)", err, p.cfg.GiveUp)
		} else {
			p.logf("publishing: %v (sent again once the server takes it)", err)
		}
	}
	if p.failing.IsZero() {
		p.failing = time.Now()
	}
	p.checkGiveUp()
}

// checkGiveUp gives up (Block only: a live sensor drops and counts, and
// publishes again when the server is back) when messages have waited
// GiveUp with none acknowledged.
func (p *Publisher) checkGiveUp() {
	if p.cfg.Block && p.fatal == nil && !p.failing.IsZero() && time.Since(p.failing) >= p.cfg.GiveUp {
		p.fatal = fmt.Errorf("no message acknowledged for %s (the last error: %v)", p.cfg.GiveUp.Round(time.Second), p.lastErr)
	}
}

// Publish adds e to the batch being filled, sending the batch when it is
// full (BatchMax envelopes, BatchBytes). With Block it waits while the
// publisher is full; otherwise the caller asks Full first (the Encoder
// does). A live sensor calls FlushOlder when idle.
func (p *Publisher) Publish(e *Envelope) {
	if p.fatal != nil {
		return
	}
	if p.curN > 0 && (e.Run != p.curRun || len(p.cur)+len(e.Plaintext)+256 > BatchBytes) {
		p.Flush()
	}
	if p.curN == 0 {
		p.cur = AppendBatchHeader(make([]byte, 0, 4096))
		p.curRun, p.curSeq, p.curSince = e.Run, e.Seq, time.Now()
	}
	n := len(p.cur)
	p.cur = AppendToBatch(p.cur, e)
	p.curN++
	p.st.Published++
	p.st.Bytes += uint64(len(p.cur) - n)
	if p.curN >= BatchMax || len(p.cur) >= BatchBytes {
		p.flush(e.Seq)
	}
	if p.cfg.Block {
		for p.Full() {
			p.wait(time.Now().Add(p.cfg.AckWait))
		}
	}
	p.last = e.Seq
}

// Flush sends the batch being filled.
func (p *Publisher) Flush() {
	if p.curN > 0 {
		p.flush(p.last)
	}
}

// FlushOlder sends the batch being filled if its first envelope waited
// d or more (a live sensor, between packets).
func (p *Publisher) FlushOlder(d time.Duration) {
	if p.curN > 0 && time.Since(p.curSince) >= d {
		p.Flush()
	}
	p.reap()
}

func (p *Publisher) flush(lastSeq uint64) {
	pe := pending{id: MsgID(p.cfg.Sensor, p.curRun, p.curSeq, lastSeq), data: p.cur, n: p.curN}
	p.send(&pe)
	p.pend = append(p.pend, pe)
	p.bytes += len(pe.data)
	p.envs += pe.n
	p.st.Batches++
	p.cur, p.curN = nil, 0
}

func (p *Publisher) send(pe *pending) {
	m := nats.NewMsg(p.subject)
	m.Data = pe.data
	f, err := p.js.PublishMsgAsync(m, jetstream.WithMsgID(pe.id), jetstream.WithExpectStream(p.cfg.Stream))
	if err != nil {
		p.failed(err)
		f = nil
	}
	pe.fut = f
}

// reap takes the acknowledged envelopes off the head of the queue and
// sends again those whose send failed or timed out.
func (p *Publisher) reap() {
	for p.head < len(p.pend) {
		pe := &p.pend[p.head]
		if pe.fut == nil {
			if p.nc.Status() != nats.CONNECTED || p.fatal != nil {
				return
			}
			p.send(pe)
			if pe.fut == nil {
				return
			}
			p.st.Resent++
		}
		if pe.ack == nil && pe.err == nil {
			select {
			case pe.ack = <-pe.fut.Ok():
			case pe.err = <-pe.fut.Err():
			default:
				p.compact()
				return
			}
		}
		if pe.ack != nil {
			p.st.Acked++
			p.failing = time.Time{}
			if pe.ack.Duplicate {
				p.st.Duplicates++
			}
			p.bytes -= len(pe.data)
			p.envs -= pe.n
			*pe = pending{}
			p.head++
			continue
		}
		p.failed(pe.err)
		pe.fut, pe.err = nil, nil // sent again on the next pass, once connected
		if p.nc.Status() != nats.CONNECTED {
			return
		}
	}
	p.compact()
}

func (p *Publisher) compact() {
	if p.head > 0 && p.head*2 >= len(p.pend) {
		n := copy(p.pend, p.pend[p.head:])
		clear(p.pend[n:])
		p.pend = p.pend[:n]
		p.head = 0
	}
}

// wait waits until the oldest envelope is acknowledged or failed, or the
// deadline.
func (p *Publisher) wait(deadline time.Time) {
	p.reap()
	p.checkGiveUp()
	if p.head >= len(p.pend) {
		return
	}
	d := time.Until(deadline)
	if d <= 0 {
		return
	}
	pe := &p.pend[p.head]
	if pe.fut == nil {
		// not sent: the connection is away; look again shortly
		time.Sleep(min(d, 50*time.Millisecond))
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case pe.ack = <-pe.fut.Ok():
	case pe.err = <-pe.fut.Err():
	case <-t.C:
	}
}

// Stats returns the publisher's counts.
func (p *Publisher) Stats() PubStats {
	st := p.st
	st.Pending = len(p.pend) - p.head
	return st
}

// Close waits (until ctx ends) for every envelope to be acknowledged,
// then closes the connection. It returns an error naming how many were
// not.
func (p *Publisher) Close(ctx context.Context) error {
	defer p.nc.Close()
	p.Flush()
	for p.head < len(p.pend) {
		if p.fatal != nil {
			return fmt.Errorf("%d messages (%d envelopes) not acknowledged by the server: %w", len(p.pend)-p.head, p.envs, p.fatal)
		}
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(p.cfg.AckWait)
		}
		select {
		case <-ctx.Done():
			n := len(p.pend) - p.head
			if p.lastErr != nil {
				return fmt.Errorf("%d envelopes not acknowledged by the server (the last error: %v)", n, p.lastErr)
			}
			return fmt.Errorf("%d envelopes not acknowledged by the server", n)
		default:
		}
		p.wait(dl)
	}
	return nil
}
