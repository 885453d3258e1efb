package analyze

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// Analyzer rebuilds control-plane state from decoded messages and detects
// anomalies. Feed it in capture order: Message for every decoded record,
// Gap for records it could not decrypt, SessionEnd when a connection
// closes, Advance when capture time moves without a message (so timers
// fire), and Finish at the end.
type Analyzer struct {
	cfg Config

	started bool
	clock   int64 // capture time now, ns since the Unix epoch
	first   int64 // time of the first input
	seq     uint64
	timers  timerHeap

	sessions map[string]*session
	sessList []*session
	tables   []*table
	tableID  int
	devices  map[uint32]*device
	maxDev   int                    // the cap of devices and of addrMap (maxDevices; tests lower it)
	addrMap  map[netip.Addr]uint32  // underlay address → system-ip (0: ambiguous)
	unnamed  map[netip.Addr][]*side // ends from addresses no HANDSHAKE named yet
	groups   groupIndex
	tlocs    map[tlocID]*tlocState
	histPool histPool             // the tables' dropped row histories, for new ones
	grWait   map[[2]uint32]*table // GR tables waiting for their peers to reconnect
	in       *interner

	recvTabs map[uint32][]*table // receiver system-ip → tables to it
	// scratch of rowStatus (reused: no allocation per timeline event)
	bpRows   []Row
	bpPaths  []bpPath
	tlocGen  uint64 // counts TLOC groups made and dropped (Attrs.tgen), from a start of its own
	bpPtrs   []*bpPath
	bpBits   []uint8
	conds    map[condKey]*cond
	instants map[condKey]*instant

	// the detectors (registry.go), by the hooks they implement
	dets      []detector
	rowW      []rowWatcher
	evByKind  [evKinds][]eventWatcher // the detectors told events, by the kinds each is told (eventFilter)
	tickers   []ticker
	finishers []finisher
	holders   []groupHolder
	evSlots   [4]coreEvent // tellv's
	evDepth   int
	rc        rowChange // the change being told (setRow)
	jbuf      []byte    // the JSON line of the event being told (OnEventJSON)
	jenc      eventEncoder

	rec  *recorder    // Config.Record's history (nil without it)
	gaps []CaptureGap // CaptureGap's

	anomalies []*Anomaly
	anomID    int
	dropped   int

	horizon      int64 // snapshots before it may be inexact
	pruneHorizon int64 // rows withdrawn before it may have been deleted
	paths        int   // rows held (Config.MaxPaths)
	refused      uint8 // kinds (1<<kRoute, ...) of which a path was not kept at Config.MaxPaths
	lastPrune    int64
	finished     bool
	marks        []*mark     // Config.SnapshotAt
	wq           []withdrawn // rows withdrawn, oldest first (Retention 0)
	wqHead       int
	wqCompactAt  int // wq's length at which compactWQ runs
	stats        Stats
}

// Stats counts what the analyzer processed.
type Stats struct {
	Inputs        int // Message calls
	OMPMessages   int
	Updates       int
	RouteEvents   int // route NLRI processed (advertised or withdrawn)
	TLOCEvents    int
	ServiceEvents int
	Gaps          int // Gap calls
	GapRecords    int
	DecodeErrors  int
	Events        int // timeline events emitted
	AttrSets      int // distinct attribute sets interned (allocated)
	PrunedRows    int
	Saturated     int // frame numbers past 2^40 or GR periods past 65 535 on one table, kept at that maximum in row versions
	// DistUnnoted counts paths from vSmarts whose VPN or originator
	// not-distributed did not note for their receiver, which had 65 536
	// of them noted already (the receiver is not judged for those: fewer
	// notices, never a false one)
	DistUnnoted   int
	MeshUntracked int // vSmart HANDSHAKEs naming a vSmart vsmart-mesh-incomplete did not track: it tracked maxMeshVSmarts (128) already
	// SessionsRefused counts the inputs (Message, Gap, SessionSeen
	// calls) of sessions not analyzed: they were new while the analyzer
	// held Config.MaxSessions sessions
	SessionsRefused int
	// DevicesUntracked counts HANDSHAKEs whose system-ip or underlay
	// address the analyzer did not record (it held maxDevices, 65 536, of
	// them): that device is not judged for duplicate system-ips, its
	// site-id is not known from it, and its address names no other session
	DevicesUntracked int
	// TableSessionsOmitted counts the sessions a table's list of carriers
	// (TableView.Sessions) left out: a table adopted by more than
	// maxTableSessions graceful-restart reconnections keeps the first and
	// the last ones
	TableSessionsOmitted int
	// DevicesPruned counts devices let go of with a positive Retention:
	// no session claimed them for longer than it
	DevicesPruned int
	// StaleFlushesForgotten counts graceful-restart flushes
	// stale-after-gr forgot: a group (one prefix or TLOC) held
	// maxStaleFlushes (16) of distinct receivers, originators and TLOCs
	// already, and the oldest went (a stale path of it is then not judged)
	StaleFlushesForgotten int
	// GRSpansForgotten counts graceful-restart periods a table forgot
	// past maxGRSpans (32): the report's history and snapshots of
	// instants inside the oldest ones show the table out of GR and its
	// paths not stale
	GRSpansForgotten int
	// PathsRefused counts advertisements of paths not kept: they were new
	// while the analyzer held Config.MaxPaths (their tables are
	// incomplete; a path advertised again while refused counts again)
	PathsRefused int
}

// analyzerSeq numbers the analyzers of the process (Analyzer.tlocGen).
var analyzerSeq atomic.Uint64

// New returns an analyzer with the given configuration.
func New(cfg Config) *Analyzer {
	a := newAnalyzer(cfg)
	if cfg.Record {
		a.rec = newRecorder(cfg.RecordMax)
	}
	a.newDetectors()
	return a
}

func newAnalyzer(cfg Config) *Analyzer {
	return &Analyzer{
		cfg:         cfg.withDefaults(),
		wqCompactAt: cmp.Or(cfg.reference.wqCompactMin, wqCompactMin),
		tlocGen:     analyzerSeq.Add(1) << 32, // distinct per analyzer: an Attrs never matches another's
		sessions:    make(map[string]*session),
		devices:     make(map[uint32]*device),
		maxDev:      maxDevices,
		addrMap:     make(map[netip.Addr]uint32),
		unnamed:     make(map[netip.Addr][]*side),
		groups:      newGroupIndex(),
		tlocs:       make(map[tlocID]*tlocState),
		grWait:      make(map[[2]uint32]*table),
		in:          newInterner(),
		recvTabs:    make(map[uint32][]*table),
		conds:       make(map[condKey]*cond),
		instants:    make(map[condKey]*instant),
	}
}

// Config returns the configuration in force (defaults filled in).
func (a *Analyzer) Config() Config { return a.cfg }

// Stats returns the processing counters.
func (a *Analyzer) Stats() Stats {
	s := a.stats
	s.AttrSets = a.in.allocated
	return s
}

// Now is the analyzer's capture-time clock.
func (a *Analyzer) Now() time.Time {
	if !a.started {
		return time.Time{}
	}
	return nsTime(a.clock)
}

// Start is the time of the first input.
func (a *Analyzer) Start() time.Time {
	if !a.started {
		return time.Time{}
	}
	return nsTime(a.first)
}

// Advance tells the analyzer capture time has reached t: timers due by
// then fire (hold expiry, GR expiry, grace windows).
func (a *Analyzer) Advance(t time.Time) { a.advanceTo(timeNS(t)) }

// Finish ends the analysis at capture time end (the last packet): timers
// due by then fire, and anomalies made of occurrences (flaps, alerts, ...)
// are closed. Conditions still true stay active with a zero End. The
// analyzer can still be queried (and, if fed again, continues).
func (a *Analyzer) Finish(end time.Time) {
	a.advanceTo(timeNS(end))
	a.tick()
	a.finishMarks()
	for _, f := range a.finishers {
		f.finish(a.clock)
	}
	a.raisePending()
	keys := make([]condKey, 0, len(a.instants))
	for k := range a.instants {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y condKey) int { return a.instants[x].anom.ID - a.instants[y].anom.ID })
	for _, k := range keys {
		a.closeInstant(k, a.clock)
	}
	a.finished = true
}

// session returns the session of info, creating it; nil when it is new
// and the analyzer holds Config.MaxSessions sessions (the input is then
// counted in Stats.SessionsRefused and not analyzed: as if the capture
// point did not see the session, never a notice about it).
func (a *Analyzer) session(info *SessionInfo, now int64) *session {
	var key string
	if info == nil {
		key = "(unknown session)"
	} else {
		key = info.key()
	}
	if s := a.sessions[key]; s != nil {
		if info != nil {
			if s.info.Suite == "" && info.Suite != "" {
				s.info.Suite = info.Suite
			}
			if s.info.Version == "" && info.Version != "" {
				s.info.Version = info.Version
			}
			if s.info.KeySource == "" && info.KeySource != "" {
				s.info.KeySource = info.KeySource
			}
			if s.info.Transport == "" && info.Transport != "" {
				s.info.Transport = info.Transport
			}
			s.info.NullCipher = s.info.NullCipher || info.NullCipher
			if s.info.ClientCert == nil && info.ClientCert != nil {
				s.info.ClientCert = info.ClientCert
			}
			if s.info.ServerCert == nil && info.ServerCert != nil {
				s.info.ServerCert = info.ServerCert
			}
		}
		return s
	}
	if len(a.sessions) >= a.cfg.MaxSessions {
		a.stats.SessionsRefused++
		return nil
	}
	s := &session{id: key, start: now, last: now, gapReasons: map[string]int{}}
	if info != nil {
		s.info = *info
	}
	s.info.ID = key
	for i := range s.sides {
		s.sides[i] = &side{sess: s, idx: i, lastHeard: now, lastOMP: now}
	}
	s.sides[0].addr, s.sides[1].addr = s.info.Client, s.info.Server
	// A device whose underlay address is known from another session's
	// HANDSHAKE is that device (unless the address is shared).
	for _, sd := range s.sides {
		if sys, ok := a.addrMap[sd.addr.Addr()]; ok && sys != 0 {
			sd.sys, sd.inferred = addrOf4(sys), true
			if d := a.devices[sys]; d != nil {
				sd.dev = d.dev
			}
		}
	}
	for _, sd := range s.sides {
		// an end not named yet, from an address no HANDSHAKE named: the
		// first HANDSHAKE from there names it
		if ad := sd.addr.Addr(); !sd.sys.IsValid() && ad.IsValid() {
			if _, known := a.addrMap[ad]; !known {
				a.unnamed[ad] = append(a.unnamed[ad], sd)
			}
		}
	}
	a.sessions[key] = s
	a.sessList = append(a.sessList, s)
	return s
}

// Message processes one decoded record.
func (a *Analyzer) Message(in *Input) {
	if in == nil {
		return
	}
	now := a.advanceTo(timeNS(in.Time))
	a.stats.Inputs++
	s := a.session(in.Session, now)
	if s == nil {
		return
	}
	a.tellv(coreEvent{kind: evRecord, s: s, now: now, frame: in.Frame})
	d := 1
	if in.FromClient {
		d = 0
	}
	sd := s.sides[d]
	s.records++
	s.last, sd.lastHeard = now, now
	if in.VDaemon == nil {
		if in.Header != nil {
			a.headerOnly(s, d, in.Header, now, in.Frame)
		}
		s.decodeErrors++
		a.stats.DecodeErrors++
		reason := "decode-error"
		if in.Err == nil {
			reason = "empty-record"
		}
		a.gapRecord(s, []int{d}, now, now, in.Frame, reason, 1)
		return
	}
	if in.Err == nil {
		a.gapClear(s, d, now)
	}
	a.vdaemon(s, d, in.VDaemon, in.OMP, now, in.Frame)
	if in.Err != nil {
		s.decodeErrors++
		a.stats.DecodeErrors++
		a.gapRecord(s, []int{d}, now, now, in.Frame, "decode-error", 1)
	}
}

// SessionSeen makes the session of info known before any of its records:
// the dissector read facts of it from the clear handshake (its
// certificates). Detectors that judge such facts do so at once.
func (a *Analyzer) SessionSeen(info *SessionInfo, t time.Time, frame uint64) {
	if info == nil {
		return
	}
	now := a.advanceTo(timeNS(t))
	s := a.session(info, now)
	if s == nil {
		return
	}
	a.tellv(coreEvent{kind: evSessionInfo, s: s, now: now, frame: frame})
}

// Gap records undecryptable records of a session.
func (a *Analyzer) Gap(g *Gap) {
	if g == nil {
		return
	}
	now := a.advanceTo(timeNS(g.Time))
	a.stats.Gaps++
	s := a.session(g.Session, now)
	if s == nil {
		return
	}
	a.tellv(coreEvent{kind: evRecord, s: s, now: now, frame: g.Frame})
	n := max(g.Records, 1)
	reason := g.Reason
	if reason == "" {
		reason = "unknown"
	}
	s.last = now
	dirs := []int{0, 1}
	switch g.Dir {
	case DirClient:
		dirs = dirs[:1]
	case DirServer:
		dirs = dirs[1:]
	}
	for _, d := range dirs {
		sd := s.sides[d]
		// An unreadable record may have been a HELLO or an OMP
		// keepalive: never infer a silence across it.
		sd.lastHeard, sd.lastOMP = now, now
	}
	since := now
	if st := timeNS(g.Start); st != 0 && st < now {
		since = st
	}
	a.gapRecord(s, dirs, since, now, g.Frame, reason, n)
}

// SessionEnd tells the analyzer a connection closed at time t (TCP
// FIN/RST, a DTLS/TLS close_notify or fatal alert); why says how, and
// shows in the peer.state event. The session goes down with graceful
// restart, as a lost connection does.
func (a *Analyzer) SessionEnd(info *SessionInfo, t time.Time, why string) {
	now := a.advanceTo(timeNS(t))
	if info == nil {
		return
	}
	s := a.sessions[info.key()]
	if s == nil {
		return
	}
	if why == "" {
		why = "connection closed"
	}
	a.loseControl(s, now, why, true)
}

// gapRecord notes unreadable records. decryption-gap is made of
// occurrences: it starts at the first unreadable record, ends at the last,
// and closes once MergeWindow passes without one (unreadable spans closer
// than that are one anomaly).
func (a *Analyzer) gapRecord(s *session, dirs []int, since, now int64, frame uint64, reason string, n int) {
	reason = gapReasonKey(s, reason)
	s.gapRecords += n
	s.gapReasons[reason] += n
	s.lastGap = now
	a.stats.GapRecords += n
	for _, d := range dirs {
		s.gapDir[d] += n
		if t := s.tabs[d]; t != nil && !t.gapped {
			t.gapped = true
			a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
		}
		s.gapOpen[d] = true
	}
	a.tell(&coreEvent{kind: evGap, s: s, dirs: dirs, since: since, now: now, frame: frame, reason: reason, n: n})
}

// A session keeps maxGapReasons reasons of at most maxGapReasonLen bytes
// each; the rest are counted as gapReasonOther. (A gap's reason is the
// dissector's word, or, from a relay's stream, any text a sensor sent.)
const (
	maxGapReasons   = 16
	maxGapReasonLen = 80
	gapReasonOther  = "other reasons"
)

func gapReasonKey(s *session, reason string) string {
	if len(reason) > maxGapReasonLen {
		reason = strings.ToValidUTF8(reason[:maxGapReasonLen], "") + "…"
	}
	if _, ok := s.gapReasons[reason]; !ok && len(s.gapReasons) >= maxGapReasons-1 {
		return gapReasonOther
	}
	return reason
}

func sessDesc(s *session) string {
	return sideDesc(s.sides[0]) + " ↔ " + sideDesc(s.sides[1])
}

func (a *Analyzer) gapClear(s *session, d int, now int64) {
	s.gapOpen[d] = false
}

// ---- vdaemon

func (a *Analyzer) vdaemon(s *session, d int, m *vdaemon.Message, msgs []omp.Message, now int64, frame uint64) {
	sd := s.sides[d]
	if s.ctl == ctlDown && s.silent == d+1 {
		// the side we took for dead speaks again (the capture lost its
		// traffic, or the peer was slower than the tolerance): the
		// connection was up after all
		s.silent = 0
		old := s.ctl
		s.ctl = ctlUp
		s.downAt, s.downReason = 0, ""
		a.stateEvent(s, "control", old.String(), ctlUp.String(), "traffic from "+sd.name()+" after its hello timeout", now, frame)
		a.armHold(sd)
	}
	h := &m.Header
	sd.hdrSeen, sd.hdrDev, sd.hdrSite, sd.hdrDomain = true, h.Device, h.SiteID, h.DomainID
	if h.Device == sdwan.DeviceVBond {
		s.vbond = true
	}
	if sd.hs == nil && h.Device != sdwan.DeviceUnknown {
		sd.dev = h.Device
	}
	a.tellv(coreEvent{kind: evHeader, s: s, sd: sd, now: now, frame: frame})
	if isNil(m.Body) {
		return
	}
	if _, data := m.Body.(*vdaemon.Data); !data {
		a.tellv(coreEvent{kind: evVDaemon, s: s, sd: sd, d: d, vd: m, now: now, frame: frame})
	}
	switch b := m.Body.(type) {
	case *vdaemon.Challenge:
		s.ctlStart = true
		a.setCtl(s, ctlChallenge, now, frame, "CHALLENGE")
	case *vdaemon.ChallengeAck:
		if u, ok := vdaemon.FindTLV(b.TLVs, vdaemon.TLVUUID); ok && u.Text != "" {
			sd.uuid = u.Text
			a.identity(sd, now, frame)
		}
		if s.ackFrom == 0 {
			s.ackFrom = int8(d + 1)
		}
		a.setCtl(s, ctlChallengeResp, now, frame, "CHALLENGE_ACK")
	case *vdaemon.ChallengeAckAck:
		if d == 1 && s.ackFrom == 1 && b.VerifyStatus == 1 {
			s.verified = true // the server vouched for the client's CHALLENGE_ACK
		}
		a.setCtl(s, ctlChallengeAck, now, frame, "CHALLENGE_ACK_ACK")
	case *vdaemon.Hello:
		sd.helloSeen, sd.helloMS, sd.tolMS = true, b.IntervalMS, b.ToleranceMS
		if b.Color != sd.color {
			sd.color = b.Color
			a.identity(sd, now, frame)
		}
		a.setCtl(s, ctlUp, now, frame, "HELLO")
		a.armHold(sd)
	case *vdaemon.TearDown:
		a.teardown(s, d, b, now, frame)
	case *vdaemon.Data:
		a.setCtl(s, ctlUp, now, frame, "DATA")
		for _, om := range msgs {
			if !isNil(om) {
				a.omp(s, d, om, now, frame)
			}
		}
	}
}

// headerOnly notes the header of a message whose body did not decode:
// the sender's device type, site and domain, and a vdaemon event with no
// body (the attack detectors judge the header: a vHub CHALLENGE_ACK with
// a broken body is still one).
func (a *Analyzer) headerOnly(s *session, d int, h *vdaemon.Header, now int64, frame uint64) {
	sd := s.sides[d]
	sd.hdrSeen, sd.hdrDev, sd.hdrSite, sd.hdrDomain = true, h.Device, h.SiteID, h.DomainID
	if sd.hs == nil && h.Device != sdwan.DeviceUnknown {
		sd.dev = h.Device
	}
	a.tellv(coreEvent{kind: evHeader, s: s, sd: sd, now: now, frame: frame})
	a.tellv(coreEvent{kind: evVDaemon, s: s, sd: sd, d: d, vd: &vdaemon.Message{Header: *h}, now: now, frame: frame})
}

// setCtl moves the control state forward (never back to an earlier
// phase, except from down when traffic shows the connection alive).
func (a *Analyzer) setCtl(s *session, st ctlState, now int64, frame uint64, reason string) {
	if s.ctl == st || st < s.ctl || (s.ctl == ctlDown && st != ctlDown) {
		return // forward only; a closed connection stays closed (stragglers)
	}
	old := s.ctl
	s.ctl = st
	a.tell(&coreEvent{kind: evSessionChanged, s: s, now: now})
	if st != ctlDown {
		s.downAt, s.downReason = 0, ""
	}
	a.stateEvent(s, "control", old.String(), st.String(), reason, now, frame)
}

func (a *Analyzer) setOMP(s *session, st ompState, now int64, frame uint64, reason string) {
	if s.omp == st {
		return
	}
	old := s.omp
	s.omp = st
	if len(s.ompHist) >= maxStateHist {
		s.ompHist = slices.Delete(s.ompHist, 0, 1)
	}
	s.ompHist = append(s.ompHist, stateAt{now, st})
	if st == ompUp || st == ompInitGR {
		if s.ompUpAt == 0 || old == ompDown || old == ompDownGR {
			s.ompUpAt = now
			tabs := s.tabs
			a.after(now+int64(a.cfg.ConvergenceWindow), func(now int64) {
				// the session has converged: its tables now count
				for _, t := range tabs {
					if t != nil {
						a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
					}
				}
			})
		}
	}
	a.tell(&coreEvent{kind: evSessionChanged, s: s, now: now, up: true})
	a.stateEvent(s, "omp", old.String(), st.String(), reason, now, frame)
}

func (a *Analyzer) stateEvent(s *session, layer, old, new, reason string, now int64, frame uint64) {
	if a.rec != nil {
		a.rec.state(s, layer, old, new, reason, now, frame)
	}
	if !a.events() {
		return
	}
	if p := a.cfg.TimelineFilter.Peer; p != "" && s.sides[0].name() != p && s.sides[1].name() != p {
		return
	}
	a.emit(&Event{Time: nsTime(now), Type: EvPeerState, Frame: frame, Session: s.id, State: &StateChange{
		Layer: layer, Old: old, New: new, Reason: reason, Client: s.info.Client, Server: s.info.Server,
		ClientSystemIP: addrStr(s.sides[0].sys), ServerSystemIP: addrStr(s.sides[1].sys)}})
}

func (a *Analyzer) emit(e *Event) {
	a.stats.Events++
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
	if a.cfg.OnEventJSON != nil {
		a.jbuf = e.appendJSON(a.jbuf[:0], &a.jenc)
		a.cfg.OnEventJSON(e.Time, a.jbuf)
	}
}

// emitJSON is emit for an event only its JSON line is wanted of
// (Config.OnEventJSON alone): the event can live on the caller's stack.
func (a *Analyzer) emitJSON(e *Event) {
	a.stats.Events++
	a.jbuf = e.appendJSON(a.jbuf[:0], &a.jenc)
	a.cfg.OnEventJSON(e.Time, a.jbuf)
}

// events reports whether anyone listens to timeline events.
func (a *Analyzer) events() bool { return a.cfg.OnEvent != nil || a.cfg.OnEventJSON != nil }

func (a *Analyzer) teardown(s *session, d int, b *vdaemon.TearDown, now int64, frame uint64) {
	sd := s.sides[d]
	a.tell(&coreEvent{kind: evTeardown, s: s, sd: sd, d: d, td: b, now: now, frame: frame})
	a.loseControl(s, now, "TEAR_DOWN "+b.Code.String()+" from "+sd.name(), b.Code != 0)
}

func repeats(in *instant) string {
	if in.ev.count > 1 {
		return " Seen " + itoa(uint32(min(uint64(in.ev.count), 1<<31))) + " times."
	}
	return ""
}

// ---- OMP

func (a *Analyzer) omp(s *session, d int, m omp.Message, now int64, frame uint64) {
	a.stats.OMPMessages++
	sd := s.sides[d]
	sd.lastOMP = now
	if s.holdExpired == d+1 {
		a.revive(s, now)
	}
	switch m := m.(type) {
	case *omp.Hello:
		a.ompTraffic(s, now, frame, "OMP HELLO")
	case *omp.Handshake:
		a.handshake(s, d, m, now, frame)
	case *omp.Update:
		a.stats.Updates++
		a.ompTraffic(s, now, frame, "OMP UPDATE")
		a.update(s, d, m, now, frame)
	case *omp.Alert:
		a.alert(s, d, m, now, frame)
	case *omp.Inform:
		a.ompTraffic(s, now, frame, "OMP INFORM")
		a.inform(s, d, m, now, frame)
	case *omp.Policy:
		s.policies++
	default:
		s.unknownOMP++
	}
}

// ompTraffic brings OMP up when traffic shows it running (a session that
// started before the capture, or one whose HANDSHAKE was not seen).
func (a *Analyzer) ompTraffic(s *session, now int64, frame uint64, what string) {
	switch s.omp {
	case ompNone:
		a.setOMP(s, ompUp, now, frame, what+" seen (HANDSHAKE not seen)")
		if !s.holdKnown && a.cfg.DefaultHoldTime > 0 {
			s.holdNS = int64(a.cfg.DefaultHoldTime)
		}
		s.pathLimit = max(s.pathLimit, 0)
		a.armHold(s.sides[0])
		a.armHold(s.sides[1])
	}
}

func (a *Analyzer) handshake(s *session, d int, m *omp.Handshake, now int64, frame uint64) {
	sd := s.sides[d]
	hs := &hsInfo{hold: m.HoldTime, flags: m.Flags, grTimer: m.GRTimer, spl: m.SendPathLimit(),
		ecmp: omp.DefaultECMPLimit, domain: m.DomainID, overlay: m.OverlayID, overlayOK: true}
	if c, ok := m.Capability(omp.CapECMPLimit); ok {
		hs.ecmp = c.Value
	}
	if c, ok := m.Capability(omp.CapOrganization); ok {
		hs.org = c.Text
	}
	if c, ok := m.Capability(omp.CapSoftwareVersion); ok {
		hs.sw = c.Text
	}
	if sd.claimed {
		a.unclaim(sd, now)
	}
	sd.hs = hs
	if m.SystemIP.Is4() {
		sd.sys, sd.inferred = m.SystemIP, false
	}
	sd.dev = m.DeviceType
	sd.site, sd.siteOK = m.SiteID, true
	s.ompStart = true
	if sd.sys.IsValid() {
		sys := ip4(sd.sys)
		untracked := false
		if dv := a.device(sys, now); dv != nil {
			dv.dev, dv.site, dv.siteOK = m.DeviceType, m.SiteID, true
		} else {
			untracked = true
		}
		a.tell(&coreEvent{kind: evHandshake, s: s, sd: sd, now: now, frame: frame})
		if ad := sd.addr.Addr(); ad.IsValid() {
			if old, ok := a.addrMap[ad]; ok && old != sys {
				a.addrMap[ad] = 0 // shared address (NAT): no inference from it
			} else if !ok && len(a.addrMap) >= a.maxDev {
				untracked = true // (the address names no other session)
			} else if !ok {
				a.addrMap[ad] = sys
				// name the ends of other sessions from that address (in
				// the order the sessions were seen)
				for _, x := range a.unnamed[ad] {
					if !x.sys.IsValid() {
						x.sys, x.inferred = sd.sys, true
						if x.dev == sdwan.DeviceUnknown {
							x.dev = m.DeviceType
						}
						a.sysChanged(x)
					}
				}
				delete(a.unnamed, ad)
			}
		}
		if untracked {
			a.stats.DevicesUntracked++
		}
		a.claim(sd, now, frame)
	}
	a.tell(&coreEvent{kind: evHeader, s: s, sd: sd, now: now, frame: frame, up: true})
	for _, t := range s.tabs {
		if t != nil {
			t.from, t.to = s.sides[t.dir], s.sides[1-t.dir]
			a.rekeyTable(t)
		}
	}
	o := sd.other()
	if o.hs == nil {
		if s.omp == ompNone || s.omp == ompDown || s.omp == ompDownGR {
			a.setOMP(s, ompHandshake, now, frame, "HANDSHAKE from "+sd.name())
		}
		return
	}
	// Both HANDSHAKEs seen: negotiate.
	if s.holdExpired != 0 {
		x := s.sides[s.holdExpired-1]
		s.holdExpired = 0
		a.tell(&coreEvent{kind: evPeerBack, s: s, sd: x, now: now})
	}
	s.holdNS, s.holdKnown = int64(min(hs.hold, o.hs.hold))*int64(time.Second), true
	s.grOK = hs.flags&omp.HandshakeGR != 0 && o.hs.flags&omp.HandshakeGR != 0
	gt := min(hs.grTimer, o.hs.grTimer)
	if gt == 0 {
		gt = max(hs.grTimer, o.hs.grTimer)
	}
	s.grTimerNS = int64(gt) * int64(time.Second)
	oldLimit := s.sendPathLimit()
	s.pathLimit = int(min(hs.spl, o.hs.spl))
	if s.sendPathLimit() < oldLimit {
		// rows seen before the HANDSHAKE were counted against the default
		a.tell(&coreEvent{kind: evPathLimit, s: s, n: oldLimit, now: now})
	}
	adopted := a.adoptGR(s, now)
	st, reason := ompUp, "HANDSHAKE exchanged"
	if adopted {
		st, reason = ompInitGR, "HANDSHAKE exchanged; tables kept from graceful restart"
	}
	a.setOMP(s, st, now, frame, reason)
	a.armHold(s.sides[0])
	a.armHold(s.sides[1])
	// a peer whose hold had expired is back
	for _, x := range []*side{sd, o} {
		if x.sys.IsValid() {
			a.tell(&coreEvent{kind: evPeerBack, s: s, sd: x, now: now, any: true})
		}
	}
}

// maxDevices bounds the system-ips (devices) and the underlay addresses
// (addrMap) the analyzer records from HANDSHAKEs: a real fabric has at
// most a few thousand devices. Past it, HANDSHAKEs naming others are
// counted in Stats.DevicesUntracked.
const maxDevices = 1 << 16

// device returns the device of sys, creating it at now; nil when it is
// new and the analyzer records maxDevices already.
func (a *Analyzer) device(sys uint32, now int64) *device {
	d := a.devices[sys]
	if d == nil {
		if len(a.devices) >= a.maxDev {
			return nil
		}
		d = &device{sys: sys, idleAt: now}
		a.devices[sys] = d
	}
	return d
}

// pruneDevices lets go of the devices no session has claimed since before
// cutoff and no session in memory names, and of the underlay addresses
// no session in memory comes from but the marks of shared ones (Retention:
// a flood of made-up system-ips or addresses, or devices long gone, no
// longer hold the places of maxDevices). The sides of running OMP
// sessions whose HANDSHAKE came while the devices were at their cap
// claim their system-ips in the room made.
func (a *Analyzer) pruneDevices(cutoff int64) {
	named := map[uint32]bool{}
	addrs := map[netip.Addr]bool{}
	for _, s := range a.sessList {
		for _, sd := range s.sides {
			if sd.sys.IsValid() {
				named[ip4(sd.sys)] = true
			}
			addrs[sd.addr.Addr()] = true
		}
	}
	pruned := false
	for sys, d := range a.devices {
		if len(d.claims) == 0 && d.idleAt < cutoff && !named[sys] {
			delete(a.devices, sys)
			a.stats.DevicesPruned++
			pruned = true
		}
	}
	for ad, sys := range a.addrMap {
		if !addrs[ad] && sys != 0 { // (a shared address stays marked: no inference from it)
			delete(a.addrMap, ad)
		}
	}
	if !pruned {
		return
	}
	for _, s := range a.sessList {
		if !s.omp.running() {
			continue
		}
		for _, sd := range s.sides {
			if sd.hs == nil || !sd.sys.IsValid() || sd.claimed {
				continue
			}
			dv := a.device(ip4(sd.sys), a.clock)
			if dv == nil {
				return // full again
			}
			dv.dev, dv.site, dv.siteOK = sd.dev, sd.site, sd.siteOK
			a.claim(sd, a.clock, 0)
		}
	}
}

// adoptGR hands tables kept in GR for the same two devices to the new
// session.
func (a *Analyzer) adoptGR(s *session, now int64) bool {
	c, sv := s.sides[0], s.sides[1]
	if !c.sys.IsValid() || !sv.sys.IsValid() {
		return false
	}
	adopted := false
	for d := 0; d < 2; d++ {
		pk := [2]uint32{ip4(s.sides[d].sys), ip4(s.sides[1-d].sys)}
		old := a.grWait[pk]
		if old == nil || old.sess == s {
			continue
		}
		cur := s.tabs[d]
		if cur != nil && cur.rows.len() > 0 {
			continue
		}
		delete(a.grWait, pk)
		if cur != nil {
			cur.deadAt = now
		}
		oldLimit := math.MaxInt // (a table of no session: counted against an unknown limit)
		if old.sess != nil {
			oldLimit = old.sess.sendPathLimit()
		}
		if os := old.sess; os != nil && os.tabs[old.dir] == old {
			os.tabs[old.dir] = nil
			if os.omp == ompDownGR && (os.tabs[1-old.dir] == nil || !os.tabs[1-old.dir].inGR) {
				a.setOMP(os, ompDown, now, 0, "its tables were taken over by "+s.subject())
			}
		}
		old.sess, old.dir = s, d
		old.from, old.to = s.sides[d], s.sides[1-d]
		a.rekeyTable(old)
		if len(old.sessions) > maxTableSessions {
			// the first and the last maxTableSessions are kept
			old.sessions = append(old.sessions[:1], old.sessions[2:]...)
			old.sessOmitted++
			a.stats.TableSessionsOmitted++
		}
		old.sessions = append(old.sessions, s.id)
		if a.rec != nil {
			a.rec.adopt(old, s, now)
		}
		s.tabs[d] = old
		adopted = true
		a.tell(&coreEvent{kind: evTableChanged, t: old, now: now})
		if s.sendPathLimit() < oldLimit {
			a.tell(&coreEvent{kind: evPathLimit, s: s, t: old, n: oldLimit, now: now})
		}
	}
	return adopted
}

func (a *Analyzer) inform(s *session, d int, m *omp.Inform, now int64, frame uint64) {
	switch m.Kind {
	case omp.InformEndOfRIB:
		t := a.tableFor(s, d, now)
		if m.Family < 8 {
			t.eor |= 1 << m.Family
		}
		if m.Family.IsRoute() && !t.synced {
			t.synced = true
			a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
		}
		if t.inGR && m.Family < 8 {
			a.flushStale(t, now, frame, whyGRFlush, m.Family)
			t.grFams &^= 1 << m.Family
			if t.grFams == 0 {
				a.exitGR(t, now, frame)
			}
		}
	case omp.InformGRBegin:
		s.grBegin[d] = int64(m.RestartTimer) * int64(time.Second)
	}
}

func (a *Analyzer) alert(s *session, d int, m *omp.Alert, now int64, frame uint64) {
	sd := s.sides[d]
	a.tell(&coreEvent{kind: evAlert, s: s, sd: sd, d: d, alert: m, now: now, frame: frame})
	if m.Code == omp.AlertHoldTimer && s.holdExpired == 0 {
		// the sender says its hold timer for the other end expired
		o := sd.other()
		s.holdExpired = o.idx + 1
		a.tell(&coreEvent{kind: evHoldExpired, s: s, sd: o, now: now, since: now, frame: frame, any: true})
	}
	a.loseOMP(s, now, frame, "ALERT "+m.Code.String()+"/"+m.SubcodeName()+" from "+sd.name(), false)
}

func alertMeaning(m *omp.Alert) string {
	switch m.Code {
	case omp.AlertHeader:
		return "it received a malformed OMP message header"
	case omp.AlertHandshake:
		return "the HANDSHAKE was unacceptable (system-ip, domain, overlay or timers)"
	case omp.AlertUpdate:
		return "it received a malformed or invalid UPDATE"
	case omp.AlertHoldTimer:
		return "its hold timer expired without hearing from the peer"
	case omp.AlertFSM:
		return "a message arrived in a state that does not allow it"
	case omp.AlertCease:
		switch m.Subcode {
		case omp.CeaseAdminDown:
			return "the session was administratively shut down"
		case omp.CeasePeerDecfg:
			return "the peer was de-configured"
		case omp.CeaseAdminReset:
			return "the session was administratively reset"
		case omp.CeaseRejected:
			return "the connection was rejected"
		}
		return "the sender stopped the session"
	}
	return "an error code this tool has no meaning for"
}

// ---- session loss

// loseControl takes the control connection down (and OMP with it).
func (a *Analyzer) loseControl(s *session, now int64, reason string, gr bool) {
	a.loseOMP(s, now, 0, reason, gr)
	if s.ctl != ctlDown {
		a.setCtl(s, ctlDown, now, 0, reason)
		s.downAt, s.downReason = now, reason
	}
	for _, sd := range s.sides {
		if sd.claimed {
			a.unclaim(sd, now)
		}
	}
}

// loseOMP ends the OMP session: tables go stale (GR) or are flushed.
func (a *Analyzer) loseOMP(s *session, now int64, frame uint64, reason string, gr bool) {
	if !s.omp.running() {
		return
	}
	if gr && s.grOK {
		a.setOMP(s, ompDownGR, now, frame, reason)
		for d, t := range s.tabs {
			if t == nil {
				continue
			}
			timer := s.grTimerNS
			if s.grBegin[d] > 0 {
				timer = s.grBegin[d]
			}
			a.enterGR(t, now, now+timer)
			if t.from.sys.IsValid() && t.to.sys.IsValid() {
				a.grWait[[2]uint32{ip4(t.from.sys), ip4(t.to.sys)}] = t
			}
		}
	} else {
		a.setOMP(s, ompDown, now, frame, reason)
		for _, t := range s.tabs {
			if t != nil {
				a.flushAll(t, now, frame, whySessionDown)
				t.deadAt = now
				if t.inGR {
					a.exitGR(t, now, frame)
				}
			}
		}
	}
	s.downAt, s.downReason = now, reason
	for _, sd := range s.sides {
		if sd.claimed {
			a.unclaim(sd, now)
		}
	}
}

// revive ends an inferred hold expiry when the silent side speaks OMP
// again on the same session (the capture may have lost packets).
func (a *Analyzer) revive(s *session, now int64) {
	x := s.sides[s.holdExpired-1]
	s.holdExpired = 0
	a.tell(&coreEvent{kind: evPeerBack, s: s, sd: x, now: now})
	if !s.omp.running() {
		a.setOMP(s, ompUp, now, 0, "OMP traffic from "+x.name()+" after its hold expiry")
	}
	a.armHold(x)
}

// armHold schedules the silence check of sd at its earliest deadline (a
// timer already armed for an earlier or equal time is kept; a later one is
// superseded through the generation number).
func (a *Analyzer) armHold(sd *side) {
	vd, om := a.silenceDeadlines(sd)
	dl := vd
	if dl == 0 || (om != 0 && om < dl) {
		dl = om
	}
	if dl == 0 || (sd.holdArmed && sd.holdAt <= dl) {
		return
	}
	sd.holdArmed, sd.holdAt = true, dl
	sd.holdGen++
	gen := sd.holdGen
	a.after(dl, func(now int64) {
		if sd.holdGen == gen {
			a.holdFire(sd, now)
		}
	})
}

// silenceDeadlines returns when the peer of sd gives up on it: vd, the
// vdaemon hello tolerance after the last record from sd (the control
// connection goes down, with graceful restart), and om, the OMP hold time
// after the last OMP message (or unreadable record) from sd (the OMP
// session goes down: hold-expired). 0: that timer does not apply.
func (a *Analyzer) silenceDeadlines(sd *side) (vd, om int64) {
	s := sd.sess
	if s.ctl == ctlDown {
		return 0, 0
	}
	if tol := max(sd.tolMS, sd.other().tolMS); tol > 0 {
		vd = sd.lastHeard + int64(tol)*int64(time.Millisecond)
	}
	if s.omp.running() && s.holdNS > 0 && s.holdExpired == 0 {
		om = sd.lastOMP + s.holdNS
	}
	return vd, om
}

func (a *Analyzer) holdFire(sd *side, now int64) {
	sd.holdArmed = false
	vd, om := a.silenceDeadlines(sd)
	s := sd.sess
	o := sd.other()
	switch {
	case vd != 0 && vd <= now:
		a.loseControl(s, now, "hello timeout: nothing from "+sd.name()+" for "+
			dur(int64(max(sd.tolMS, o.tolMS))*int64(time.Millisecond)), true)
		s.silent = sd.idx + 1
		return
	case om != 0 && om <= now && s.holdExpired == 0:
		s.holdExpired = sd.idx + 1
		a.tell(&coreEvent{kind: evHoldExpired, s: s, sd: sd, now: now, since: om})
		a.loseOMP(s, now, 0, "hold timer expired (no OMP from "+sd.name()+")", false)
	}
	a.armHold(sd)
}

// ---- duplicate system-ip

func (a *Analyzer) claim(sd *side, now int64, frame uint64) {
	d := a.device(ip4(sd.sys), now)
	if d == nil {
		return // a device past the cap (Stats.DevicesUntracked): not claimed, not judged
	}
	// An older session of the same device to the same peer that has gone
	// quiet is superseded (the device restarted faster than the peer's
	// timers): it goes down with graceful restart.
	for _, c := range slices.Clone(d.claims) {
		quiet := max(int64(3*time.Second), 5*int64(c.helloMS)*int64(time.Millisecond)/2)
		if c.sess != sd.sess && c.other().sys == sd.other().sys && c.other().sys.IsValid() &&
			now-c.lastHeard > quiet {
			a.loseControl(c.sess, now, "superseded by a new session of "+sd.name()+" ("+sd.sess.subject()+")", true)
		}
	}
	d.claims = append(d.claims, sd)
	d.idleAt = 0
	sd.claimed = true
	a.tell(&coreEvent{kind: evClaim, s: sd.sess, sd: sd, now: now, frame: frame})
}

func (a *Analyzer) unclaim(sd *side, now int64) {
	sd.claimed = false
	if !sd.sys.IsValid() {
		return
	}
	d := a.devices[ip4(sd.sys)]
	if d == nil {
		return
	}
	for i, c := range d.claims {
		if c == sd {
			d.claims = slices.Delete(d.claims, i, i+1)
			break
		}
	}
	if len(d.claims) == 0 {
		d.idleAt = now
	}
	a.tell(&coreEvent{kind: evUnclaim, s: sd.sess, sd: sd, now: now})
}

// identity tells the detectors that side sd said something new about
// itself (a chassis id, a color).
func (a *Analyzer) identity(sd *side, now int64, frame uint64) {
	if sd.claimed {
		a.tell(&coreEvent{kind: evIdentity, s: sd.sess, sd: sd, now: now, frame: frame})
	}
}
