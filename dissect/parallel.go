package dissect

import (
	"cmp"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/flow"
	"github.com/ompscope/ompscope/dissect/internal/part"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// A parallel run (RunOptions.Workers > 1) shards the packets across
// workers by their pair of IP addresses (flow.ShardKey: a flow's two
// directions and all its fragments go to one worker), each worker a
// Dissector of its own (flow decoder, session tracker, message decoders),
// and merges what they produce back into capture order, so the sink sees
// exactly what a single Dissector would have given it:
//
//   - the reader (a goroutine) reads the source, and sends each packet to
//     its worker, in batches; it also writes the order of the packets in a
//     stream of its own;
//   - what is not a property of one flow goes to every worker at its place
//     in the stream: the clock's timeouts (the reader keeps the clock of
//     all packets: flow.Config.ExternalClock), keys that arrived (a worker
//     sees the keys the store held when its packets were read:
//     tlsdec.Tracker.SetKeyLimit) and the end of the input;
//   - the merger (the caller's goroutine) follows the order stream and
//     takes each packet's results from its worker; the results of a step
//     every worker took part in (timeouts, keys, the end) are merged by
//     the first frame of their connection or session, the order one
//     Dissector gives them.
//
// A worker decrypts; it copies each record's plaintext into the batch it
// returns (no allocation once the batches have grown), with a copy of its
// session's state at that moment. The merger decodes the records, in
// order, into its own reused values, and keeps the per-session counts;
// the sink sees one stable *tlsdec.Session per session, brought up to
// date before each of its events, while the worker goes on with the real
// one. (Decoding in the workers, each record into values of its own until
// the sink is done with it, cost four times the CPU of decoding in one
// place: the values were never in cache.)
//
// The limits (sessions, connections, buffers) are cut into parts by the
// pair of IP addresses (internal/part), the same parts whatever the number
// of workers, and a worker holds whole parts (the part's number modulo the
// workers): a part sees the same packets in the same order with any
// number of workers, so what a flood of fake flows evicts does not depend
// on them, and the memory bound does not grow with them.

type opKind uint8

const (
	opPacket   opKind = iota // a packet for one worker
	opSweep                  // the clock's timeouts are due: every worker
	opKeys                   // keys arrived (or Retry): every worker retries
	opFlush                  // the end, phase 1: TCP streams flushed
	opRetryEnd               // the end, phase 2: records still waiting get the keys there are
	opFinish                 // the end, phase 3: what still waits fails
	opIdle                   // a live source was idle: the merger ticks (no worker)
	opStop                   // the source ended (err) or the run stopped
)

// op is one step for a worker: of a packet, what the worker reads (not a
// whole capture.Packet: the steps are written by the reader and read by a
// worker on another core).
type op struct {
	kind  opKind
	lt    layers.LinkType // opPacket
	data  []byte          // opPacket: in the batch's arena
	t     time.Time       // opPacket: the packet's; opSweep, opFlush: the packet the step belongs to
	frame uint64
	now   int64  // the run's clock
	gen   uint64 // the key generation the worker sees
}

// inBatch is a batch of steps for one worker.
type inBatch struct {
	ops   []op
	arena []byte
}

// ordEntry is one step of the order stream.
type ordEntry struct {
	kind      opKind
	shard     int32 // opPacket: the worker
	t         time.Time
	err       error  // opStop
	frame     uint64 // opPacket: the packet, and where it came from (merged captures); opKeys: the key generation
	file      int
	fileFrame uint64
}

// item is one thing a worker produced for the sink. A record's item holds
// what the merger cannot take from the session (its time, frame,
// direction, sequence and plaintext), not a whole Event: the merger builds
// the Event in its own reused value (items of 400 bytes, written by a
// worker and read by the merger for every record, were a tenth of a
// parallel run's CPU on small records).
type item struct {
	kind      uint8 // itemRecord, itemGap, itemEnd
	dir       tlsdec.Direction
	decrypted bool
	reason    tlsdec.Reason
	epoch     uint16
	snap      int32 // index of the session's state in ob.snaps (-1: the same as the session's last one)
	key       uint64
	sess      *tlsdec.Session
	ob        *outBatch // the batch holding the session's state
	prog      tlsdec.Progress
	t         time.Time // itemRecord: the record's; itemEnd, itemInfo: the event's
	frame     uint64
	seq       uint64 // itemRecord
	n         int    // itemGap: the bytes lost; a record outside any session: its Event in ob.plain
	pt        []byte // itemRecord: the plaintext, in ob.arena
	why       string // itemEnd
}

const (
	itemRecord uint8 = iota
	itemGap
	itemEnd
	itemInfo  // the session learned a certificate
	itemEvict // the worker's tracker evicted the session (MaxSessions): not for the sink
)

// outBatch is what a worker produced for one inBatch: the items of each
// step (ends[i] is where step i's items end).
type outBatch struct {
	items []item
	ends  []int32
	snaps []tlsdec.Session
	plain []Event // vdaemon messages in the clear, outside any session
	arena []byte
}

type worker struct {
	inFree chan *inBatch
	d      *Dissector
	in     chan *inBatch
	out    chan *outBatch
	free   chan *outBatch
	cur    *outBatch
	key    uint64 // the connection a TCP step is about (its first frame), 0: none
	// last is the state of each session in the last snapshot taken of it:
	// a session's state is copied into a batch only when it changed, not
	// with every record (the copies, 600 bytes written, read and cleared
	// for each record, and their memory, were a third of a parallel
	// run's CPU on small records)
	last map[*tlsdec.Session]*tlsdec.Session
	// lastS and lastC: the session of the latest item and its entry in
	// last (records of one session come in runs: no map lookup for them)
	lastS, lastC *tlsdec.Session
}

// parallel is a Dissector's parallel machinery, made by its first
// parallel run and ended by Finish.
type parallel struct {
	d       *Dissector // the merger's
	ws      []*worker
	inFree  chan *inBatch
	order   chan []ordEntry
	ordFree chan []ordEntry
	wg      sync.WaitGroup

	stop    atomic.Bool // the merger asks the reader to stop
	retry   atomic.Bool // Retry asked during the run
	running bool        // a run is under way (the merger's view)
	discard bool        // deliver drops what it is given (read ahead after a stop)

	clk     *flow.Decoder // the run's clock
	lastGen uint64
	lastT   time.Time
	lastF   uint64

	// merger state
	cur     []*outBatch
	next    []int // next step of cur[i]
	shadows map[*tlsdec.Session]*tlsdec.Session
	// lastSess and lastShadow: the latest delivered item's session and
	// its entry in shadows (no map lookup for a run of one session's)
	lastSess, lastShadow *tlsdec.Session
	// unseen holds the state of sessions whose items were all read ahead
	// and not delivered (after a stop): a later item may refer to it
	unseen map[*tlsdec.Session]*tlsdec.Session
	merge  []item
	done   bool // Finish ran
}

const (
	batchOps   = 256 // steps per order batch (and at most per worker batch)
	queueDepth = 4   // batches in flight per channel
)

// Workers is the default number of workers: the machine's cores.
func Workers() int { return runtime.GOMAXPROCS(0) }

func (d *Dissector) startParallel(n int) {
	p := &parallel{inFree: make(chan *inBatch, (n+1)*queueDepth*2), order: make(chan []ordEntry, queueDepth),
		ordFree: make(chan []ordEntry, queueDepth+2), shadows: map[*tlsdec.Session]*tlsdec.Session{}}
	p.clk = flow.NewDecoder(flow.Config{ExternalClock: true}, nopFlow{})
	p.lastGen = d.cfg.Keys.Pin()
	cfg := d.cfg
	cfg.OnGap, cfg.OnSessionEnd, cfg.OnSessionInfo = nil, nil, nil
	cfg.Flow.ExternalClock = true
	// every worker has the limits whole, in the same parts as this
	// Dissector: it uses only the parts it is given
	cfg.TLS.MaxSessions, cfg.TLS.Parts = d.maxSessions, d.parts
	for i := 0; i < n; i++ {
		w := &worker{in: make(chan *inBatch, queueDepth), out: make(chan *outBatch, queueDepth),
			free: make(chan *outBatch, queueDepth+2), inFree: p.inFree, last: map[*tlsdec.Session]*tlsdec.Session{}}
		wc := cfg
		wc.OnGap = w.gap
		wc.OnSessionEnd = w.end
		prevCert := wc.TLS.OnCertificate
		wc.TLS.OnCertificate = func(s *tlsdec.Session) {
			if prevCert != nil {
				prevCert(s)
			}
			w.info(s)
		}
		wc.TLS.OnEvict = func(s *tlsdec.Session) {
			if prev := cfg.TLS.OnEvict; prev != nil {
				prev(s)
			}
			w.evicted(s)
		}
		w.d = New(wc, func(*Event) { panic("dissect: a worker hands its records to the merger (worker.record)") })
		w.d.w = w
		p.ws = append(p.ws, w)
		p.wg.Add(1)
		go w.run(&p.wg)
	}
	p.cur = make([]*outBatch, n)
	p.next = make([]int, n)
	p.d = d
	d.par = p
}

type nopFlow struct{}

func (nopFlow) UDP(*flow.Datagram)                    {}
func (nopFlow) TCPData(*flow.Segment)                 {}
func (nopFlow) TCPClose(*flow.Conn, flow.CloseReason) {}

// ---- the worker

func (w *worker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for ib := range w.in {
		var ob *outBatch
		select {
		case ob = <-w.free:
		default:
			ob = &outBatch{}
		}
		w.cur = ob
		w.steps(ib, ob)
		w.cur = nil
		clear(ib.ops)
		ib.ops = ib.ops[:0]
		ib.arena = ib.arena[:0]
		select {
		case w.inFree <- ib: // nothing refers to its arena any more
		default:
		}
		w.out <- ob
	}
	close(w.out)
}

// steps runs a batch's steps.
func (w *worker) steps(ib *inBatch, ob *outBatch) {
	d := w.d
	for i := range ib.ops {
		o := &ib.ops[i]
		d.tracker.SetKeyLimit(o.gen)
		switch o.kind {
		case opPacket:
			d.flow.Advance(o.now, false)
			d.Counters.Packets++
			d.lastTime, d.lastFrm = o.t, o.frame
			d.flow.Packet(o.data, o.lt, o.t, o.frame)
		case opSweep:
			d.lastTime, d.lastFrm = o.t, o.frame
			d.flow.Advance(o.now, true)
		case opKeys:
			d.tracker.Retry(d.emitFn)
		case opFlush:
			d.lastTime, d.lastFrm = o.t, o.frame
			d.flow.Flush()
		case opRetryEnd:
			d.tracker.Retry(d.emitFn)
		case opFinish:
			d.tracker.Finish()
		}
		ob.ends = append(ob.ends, int32(len(ob.items)))
	}
}

// keep copies a plaintext into the batch: the sink reads it after the
// worker has gone on.
func (w *worker) keep(b []byte) []byte {
	ob := w.cur
	n := len(ob.arena)
	ob.arena = append(ob.arena, b...)
	return ob.arena[n:len(ob.arena):len(ob.arena)]
}

func (w *worker) add(kind uint8, s *tlsdec.Session) *item {
	ob := w.cur
	ob.items = append(ob.items, item{kind: kind, sess: s, ob: ob, snap: -1})
	it := &ob.items[len(ob.items)-1]
	if s != nil {
		it.key = s.FirstFrame
		it.prog = s.Progress()
		last := w.lastC
		if s != w.lastS {
			last = w.last[s]
		}
		if last == nil || !s.SameInfo(last) {
			if last == nil {
				last = new(tlsdec.Session)
				w.last[s] = last
			}
			s.CopyInfo(last)
			ob.snaps = append(ob.snaps, *last)
			it.snap = int32(len(ob.snaps) - 1)
		}
		w.lastS, w.lastC = s, last
	}
	if w.key != 0 {
		it.key = w.key
	}
	return it
}

// evicted forgets a session the worker's tracker let go, and tells the
// merger, last in the step: a step every worker takes (a timeout, the
// end) is merged by key, and the session's own items of the step must
// come before the merger lets it go, or they would bring it back for good
// (TestParallelEvictionLastInItsStep).
func (w *worker) evicted(s *tlsdec.Session) {
	delete(w.last, s)
	if w.lastS == s {
		w.lastS, w.lastC = nil, nil
	}
	if ob := w.cur; ob != nil {
		ob.items = append(ob.items, item{kind: itemEvict, key: ^uint64(0), sess: s, snap: -1})
	}
}

// record keeps a session's application record for the merger.
func (w *worker) record(r *tlsdec.Record) {
	it := w.add(itemRecord, r.Session)
	it.t, it.frame, it.dir, it.epoch, it.seq, it.decrypted = r.Time, r.Frame, r.Dir, r.Epoch, r.Seq, r.Decrypted
	it.pt = w.keep(r.Plaintext)
}

// plain keeps a vdaemon message sent in the clear, outside any session.
func (w *worker) plain(e *Event) {
	it := w.add(itemRecord, nil)
	ob := w.cur
	it.n = len(ob.plain)
	ob.plain = append(ob.plain, *e)
	ob.plain[it.n].Plaintext = w.keep(e.Plaintext)
}

func (w *worker) gap(s *tlsdec.Session, r tlsdec.Reason, n int) {
	it := w.add(itemGap, s)
	it.reason, it.n = r, n
}

func (w *worker) info(s *tlsdec.Session) {
	it := w.add(itemInfo, s)
	it.t, it.frame = s.LastSeen, s.LastFrame
}

func (w *worker) end(s *tlsdec.Session, t time.Time, frame uint64, why string) {
	it := w.add(itemEnd, s)
	it.t, it.frame, it.why = t, frame, why
}

// ---- the reader

type reader struct {
	d     *Dissector
	p     *parallel
	src   Source
	opt   RunOptions
	live  bool
	bs    []*inBatch
	ord   []ordEntry
	since time.Time // the oldest step not sent (live sources)
}

func (p *parallel) getIn() *inBatch {
	select {
	case b := <-p.inFree:
		return b
	default:
		return &inBatch{}
	}
}

func (r *reader) flush() {
	p := r.p
	for i, b := range r.bs {
		if len(b.ops) > 0 {
			p.ws[i].in <- b
			r.bs[i] = p.getIn()
		}
	}
	if len(r.ord) > 0 {
		p.order <- r.ord
		select {
		case r.ord = <-p.ordFree:
		default:
			r.ord = make([]ordEntry, 0, batchOps)
		}
	}
	r.since = time.Time{}
}

// step adds a step to every worker and to the order.
func (r *reader) step(o op, oe ordEntry) {
	for _, b := range r.bs {
		b.ops = append(b.ops, o)
	}
	r.ord = append(r.ord, oe)
	r.stepped()
}

// packet adds a packet's step to worker i, its bytes copied into the
// batch, and to the order: written where they go, not built and copied.
func (r *reader) packet(i int, pk *capture.Packet, now int64) {
	b := r.bs[i]
	n := len(b.arena)
	b.arena = append(b.arena, pk.Data...)
	b.ops = append(b.ops, op{kind: opPacket, lt: pk.LinkType, data: b.arena[n:len(b.arena):len(b.arena)], t: pk.Time,
		frame: pk.Frame, now: now, gen: r.p.lastGen})
	r.ord = append(r.ord, ordEntry{kind: opPacket, shard: int32(i), t: pk.Time, frame: pk.Frame, file: pk.File,
		fileFrame: pk.FileFrame})
	r.stepped()
}

// stepped sends the batches when they are full (or, live, old).
func (r *reader) stepped() {
	if r.live && r.since.IsZero() {
		r.since = time.Now()
	}
	if len(r.ord) >= batchOps || r.live && time.Since(r.since) > 5*time.Millisecond {
		r.flush()
	}
}

func (r *reader) broadcast(k opKind, now int64, t time.Time, frame uint64) {
	oe := ordEntry{kind: k, shard: -1, t: t}
	if k == opKeys {
		oe.frame = r.p.lastGen
	}
	r.step(op{kind: k, now: now, gen: r.p.lastGen, t: t, frame: frame}, oe)
	if k == opKeys {
		// sent at once: the key store keeps, for the workers, what the
		// generations read before it need until the merger passes this
		// step (KeyStore.SetFloor); a batch waiting to fill would let
		// the reader's lead, and that memory, grow (rare: keys come
		// seldom)
		r.flush()
	}
}

func (r *reader) run() {
	err := r.read()
	r.ord = append(r.ord, ordEntry{kind: opStop, err: err})
	r.flush()
}

// read reads the source until its end, an error, MaxPackets or a stop.
// A fault reading a mapped capture file is its error.
func (r *reader) read() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer catchFault(&err)
	p, d := r.p, r.d
	var pk capture.Packet
	var n uint64
	for !p.stop.Load() {
		err = r.src.Next(&pk)
		if errors.Is(err, capture.ErrIdle) {
			if g := d.cfg.Keys.Generation(); g != p.lastGen || p.retry.Load() && p.retry.Swap(false) {
				p.lastGen = d.cfg.Keys.Pin() // keys arrived while idle: released now, as one Dissector does
				r.broadcast(opKeys, 0, p.lastT, p.lastF)
			}
			r.ord = append(r.ord, ordEntry{kind: opIdle, t: time.Now()})
			r.flush()
			err = nil
			continue
		}
		if err != nil {
			break
		}
		n++
		if r.opt.OnPacket != nil {
			r.opt.OnPacket(&pk)
		}
		if g := d.cfg.Keys.Generation(); g != p.lastGen || p.retry.Load() && p.retry.Swap(false) {
			p.lastGen = d.cfg.Keys.Pin() // the packets from here may look at it
			r.broadcast(opKeys, 0, pk.Time, pk.Frame)
		}
		now, sweep := p.clk.Clock(pk.Time)
		p.clk.Advance(now, sweep)
		if sweep {
			r.broadcast(opSweep, now, pk.Time, pk.Frame)
		}
		p.lastT, p.lastF = pk.Time, pk.Frame
		i := part.Of(flow.ShardKey(pk.Data, pk.LinkType), d.parts) % len(p.ws)
		r.packet(i, &pk, now)
		if r.opt.MaxPackets > 0 && n >= r.opt.MaxPackets {
			break
		}
	}
	if err == io.EOF {
		err = nil
	}
	return err
}

// ---- the merger

// runParallel is RunSource with workers.
func (d *Dissector) runParallel(src Source, opt RunOptions) error {
	if d.par == nil {
		d.startParallel(opt.Workers)
	}
	p := d.par
	if r, ok := src.(capture.SecretsSource); ok {
		r.SetOnSecrets(d.Secrets)
	}
	_, file := src.(capture.SecretsSource) // a file (or files), not a live interface
	rd := &reader{d: d, p: p, src: src, opt: opt, live: !file, bs: make([]*inBatch, len(p.ws)),
		ord: make([]ordEntry, 0, batchOps)}
	for i := range rd.bs {
		rd.bs[i] = p.getIn()
	}
	p.stop.Store(false)
	p.running = true
	defer func() { p.running = false }()
	// the workers see the keys of the generation their packets were read
	// at: the key store keeps what such views need until the merger has
	// passed the step at which newer keys came (opKeys, below)
	d.cfg.Keys.SetFloor(max(p.lastGen, 1))
	go rd.run()
	stopped := false
	for {
		ord := <-p.order
		for _, e := range ord {
			switch e.kind {
			case opPacket:
				items := p.take(int(e.shard))
				if stopped {
					p.skip(items) // read ahead after Between said stop: not delivered
					continue
				}
				d.files.note(e.frame, e.file, e.fileFrame)
				d.deliver(items)
				d.Counters.Packets++
				if d.sink != nil && !e.t.IsZero() {
					d.sink.Tick(e.t)
				}
			case opIdle:
				if d.sink != nil && !stopped {
					d.sink.Tick(e.t)
				}
			case opStop:
				p.ordFree <- ord[:0]
				return e.err
			default:
				p.discard = stopped
				d.deliverAll()
				p.discard = false
				if e.kind == opKeys {
					d.cfg.Keys.SetFloor(e.frame) // every step before the keys is done
				}
			}
			if !stopped && opt.Between != nil && e.kind != opSweep && e.kind != opKeys && opt.Between() {
				stopped = true
				p.stop.Store(true)
			}
		}
		p.ordFree <- ord[:0]
	}
}

// take returns the items of worker i's next step.
func (p *parallel) take(i int) []item {
	ob := p.cur[i]
	if ob == nil || p.next[i] == len(ob.ends) {
		if ob != nil {
			p.recycle(i, ob)
		}
		ob = <-p.ws[i].out
		p.cur[i], p.next[i] = ob, 0
	}
	k := p.next[i]
	p.next[i]++
	lo := int32(0)
	if k > 0 {
		lo = ob.ends[k-1]
	}
	return ob.items[lo:ob.ends[k]]
}

func (p *parallel) recycle(i int, ob *outBatch) {
	clear(ob.items) // drop the references for the collector
	clear(ob.snaps)
	clear(ob.plain)
	ob.items, ob.ends, ob.snaps, ob.plain, ob.arena = ob.items[:0], ob.ends[:0], ob.snaps[:0], ob.plain[:0], ob.arena[:0]
	select {
	case p.ws[i].free <- ob:
	default:
	}
}

// deliverAll delivers a step every worker took, merged by key.
func (d *Dissector) deliverAll() {
	p := d.par
	m := p.merge[:0]
	for i := range p.ws {
		m = append(m, p.take(i)...)
	}
	// a worker's items come in key order, but for the eviction it adds
	// last in its step (key ^0, worker.evicted); a stable sort keeps the
	// order within a connection or session
	slices.SortStableFunc(m, func(x, y item) int { return cmp.Compare(x.key, y.key) })
	d.deliver(m)
	clear(m)
	p.merge = m[:0]
}

// deliver hands items to the sink (and the configured callbacks).
func (d *Dissector) deliver(items []item) {
	p := d.par
	for i := range items {
		it := &items[i]
		if it.kind == itemEvict {
			p.forget(it.sess) // the tracker let it go: so does the merger
			continue
		}
		if p.discard {
			p.skip(items[i : i+1])
			continue
		}
		var s *tlsdec.Session
		if it.sess != nil {
			if it.sess == p.lastSess {
				s = p.lastShadow
			} else {
				s = p.shadows[it.sess]
			}
			if s == nil {
				if s = p.unseen[it.sess]; s != nil {
					delete(p.unseen, it.sess)
				} else {
					s = new(tlsdec.Session)
				}
				p.shadows[it.sess] = s
			}
			p.lastSess, p.lastShadow = it.sess, s
			if it.snap >= 0 {
				*s = it.ob.snaps[it.snap]
			}
			s.SetProgress(it.prog)
		}
		switch it.kind {
		case itemRecord:
			ev := &d.ev
			if s == nil {
				*ev = it.ob.plain[it.n] // a message in the clear
				ev.Msg = d.decode(ev.Plaintext)
			} else {
				// decoded here, in order, into the Dissector's values
				// (decoding in the workers, each record into values of
				// its own until the sink is done with it, cost four times
				// as much CPU: the values are cold)
				ev.setRecord(it.t, it.frame, s, it.dir, it.epoch, it.seq, it.decrypted, it.pt)
				d.decodeRecord(ev, it.sess)
			}
			d.files.set(ev)
			d.onEvent(ev)
		case itemGap:
			if d.cfg.OnGap != nil {
				d.cfg.OnGap(s, it.reason, it.n)
			}
		case itemEnd:
			if d.cfg.OnSessionEnd != nil {
				d.cfg.OnSessionEnd(s, it.t, it.frame, it.why)
			}
		case itemInfo:
			if d.cfg.OnSessionInfo != nil {
				d.cfg.OnSessionInfo(s, it.t, it.frame)
			}
		}
	}
}

// forget drops the merger's state of a session the tracker let go, and
// its counts.
func (p *parallel) forget(s *tlsdec.Session) {
	p.d.dropCounts(s)
	delete(p.shadows, s)
	delete(p.unseen, s)
	if p.lastSess == s {
		p.lastSess, p.lastShadow = nil, nil
	}
}

// skip takes in the session states of items not delivered: a later item
// of the session may be the same as them.
func (p *parallel) skip(items []item) {
	for i := range items {
		it := &items[i]
		if it.kind == itemEvict {
			p.forget(it.sess) // the tracker let it go: so does the merger (as deliver does)
			continue
		}
		if it.sess == nil || it.snap < 0 {
			continue
		}
		s := p.shadows[it.sess]
		if s == nil {
			if s = p.unseen[it.sess]; s == nil {
				if p.unseen == nil {
					p.unseen = map[*tlsdec.Session]*tlsdec.Session{}
				}
				s = new(tlsdec.Session)
				p.unseen[it.sess] = s
			}
		}
		*s = it.ob.snaps[it.snap]
	}
}

// broadcastNow runs a step on every worker after the run (Retry, Finish)
// and delivers its results.
func (d *Dissector) broadcastNow(k opKind) {
	p := d.par
	for _, w := range p.ws {
		b := p.getIn()
		b.ops = append(b.ops, op{kind: k, gen: d.cfg.Keys.Pin(), t: p.lastT, frame: p.lastF})
		w.in <- b
	}
	d.deliverAll()
}

// finishParallel ends the workers (the three steps of Finish, in order),
// and gathers their counts.
func (d *Dissector) finishParallel() {
	p := d.par
	if p.done {
		return
	}
	if g := d.cfg.Keys.Generation(); g != p.lastGen {
		p.lastGen = g
		d.broadcastNow(opKeys)
	}
	d.broadcastNow(opFlush)
	d.broadcastNow(opRetryEnd)
	d.broadcastNow(opFinish)
	p.done = true
	d.cfg.Keys.SetFloor(0) // no view of an older generation is made any more
	for i, w := range p.ws {
		close(w.in)
		for ob := range w.out {
			p.recycle(i, ob)
		}
	}
	p.wg.Wait()
	pk := d.Counters.Packets
	for _, w := range p.ws {
		c := &w.d.Counters
		d.Counters.OtherRecords += c.OtherRecords
		d.Counters.Heuristic += c.Heuristic
		d.Counters.PlainMessages += c.PlainMessages
	}
	d.Counters.Packets = pk
}

// parSessions lists the sessions of a parallel run: during the run the
// copies the sink sees, after Finish the workers' own.
func (d *Dissector) parSessions() []*tlsdec.Session {
	p := d.par
	var all []*tlsdec.Session
	if p.done {
		for _, w := range p.ws {
			all = append(all, w.d.tracker.Sessions()...)
		}
	} else {
		for _, s := range p.shadows {
			all = append(all, s)
		}
	}
	tlsdec.SortSessions(all)
	return all
}

// FlowStats are the link/IP/transport counters (of every worker in a
// parallel run, added up once it finished).
func (d *Dissector) FlowStats() flow.Stats {
	if d.par == nil {
		return d.flow.Stats()
	}
	var st flow.Stats
	for i, w := range d.par.ws {
		ws := w.d.flow.Stats()
		if i == 0 {
			st = ws
			continue
		}
		st.Add(&ws)
	}
	return st
}

// trackerStats sums the counters of the session trackers (a parallel
// run's once its workers are done; before, nothing).
func (d *Dissector) trackerStats() tlsdec.Stats {
	if d.par == nil {
		return d.tracker.Stats()
	}
	var st tlsdec.Stats
	if !d.par.done {
		return st
	}
	for _, w := range d.par.ws {
		ws := w.d.tracker.Stats()
		st.Datagrams += ws.Datagrams
		st.NotDTLS += ws.NotDTLS
		st.TLSChunks += ws.TLSChunks
		st.SessionsCreated += ws.SessionsCreated
		st.SessionsEvicted += ws.SessionsEvicted
		st.RecordDrops += ws.RecordDrops
		st.RecordBytesDropped += ws.RecordBytesDropped
	}
	return st
}
