package dissect

import (
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/flow"
	"github.com/ompscope/ompscope/dissect/internal/part"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// ControllerDTLSPorts are the UDP ports SD-WAN control connections use:
// the base port 12346 plus a configured port offset of 0 to 19 (12346 to
// 12365: Cisco's "Firewall Ports for Viptela Deployments", and
// viptela-mibs/19.2/yang/viptela-security.yang port-offset), the
// controllers' per-core ports 12446 … 13046 (+100 a core), each with the
// port-hopping steps +20, +40, +60, +80: 12346 to 13145 in all.
func ControllerDTLSPorts() []uint16 {
	var ps []uint16
	for core := uint16(0); core < 8; core++ {
		for off := uint16(0); off < 100; off++ { // offset 0-19 + hop 0-80
			ps = append(ps, 12346+100*core+off)
		}
	}
	return ps
}

// DefaultTLSPort is the controllers' TLS port.
const DefaultTLSPort = 23456

// Config configures a Dissector.
type Config struct {
	// Keys holds the key material; pcapng Decryption Secrets Blocks are
	// added to it as they are read. Required.
	Keys *tlsdec.KeyStore
	// DTLSPorts are the UDP ports whose datagrams are DTLS (nil: the
	// controller ports). ExtraDTLSPorts are added to them.
	DTLSPorts, ExtraDTLSPorts []uint16
	// TLSPorts are the TCP ports carrying TLS control connections (nil:
	// 23456). ExtraTLSPorts are added.
	TLSPorts, ExtraTLSPorts []uint16
	// NoHeuristic turns off the DTLS record heuristic that picks up DTLS
	// on any other UDP port.
	NoHeuristic bool
	// Flow and TLS tune the layers below.
	Flow flow.Config
	TLS  tlsdec.Options
	// OnGap, if set, hears every record that could not be decrypted: n
	// records of session s for reason r, around s.LastSeen/s.LastFrame.
	// The analyzer uses it to report what it could not see.
	OnGap func(s *tlsdec.Session, r tlsdec.Reason, n int)
	// ReuseMessages decodes every record into the same values (a
	// MessageDecoder): Event.Msg is then valid only during the callback,
	// like the byte slices. For consumers that use each event at once (the
	// analyzer, the printers); it spares an allocation per NLRI.
	ReuseMessages bool
	// OnSessionEnd, if set, hears every control connection that ended: a
	// TCP FIN or RST of a TLS session, or a close_notify or fatal alert
	// (decrypted) on a DTLS or TLS session, at time t and frame. why says
	// which. A session may be reported more than once (an alert, then
	// the FIN).
	OnSessionEnd func(s *tlsdec.Session, t time.Time, frame uint64, why string)
	// OnSessionInfo, if set, hears a session that learned facts before
	// (or without) any record: a side's certificate, read from the clear
	// handshake, at time t and frame. An attacker whose session cannot be
	// decrypted shows this way at once, not when its waiting records are
	// given up.
	OnSessionInfo func(s *tlsdec.Session, t time.Time, frame uint64)
}

// Event is one decrypted (or cleartext) control-connection record, with
// its decode. The byte slices are valid only during the callback.
type Event struct {
	Time     time.Time
	Frame    uint64
	Src, Dst netip.AddrPort
	Session  *tlsdec.Session
	Dir      tlsdec.Direction
	Epoch    uint16
	Seq      uint64
	// Decrypted is false for a record sent in the clear (a NULL-cipher
	// suite, or a vdaemon message outside any DTLS/TLS session: then
	// Session is nil and Transport says "udp" or "tcp").
	Decrypted bool
	Transport string
	Plaintext []byte
	Msg       Message
	// SrcDevice and DstDevice are the device types of the two sides as
	// far as the session has shown them (from vdaemon headers).
	SrcDevice, DstDevice sdwan.DeviceType
	// File and FileFrame: with several capture files merged
	// (capture.Merger), the file (0-based) and its frame that Frame is
	// (FileFrame 0: one file, or a frame too far back to say).
	File      int
	FileFrame uint64
}

// fileRing remembers, for the latest frames of merged captures, which file
// and frame of it each was: records are emitted at their frame or soon
// after (reassembly, keys arriving), and a bounded ring says it for them.
type fileRing struct {
	on  bool
	ref [4096]struct {
		frame, fileFrame uint64
		file             int32
	}
}

func (r *fileRing) note(frame uint64, file int, fileFrame uint64) {
	if fileFrame == 0 {
		return
	}
	r.on = true
	e := &r.ref[frame%uint64(len(r.ref))]
	e.frame, e.file, e.fileFrame = frame, int32(file), fileFrame
}

// set fills e.File and e.FileFrame when the ring knows e.Frame.
func (r *fileRing) set(e *Event) {
	if !r.on {
		return
	}
	if x := &r.ref[e.Frame%uint64(len(r.ref))]; x.frame == e.Frame {
		e.File, e.FileFrame = int(x.file), x.fileFrame
	}
}

// SessionStats counts, per session, what the dissector made of it.
type SessionStats struct {
	Devices   [2]sdwan.DeviceType
	AppRecord uint64
	kinds     []kindN // messages by kind, in order of first sight (a handful per session)
	last      uint8   // the index in kinds of the last message's kind
}

// kindN counts the messages of one kind: a vdaemon type (0-255, records
// without OMP messages), an OMP type (kindOMP+type), kindUndecodable or
// kindDecodeError. A short list searched linearly: a map keyed by the
// kind's name cost 3 % of `dissect -T json` in string hashing.
type kindN struct {
	kind uint16
	n    uint64
}

const (
	kindOMP         = 256
	kindUndecodable = 512
	kindDecodeError = 513
)

func (st *SessionStats) count(k uint16) {
	// the kind of the session's last message first: most come in runs
	// (HELLOs, UPDATEs)
	if i := int(st.last); i < len(st.kinds) && st.kinds[i].kind == k {
		st.kinds[i].n++
		return
	}
	for i := range st.kinds {
		if st.kinds[i].kind == k {
			st.kinds[i].n++
			st.last = uint8(min(i, 255))
			return
		}
	}
	st.last = uint8(min(len(st.kinds), 255))
	st.kinds = append(st.kinds, kindN{k, 1})
}

// Messages counts the session's messages by kind ("HELLO", "OMP UPDATE",
// "undecodable", "decode-error", ...).
func (st *SessionStats) Messages() map[string]uint64 {
	m := make(map[string]uint64, len(st.kinds))
	for _, k := range st.kinds {
		var name string
		switch {
		case k.kind < kindOMP:
			name = vdaemon.MsgType(k.kind).String()
		case k.kind < kindUndecodable:
			name = ompKindName(omp.Type(k.kind - kindOMP))
		case k.kind == kindUndecodable:
			name = "undecodable"
		default:
			name = "decode-error"
		}
		m[name] += k.n
	}
	return m
}

// Dissector runs the pipeline packets → records → messages. It is not
// safe for concurrent use.
type Dissector struct {
	cfg     Config
	dtls    [65536 / 64]uint64 // port bitmap
	tls     [65536 / 64]uint64
	flow    *flow.Decoder
	tracker *tlsdec.Tracker
	onEvent func(*Event)
	ev      Event
	perSess map[*tlsdec.Session]*SessionStats
	// recent: a direct-mapped cache of perSess (statsCache)
	recent   statsCache
	Counters Counters
	lastTime time.Time
	lastFrm  uint64
	emitFn   func(*tlsdec.Record)
	dec      MessageDecoder // Config.ReuseMessages
	sink     Sink           // NewWithSink

	files       fileRing  // merged captures: frame → file and its frame
	maxSessions int       // the tracker's session limit
	lastGen     uint64    // the key store's generation at the last retry
	par         *parallel // a parallel run's workers (RunOptions.Workers)
	parts       int       // the parts of the limits (tlsdec.Options.Parts, flow.Config.Parts)
	w           *worker   // set when this Dissector is one of them
}

// MaxSecretErrors bounds the problems with decryption secrets blocks kept
// (and the secrets types counted); the rest are counted.
const MaxSecretErrors = 100

// Counters are the dissector's own counts.
type Counters struct {
	Packets uint64
	Secrets uint64 // decryption secrets blocks read
	// SecretErrors are the first MaxSecretErrors problems with them;
	// SecretErrorsMore counts the rest, and OtherSecrets the blocks of
	// each secrets type that is not a TLS key log (skipped).
	SecretErrors     []error
	SecretErrorsMore uint64
	OtherSecrets     map[uint32]uint64
	AppRecords       uint64 // application-data records emitted
	OtherRecords     uint64 // decrypted records of other content types (alerts, handshake)
	DecodeErrors     uint64 // records whose plaintext did not decode as vdaemon/OMP
	Heuristic        uint64 // datagrams taken as DTLS by the heuristic on a non-controller port
	PlainMessages    uint64 // vdaemon messages seen outside DTLS/TLS on a controller port
}

func setBit(m *[1024]uint64, p uint16)      { m[p>>6] |= 1 << (p & 63) }
func hasBit(m *[1024]uint64, p uint16) bool { return m[p>>6]&(1<<(p&63)) != 0 }

// New makes a Dissector that calls onEvent for every record it decodes.
func New(cfg Config, onEvent func(*Event)) *Dissector {
	if cfg.Keys == nil {
		cfg.Keys = tlsdec.NewKeyStore()
	}
	d := &Dissector{cfg: cfg, onEvent: onEvent, perSess: map[*tlsdec.Session]*SessionStats{}}
	dp := cfg.DTLSPorts
	if dp == nil {
		dp = ControllerDTLSPorts()
	}
	for _, p := range append(append([]uint16{}, dp...), cfg.ExtraDTLSPorts...) {
		setBit(&d.dtls, p)
	}
	tp := cfg.TLSPorts
	if tp == nil {
		tp = []uint16{DefaultTLSPort}
	}
	for _, p := range append(append([]uint16{}, tp...), cfg.ExtraTLSPorts...) {
		setBit(&d.tls, p)
	}
	tc := cfg.TLS
	if tc.MaxSessions == 0 {
		// A fabric has a control connection per edge and controller:
		// 2 000 edges make 8 000 sessions. Evicting live ones would lose
		// their records, so allow many. A session holds about 3 KB of
		// its own; what it buffers (its handshake, records waiting for
		// a key, an incomplete TLS record) counts against the tracker's
		// byte budgets (MaxTotalHandshakeBytes, MaxTotalPendingBytes,
		// MaxTotalRecordBytes), not per session.
		tc.MaxSessions = 1 << 17
	}
	// the limits' parts, the same for the flows and the sessions, and
	// from the configuration alone: a parallel run gives each worker
	// whole parts (internal/part)
	if tc.Parts <= 0 {
		tc.Parts = part.Count(tc.MaxSessions)
	}
	tc.Parts = min(tc.Parts, part.Max)
	d.parts = tc.Parts
	fc := cfg.Flow
	fc.Parts = d.parts
	fc.TCPFilter = func(src, dst netip.AddrPort) bool {
		return hasBit(&d.tls, src.Port()) || hasBit(&d.tls, dst.Port())
	}
	d.flow = flow.NewDecoder(fc, (*flowHandler)(d))
	if cfg.OnSessionInfo != nil {
		prev := tc.OnCertificate
		tc.OnCertificate = func(s *tlsdec.Session) {
			if prev != nil {
				prev(s)
			}
			cfg.OnSessionInfo(s, s.LastSeen, s.LastFrame)
		}
	}
	// a session the tracker lets go takes its counts with it: they are
	// shown only for the sessions it holds (Sessions), and a long run
	// (sniff, sessions coming and going) would keep every one it ever saw
	prevEvict := tc.OnEvict
	tc.OnEvict = func(s *tlsdec.Session) {
		d.dropCounts(s)
		if prevEvict != nil {
			prevEvict(s)
		}
	}
	if cfg.OnGap != nil {
		prev := tc.OnFailure
		tc.OnFailure = func(s *tlsdec.Session, r tlsdec.Reason, n int) {
			if prev != nil {
				prev(s, r, n)
			}
			cfg.OnGap(s, r, n)
		}
	}
	d.maxSessions = tc.MaxSessions
	d.lastGen = cfg.Keys.Generation()
	d.tracker = tlsdec.NewTracker(cfg.Keys, tc)
	d.emitFn = d.emit
	return d
}

// Tracker gives the DTLS/TLS tracker (sessions and their counters).
func (d *Dissector) Tracker() *tlsdec.Tracker { return d.tracker }

// Flow gives the flow decoder (its Stats).
func (d *Dissector) Flow() *flow.Decoder { return d.flow }

// Sessions lists the sessions in the order they were first seen, with the
// dissector's counts for each.
func (d *Dissector) Sessions() ([]*tlsdec.Session, map[*tlsdec.Session]*SessionStats) {
	if d.par != nil {
		return d.parSessions(), d.perSess
	}
	all := d.tracker.Sessions()
	return all, d.perSess
}

// Packet runs one captured packet through the pipeline.
func (d *Dissector) Packet(p *capture.Packet) {
	d.files.note(p.Frame, p.File, p.FileFrame) // (a parallel run's workers take their steps in worker.steps)
	d.Counters.Packets++
	d.lastTime, d.lastFrm = p.Time, p.Frame
	d.flow.Decode(p)
}

// Secrets takes a pcapng Decryption Secrets Block.
func (d *Dissector) Secrets(kind uint32, data []byte) {
	d.Counters.Secrets++
	if kind != capture.SecretsTLSKeyLog {
		// counted per type (a file of two million such blocks makes one
		// line per type, not two million)
		c := &d.Counters
		if c.OtherSecrets == nil {
			c.OtherSecrets = map[uint32]uint64{}
		}
		if _, ok := c.OtherSecrets[kind]; ok || len(c.OtherSecrets) < MaxSecretErrors {
			c.OtherSecrets[kind]++
		} else {
			c.SecretErrorsMore++
		}
		return
	}
	_, errs := d.cfg.Keys.LoadDSB(data)
	for _, e := range errs {
		if len(d.Counters.SecretErrors) < MaxSecretErrors {
			d.Counters.SecretErrors = append(d.Counters.SecretErrors, e)
		} else {
			d.Counters.SecretErrorsMore++
		}
	}
}

// Run reads r to its end (RunSource with no options). The error is the
// reader's (a truncated file says where); everything before it was
// dissected.
func (d *Dissector) Run(r *capture.Reader) error { return d.RunSource(r, RunOptions{}) }

// Finish flushes the layers at the end of the input: buffered TCP data is
// delivered, records still waiting for a key are counted as failures.
func (d *Dissector) Finish() {
	if d.par != nil {
		d.finishParallel()
		return
	}
	if g := d.cfg.Keys.Generation(); g != d.lastGen {
		d.lastGen = g
		d.tracker.Retry(d.emitFn)
	}
	d.flow.Flush()
	d.tracker.Retry(d.emitFn)
	d.tracker.Finish()
}

// Retry decrypts records that were waiting for keys that have arrived
// since (live capture with a growing key log).
func (d *Dissector) Retry() {
	switch {
	case d.par == nil:
		d.tracker.Retry(d.emitFn)
	case d.par.done:
	case d.par.running:
		d.par.retry.Store(true) // the reader tells every worker in turn
	default:
		d.broadcastNow(opKeys)
	}
}

type flowHandler Dissector

func (h *flowHandler) UDP(dg *flow.Datagram) {
	d := (*Dissector)(h)
	ctl := hasBit(&d.dtls, dg.Src.Port()) || hasBit(&d.dtls, dg.Dst.Port())
	isDTLS := tlsdec.IsDTLS(dg.Payload)
	switch {
	case ctl && !isDTLS:
		d.plain(dg.Time, dg.Frame, dg.Src, dg.Dst, "udp", dg.Payload)
		return
	case !ctl && (d.cfg.NoHeuristic || !isDTLS):
		return
	case !ctl:
		d.Counters.Heuristic++
	}
	d.tracker.DTLSDatagram(dg.Src, dg.Dst, dg.Time, dg.Frame, dg.Payload, d.emitFn)
}

func (h *flowHandler) TCPData(s *flow.Segment) {
	d := (*Dissector)(h)
	role := tlsdec.RoleUnknown
	if s.Conn.ClientKnown {
		if s.Src == s.Conn.A {
			role = tlsdec.RoleClient
		} else {
			role = tlsdec.RoleServer
		}
	}
	if d.w != nil {
		d.w.key = s.Conn.FirstFrame // what this connection gives is ordered by it
		defer func() { d.w.key = 0 }()
	}
	d.tracker.TLSData(s.Src, s.Dst, s.Time, s.Frame, s.Data, int(min(s.Gap, 1<<30)), role, d.emitFn)
}

func (h *flowHandler) TCPClose(c *flow.Conn, why flow.CloseReason) {
	d := (*Dissector)(h)
	if d.w != nil {
		d.w.key = c.FirstFrame
		defer func() { d.w.key = 0 }()
	}
	s := d.tracker.TLSEnd(c.A, c.B)
	if s == nil || d.cfg.OnSessionEnd == nil {
		return
	}
	switch why {
	case flow.CloseFIN:
		d.cfg.OnSessionEnd(s, d.lastTime, d.lastFrm, "TCP FIN")
	case flow.CloseRST:
		d.cfg.OnSessionEnd(s, d.lastTime, d.lastFrm, "TCP RST")
	}
}

// alertEnd reports the end a decrypted alert record announces: a
// close_notify, or any fatal alert.
func (d *Dissector) alertEnd(r *tlsdec.Record) {
	if d.cfg.OnSessionEnd == nil || len(r.Plaintext) < 2 {
		return
	}
	level, desc := r.Plaintext[0], r.Plaintext[1]
	who := "client"
	if r.Dir == tlsdec.FromServer {
		who = "server"
	}
	switch {
	case desc == 0:
		d.cfg.OnSessionEnd(r.Session, r.Time, r.Frame, "close_notify from the "+who)
	case level == 2:
		d.cfg.OnSessionEnd(r.Session, r.Time, r.Frame, "fatal alert "+strconv.Itoa(int(desc))+" from the "+who)
	}
}

// plain handles a datagram on a controller port that is not DTLS: if it
// decodes as a vdaemon message it is control traffic in the clear.
func (d *Dissector) plain(t time.Time, frame uint64, src, dst netip.AddrPort, transport string, payload []byte) {
	var h vdaemon.Header
	if h.DecodeFromBytes(payload) != nil || !h.Device.Known() || h.Version > 1 {
		return
	}
	if d.w != nil {
		// a worker: is it a vdaemon message? (the merger decodes it again)
		if d.dec.Decode(payload).VDaemon == nil {
			return
		}
		d.Counters.PlainMessages++
		d.w.plain(&Event{Time: t, Frame: frame, Src: src, Dst: dst, Transport: transport, Plaintext: payload,
			SrcDevice: h.Device})
		return
	}
	m := d.decode(payload)
	if m.VDaemon == nil {
		return
	}
	d.Counters.PlainMessages++
	d.ev = Event{Time: t, Frame: frame, Src: src, Dst: dst, Transport: transport, Plaintext: payload, Msg: m,
		SrcDevice: h.Device}
	d.files.set(&d.ev)
	d.onEvent(&d.ev)
}

// decode decodes a record plaintext, into reused values when the
// configuration says so.
func (d *Dissector) decode(b []byte) Message {
	if d.cfg.ReuseMessages {
		return d.dec.Decode(b)
	}
	return DecodeMessage(b)
}

func (d *Dissector) emit(r *tlsdec.Record) {
	s := r.Session
	if r.ContentType != tlsdec.ContentApplicationData {
		d.Counters.OtherRecords++
		if r.ContentType == tlsdec.ContentAlert && r.Decrypted {
			d.alertEnd(r)
		}
		return
	}
	if d.w != nil {
		d.w.record(r) // a worker of a parallel run: the merger decodes, in order
		return
	}
	d.ev.setRecord(r.Time, r.Frame, s, r.Dir, r.Epoch, r.Seq, r.Decrypted, r.Plaintext)
	d.decodeRecord(&d.ev, s)
	d.files.set(&d.ev)
	d.onEvent(&d.ev)
}

// dropCounts forgets the counts of a session the tracker let go.
func (d *Dissector) dropCounts(s *tlsdec.Session) {
	delete(d.perSess, s)
	if c := &d.recent[statsSlot(s)]; c.key == s {
		*c = statsEntry{}
	}
}

// statsCache holds the counts of a few sessions in front of perSess: the
// records of tens of sessions come interleaved, and the map's lookup was
// 80 of the 3 230 instructions `dissect -q -j 1` spent on a small record
// (cachegrind, 200 000 packets of the 10 h GCM capture, 41 sessions; one
// remembered session took 3 % of the lookups away). A slot never disagrees
// with the map: dropCounts empties it with the map's entry, and
// decodeRecord fills it with what the map holds
// (TestSessionCountsFollowEvictions).
type statsCache [256]statsEntry

type statsEntry struct {
	key *tlsdec.Session
	st  *SessionStats
}

// statsSlot mixes the session's address into a slot. The addresses of
// sessions are one size class apart, and a multiplication alone spread
// them by the class's size: when a field made Session 8 bytes longer, half
// the records of the 41 sessions above missed a 64-slot cache (a map
// lookup each, +0.7 % instructions) against 8 % before. Mixed, the slots
// are as good as random for any size; with 256 of them about three pairs
// of the 41 sessions share a slot.
func statsSlot(s *tlsdec.Session) int {
	return int(part.Mix64(uint64(uintptr(unsafe.Pointer(s)))) >> 56)
}

// setRecord makes e a session's record before decodeRecord: every field
// but those decodeRecord sets (Msg, Src, Dst, SrcDevice, DstDevice) is
// written here, one by one (a composite literal cleared and copied the
// whole Event, a fifth of the instructions of emit; TestSetRecordSetsEveryField
// keeps the two lists whole).
func (e *Event) setRecord(t time.Time, frame uint64, s *tlsdec.Session, dir tlsdec.Direction, epoch uint16, seq uint64,
	decrypted bool, pt []byte) {
	e.Time, e.Frame, e.Session, e.Dir, e.Epoch, e.Seq = t, frame, s, dir, epoch, seq
	e.Decrypted, e.Transport, e.Plaintext = decrypted, s.Transport, pt
	e.File, e.FileFrame = 0, 0
}

// decodeRecord decodes the plaintext of a session's record into e (Msg,
// the addresses by direction, the devices), counting it for its session
// under key (the tracker's session; e.Session may be a parallel run's copy).
func (d *Dissector) decodeRecord(e *Event, key *tlsdec.Session) {
	s := e.Session
	d.Counters.AppRecords++
	c := &d.recent[statsSlot(key)]
	st := c.st
	if c.key != key {
		if st = d.perSess[key]; st == nil {
			st = &SessionStats{}
			d.perSess[key] = st
		}
		*c = statsEntry{key, st}
	}
	st.AppRecord++
	e.Msg = d.decode(e.Plaintext)
	e.Src, e.Dst = s.Client, s.Server
	side := 0
	if e.Dir == tlsdec.FromServer {
		e.Src, e.Dst, side = s.Server, s.Client, 1
	}
	if e.Msg.VDaemon != nil {
		st.Devices[side] = e.Msg.VDaemon.Header.Device
	}
	kindCount(st, &e.Msg)
	if e.Msg.Err != nil {
		d.Counters.DecodeErrors++
	}
	e.SrcDevice, e.DstDevice = st.Devices[side], st.Devices[1-side]
}

// ompKindNames holds "OMP <type>" for every type, made once: counting a
// message allocates nothing.
var ompKindNames = func() (n [256]string) {
	for i := range n {
		n[i] = "OMP " + omp.Type(i).String()
	}
	return n
}()

func ompKindName(t omp.Type) string { return ompKindNames[uint8(t)] }

func kindCount(st *SessionStats, m *Message) {
	if m.VDaemon == nil {
		st.count(kindUndecodable)
		return
	}
	if len(m.OMP) == 0 {
		st.count(uint16(m.VDaemon.Header.Type))
	}
	for _, o := range m.OMP {
		st.count(kindOMP + uint16(o.Type()))
	}
	if m.Err != nil {
		st.count(kindDecodeError)
	}
}
