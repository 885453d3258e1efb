package synth

import (
	"container/heap"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// Epoch is the capture time of virtual time 0 before the seed's offset:
// every capture starts on 2026-01-01 UTC, at a time of day the seed picks.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// event is a scheduled step of the simulation.
type event struct {
	t   vt
	seq uint64
	fn  func()
}

type evHeap []*event

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *evHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// vstate is what a vSmart knows.
type vstate struct {
	dev      *device
	learned  map[int]*learnSt // by originating edge's index
	dropVPN  uint32           // vsmart-divergence: stop reflecting this VPN to edges
	dropFrom vt
	// withhold, when not nil, is a reflection fault: the vSmart does not
	// send originator e's path k to peer (partial-reflection)
	withhold func(peer, e *device, k *ribKey) bool
	kickAt   vt // a reconcile is scheduled at this time (-1: none)
	pending  []*device
	dirty    map[int]bool // originators whose paths changed since the last reconcile
	// keyed (churn), when not nil, holds for some dirty originators the
	// only keys (the originator's own path-ids) that changed: the next
	// reconcile looks at those keys, not at the originator's whole table.
	keyed    map[int]map[ribKey]bool
	sessions []*session // OMP sessions, in plan order
}

// learnSt is what a vSmart learned from one edge.
type learnSt struct {
	sess     *session                   // the OMP session it comes on now
	stale    map[ribKey]*attrSet        // graceful restart: kept from the lost session
	staleGen int                        // counts the stale sets, so a timer knows its own
	grUntil  vt                         // when the GR timer runs out
	staleBug bool                       // keep stale paths past the GR timer (a fault)
	bulk     bool                       // counts-only mode: the edge's table was reflected
	lostAt   vt                         // when the session was declared lost
	eorAt    vt                         // when the current session's END_OF_RIB arrived
	grDone   []func(t vt, flushed bool) // scenario hooks at GR end
}

// sim is one simulation run.
type sim struct {
	c        *config
	rng      *rand.Rand
	f        *fabric
	attrs    attrTable
	sessions []*session
	ev       evHeap
	evSeq    uint64
	now      vt
	out      *output
	vst      map[int]*vstate
	epoch    time.Time
	end      vt
	hubSpoke bool
	regions  map[int][]*device
	groups   map[int][]group // counts-only mode: each edge's (fixed) advertisement
	anoms    []func() []manifest.Anomaly
	params   map[string]any
	suiteN   [2]int
	bootAt   map[int]vt // boot time overrides by edge index (-1: not at start)
	lastBoot vt
	role     map[string]*device // edges a scenario picked
	noPeer   map[[2]int]bool    // vSmart pairs (by index, lower first) that never peer
	firstHS  map[int]vt         // capture time of each device's first OMP HANDSHAKE
	pskDone  bool
	// routeEvents counts the route NLRI (reachable or withdrawn) in the
	// UPDATEs sendPaths sent, on every session.
	routeEvents int
	atEnd       []func() // run after the simulation, before the manifest
	churn       *churnState
	// progress
	hsDone      atomic.Int64
	hsTotal     int
	phase       atomic.Value
	progNow     atomic.Int64
	progFrames  atomic.Int64
	progRecords atomic.Int64
}

func (sm *sim) at(t vt, fn func()) {
	if t < sm.now {
		t = sm.now
	}
	heap.Push(&sm.ev, &event{t: t, seq: sm.evSeq, fn: fn})
	sm.evSeq++
}

// jitter is a deterministic random duration in [0, d).
func (sm *sim) jitter(d vt) vt {
	if d <= 0 {
		return 0
	}
	return vt(sm.rng.Int64N(int64(d)))
}

// ---- planning

func (sm *sim) vsmart(i int) *device { return sm.f.vsmarts[i] }

// newSession plans a control connection from cl to sv starting at start.
func (sm *sim) newSession(kind string, cl, sv *device, start vt) *session {
	c := sm.c
	s := &session{id: len(sm.sessions), kind: kind, client: cl, server: sv, start: start, keyInLog: true, hsDrop: -1, firstApp: -1,
		deadAt: [2]vt{-1, -1}}
	s.transport = "dtls"
	if kind != kindVBond && cl.tlsCtl {
		s.transport = "tls"
	}
	// suite: in turn through the configured list
	switch {
	case s.transport == "tls":
		s.suite, _ = findSuite(tlsSuites, c.tlsSuites[sm.suiteN[1]%len(c.tlsSuites)])
		sm.suiteN[1]++
		s.ems = true // crypto/tls always negotiates extended master secret
	case kind == kindVBond && !c.NoPSK && !sm.pskDone:
		sm.pskDone = true
		s.suite, _ = findSuite(dtlsSuites, c.pskSuites[sm.rng.IntN(len(c.pskSuites))])
		s.psk = make([]byte, 16)
		for i := range s.psk {
			s.psk[i] = byte(sm.rng.Uint32())
		}
		s.pskIdentity = cl.name + "-vbond"
		s.ems = sm.rng.IntN(2) == 0
	default:
		s.suite, _ = findSuite(dtlsSuites, c.dtlsSuites[sm.suiteN[0]%len(c.dtlsSuites)])
		sm.suiteN[0]++
		s.ems = sm.suiteN[0]%3 != 0
	}
	// addresses as the capture point sees them
	if cl.typ == sdwan.DeviceVEdge {
		t := cl.primary()
		s.cHop = cl.hop
		port := uint16(12346 + 20*cl.hop)
		if t.nat {
			port = uint16(1024 + (int(t.pub.Port())-1024+1009*cl.hop)%64000)
		}
		s.cAddr = netip.AddrPortFrom(t.pub.Addr(), port)
		s.rtt = cl.rtt
	} else {
		s.cAddr = netip.AddrPortFrom(cl.addr4, 12346)
		s.rtt = 300 * vtUS
	}
	saddr := sv.addr4
	if s.cAddr.Addr().Is6() {
		saddr = sv.addr6
	}
	port := uint16(12346)
	if sv.cores > 1 {
		id := cl.sysIP
		if !id.IsValid() {
			id = cl.addr4 // the attacker has no system-ip
		}
		port += uint16(100 * (int(id.As4()[3]) % sv.cores))
	}
	if s.transport == "tls" {
		port = 23456
	}
	s.sAddr = netip.AddrPortFrom(saddr, port)
	if c.VLAN != 0 && (cl == sm.vsmart(1) || sv == sm.vsmart(1)) {
		s.vlan = uint16(c.VLAN)
	}
	hs := 6*s.rtt + 80*vtMS
	if s.transport == "dtls" && c.Impair > 0 && sm.rng.Float64() < 5*c.Impair {
		s.hsDrop = sm.rng.IntN(2)
		hs += 3500 * vtMS
	}
	s.appStart = start + hs
	if s.transport == "tls" {
		mss := c.MTU - 40
		if s.cAddr.Addr().Is6() {
			mss = c.MTU - 60
		}
		s.tcp = &tcpState{isn: [2]uint32{sm.rng.Uint32(), sm.rng.Uint32()}, mss: mss}
	}
	if kind == kindOMP {
		s.omp = &ompSess{rib: [2]*rib{newRIB(c.track), newRIB(c.track)}}
	}
	sm.sessions = append(sm.sessions, s)
	sm.at(s.start, func() { sm.open(s) })
	sm.at(s.appStart, func() { sm.startApp(s) })
	for _, d := range []*device{cl, sv} {
		if v := sm.vst[d.idx]; v != nil && kind == kindOMP {
			v.sessions = append(v.sessions, s)
		}
	}
	return s
}

// planEdgeBoot plans the control connections an edge opens when it boots
// at tb: the vBond (transient), the vManage and both vSmarts.
func (sm *sim) planEdgeBoot(e *device, tb vt, withVBond, withVManage bool) []*session {
	all := make([]int, len(sm.f.vsmarts))
	for i := range all {
		all[i] = i
	}
	return sm.planEdgeSessions(e, tb, withVBond, withVManage, all)
}

// planEdgeSessions plans some of those connections: the vBond one at tb,
// the others about 1.2 s later (once the vBond told the edge where the
// controllers are).
func (sm *sim) planEdgeSessions(e *device, tb vt, withVBond, withVManage bool, vsmarts []int) []*session {
	var out []*session
	if withVBond {
		out = append(out, sm.newSession(kindVBond, e, sm.f.vbond, tb))
	}
	t := tb + 1200*vtMS + sm.jitter(100*vtMS)
	if withVManage {
		out = append(out, sm.newSession(kindVManage, e, sm.f.vmanage, t))
	}
	for _, i := range vsmarts {
		out = append(out, sm.newSession(kindOMP, e, sm.vsmart(i), t+vt(i+1)*50*vtMS+sm.jitter(20*vtMS)))
	}
	return out
}

// bootSpacing is the time between two edges' boots: they all boot within
// about 20 s, at most 0.8 s and at least 2 ms apart.
func bootSpacing(edges int) vt {
	return min(max(20*vtSec/vt(edges), 2*vtMS), 800*vtMS)
}

// steadyBound is the latest the fabric of so many edges converges.
func steadyBound(edges int) vt {
	sp := bootSpacing(edges)
	return 500*vtMS + vt(edges-1)*sp + sp/4 + 4*vtSec
}

func (sm *sim) planBase() {
	// the vSmart mesh: each vSmart peers with those before it
	for i := 1; i < len(sm.f.vsmarts); i++ {
		for j := 0; j < i; j++ {
			if !sm.noPeer[[2]int{j, i}] {
				sm.newSession(kindOMP, sm.vsmart(i), sm.vsmart(j), vt(i+j)*50*vtMS)
			}
		}
	}
	spacing := bootSpacing(len(sm.f.edges))
	for i, e := range sm.f.edges {
		tb := 500*vtMS + vt(i)*spacing + sm.jitter(spacing/4)
		if t, ok := sm.bootAt[e.idx]; ok {
			if t < 0 {
				continue // the scenario plans this edge itself
			}
			tb = t
		}
		if tb > sm.lastBoot {
			sm.lastBoot = tb
		}
		sm.planEdgeBoot(e, tb, true, true)
	}
}

// steady is when the fabric has converged: a few seconds after the last
// edge booted.
func (sm *sim) steady() vt { return sm.lastBoot + 4*vtSec }

// ---- handshakes

// handshakeAll runs every planned session's handshake, several at once.
func (sm *sim) handshakeAll() error {
	pool, err := getCerts()
	if err != nil {
		return fmt.Errorf("making certificates: %w", err)
	}
	sm.hsTotal = len(sm.sessions)
	workers := 4 * runtime.GOMAXPROCS(0)
	jobs := make(chan *session)
	errs := make(chan error, len(sm.sessions))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				s := s
				emit := func(side int, t vt, b, _ []byte) {
					k := uint8(kDgram)
					if s.transport == "tls" {
						k = kStream
					}
					s.hs = append(s.hs, &item{t: t, s: s, side: int8(side), kind: k, b: b})
				}
				if err := s.handshake(pool, emit); err != nil {
					errs <- err
				}
				sm.hsDone.Add(1)
			}
		}()
	}
	for _, s := range sm.sessions {
		if s.clear {
			sm.hsDone.Add(1) // nothing to negotiate
			continue
		}
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		sm.closeAll()
		return err
	}
	for _, s := range sm.sessions {
		s := s
		if s.clear {
			continue
		}
		s.wire.mu.Lock()
		s.wire.emit = func(side int, t vt, b, plain []byte) { sm.appEmit(s, side, t, b, plain) }
		s.wire.mu.Unlock()
		// handshake writes in stamp order (ties: client first, then in
		// the order each side wrote them)
		sort.SliceStable(s.hs, func(i, j int) bool {
			if s.hs[i].t != s.hs[j].t {
				return s.hs[i].t < s.hs[j].t
			}
			return s.hs[i].side < s.hs[j].side
		})
	}
	return nil
}

func (sm *sim) closeAll() {
	for _, s := range sm.sessions {
		s.closeConns()
	}
}

// ---- output hooks

// appEmit receives each application-phase write of a session's wire.
func (sm *sim) appEmit(s *session, side int, t vt, b, plain []byte) {
	k := uint8(kDgram)
	if s.transport == "tls" {
		k = kStream
	}
	it := &item{t: t, s: s, side: int8(side), kind: k, b: b}
	if plain != nil {
		it.rec = &recInfo{plain: plain, decryptable: s.keyInLog, lost: s.imp.lost}
		if s.firstApp < 0 {
			s.firstApp = t
		}
		s.lastApp = t
	}
	imp := s.imp
	s.imp = impairment{}
	if imp.reorder && k == kDgram && s.held[side] == nil {
		s.held[side] = it
		return
	}
	sm.out.push(it)
	if h := s.held[side]; h != nil {
		// a held datagram goes out just after this one: reordered
		s.held[side] = nil
		h.t = t + vtUS
		sm.out.push(h)
		sm.out.reordered++
	}
	if imp.dup && k == kDgram && it.rec != nil {
		d := *it
		r := *it.rec
		r.dup = true
		d.rec = &r
		d.t = t + 30*vtUS
		sm.out.push(&d)
	}
}

// clearSend puts one vdaemon message of a clear session (no DTLS) on the
// wire at t as a UDP payload of its own, timed as the wire times a
// datagram (1 Gbit/s, one after the other); it returns the capture time.
// Clear sessions have no impairments.
func (sm *sim) clearSend(s *session, side int, t vt, plain []byte) vt {
	if s.clrBusy[side] > t {
		t = s.clrBusy[side]
	}
	s.clrBusy[side] = t + vt(len(plain)+60)*8
	if s.firstApp < 0 {
		s.firstApp = t
	}
	s.lastApp = t
	sm.out.push(&item{t: t, s: s, side: int8(side), kind: kDgram, b: plain, rec: &recInfo{plain: plain, clear: true}})
	return t
}

// releaseHeld sends a datagram held for reordering that nothing overtook.
func (sm *sim) releaseHeld(s *session) {
	for side, h := range s.held {
		if h != nil {
			s.held[side] = nil
			sm.out.push(h)
		}
	}
}

// send writes one vdaemon message from side at t; it returns the capture
// time of the record, or -1 when the side cannot send.
func (sm *sim) send(s *session, side int, t vt, typ vdaemon.MsgType, body vdaemon.Body) vt {
	if !s.open || s.closed || s.dead[side] || (!s.clear && s.conns[side] == nil) {
		return -1
	}
	if t < sm.now {
		t = sm.now
	}
	plain := mustMarshal(&vdaemon.Message{Header: s.header(side, typ), Body: body})
	if s.clear {
		return sm.clearSend(s, side, t, plain)
	}
	if s.transport == "dtls" && sm.c.Impair > 0 {
		p := sm.c.Impair
		switch {
		case typ == vdaemon.TypeHello && side == cli && sm.rng.Float64() < p:
			s.imp.lost = true
		case sm.rng.Float64() < p/2:
			s.imp.dup = true
		}
	}
	if err := s.wire.appWrite(side, t, plain, s.conns[side]); err != nil {
		panic(fmt.Sprintf("synth: write on %s: %v", s.label(), err)) // the wire never fails a write
	}
	s.wire.mu.Lock()
	at := s.wire.lastStamp[side]
	s.wire.mu.Unlock()
	return at
}

func (sm *sim) sendData(s *session, side int, t vt, ms ...omp.Message) vt {
	return sm.sendOMP(s, side, t, ompPayload(ms...))
}

// sendOMP sends a vdaemon DATA message carrying OMP messages (payload).
func (sm *sim) sendOMP(s *session, side int, t vt, payload []byte) vt {
	at := sm.send(s, side, t, vdaemon.TypeData, &vdaemon.Data{Payload: payload})
	if at >= 0 && s.omp != nil {
		sm.ompReceived(s, side, at)
	}
	return at
}

// ---- session life

// open puts the session's handshake packets on the wire.
func (sm *sim) open(s *session) {
	if s.tcp != nil {
		p := 40 * vtUS
		sm.out.push(&item{t: s.start, s: s, side: cli, kind: kTCPCtl, ctl: tcpSYN})
		sm.out.push(&item{t: s.start + p, s: s, side: srv, kind: kTCPCtl, ctl: tcpSYNACK})
		sm.out.push(&item{t: s.start + s.rtt + 2*p, s: s, side: cli, kind: kTCPCtl, ctl: tcpACK})
	}
	for _, it := range s.hs {
		sm.out.push(it)
	}
	s.hs = nil
	if s.tcp != nil {
		// acknowledge the last handshake flight
		sm.out.push(&item{t: s.appStart - vtMS, s: s, side: srv, kind: kTCPCtl, ctl: tcpPureACK})
	}
}

// startApp runs the vdaemon challenge exchange, then the kind's life.
func (sm *sim) startApp(s *session) {
	s.open = true
	if s.client.typ == sdwan.DeviceVEdge {
		s.client.cur[s.server.idx] = s
	}
	t := s.appStart
	ch := &vdaemon.Challenge{}
	for i := range ch.Random {
		ch.Random[i] = byte(sm.rng.Uint32())
	}
	if s.kind == kindVBond {
		ch.TLVs = []vdaemon.TLV{{Type: vdaemon.TLVNumVSmarts, Value: 2}, {Type: vdaemon.TLVNumVManages, Value: 1}}
	} else {
		key := make([]byte, vdaemon.ServerKeyLen)
		for i := range key {
			key[i] = byte(sm.rng.Uint32())
		}
		core := uint16((s.sAddr.Port() - 12346) / 100)
		if s.transport == "tls" {
			core = 0
		}
		ch.TLVs = []vdaemon.TLV{{Type: vdaemon.TLVInstanceID, Value: core}, {Type: vdaemon.TLVMaxInstances, Value: uint16(s.server.cores)},
			{Type: vdaemon.TLVServerKey, Raw: key}}
	}
	t1 := sm.send(s, srv, t, vdaemon.TypeChallenge, ch)
	if s.attack != nil {
		sm.runAttack(s, t1)
		return
	}
	t2 := t1 + s.lag(cli) + 3*vtMS + sm.jitter(2*vtMS)
	sm.at(t2, func() {
		ack := &vdaemon.ChallengeAck{Verified: 1, HardwareFlag: 1,
			TLVs: []vdaemon.TLV{{Type: vdaemon.TLVUUID, Text: s.client.uuid}, {Type: vdaemon.TLVFlags18, Value: 1}}}
		if s.client.typ != sdwan.DeviceVEdge {
			ack.HardwareFlag = 0
		}
		t2 = sm.send(s, cli, t2, vdaemon.TypeChallengeAck, ack)
		t3 := t2 + s.lag(srv) + vtMS + sm.jitter(vtMS)
		sm.at(t3, func() {
			t3 = sm.send(s, srv, t3, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
			sm.afterChallenge(s, t3)
		})
	})
}

// afterChallenge starts the HELLOs and the kind's exchange.
func (sm *sim) afterChallenge(s *session, t vt) {
	for side := 0; side < 2; side++ {
		first := t + 10*vtMS + sm.jitter(300*vtMS)
		if side == cli {
			first += s.lag(cli)
		}
		s.lastHello[1-side] = t
		sm.helloLoop(s, side, first)
	}
	switch s.kind {
	case kindVBond:
		td := t + 2500*vtMS + sm.jitter(200*vtMS)
		sm.at(td, func() { sm.teardown(s, srv, td, sdwan.ConnDISCVBD) }) // disconnect vBond after register reply
	case kindOMP:
		tc := t + s.lag(cli) + 20*vtMS + sm.jitter(5*vtMS)
		ts := t + 20*vtMS + sm.jitter(5*vtMS)
		sm.at(ts, func() {
			if a := sm.sendData(s, srv, ts, s.handshakeMsg(srv)); a >= 0 {
				ts = a
				s.omp.hs[srv] = true
				sm.noteHS(s.server, a)
			}
		})
		sm.at(tc, func() {
			if a := sm.sendData(s, cli, tc, s.handshakeMsg(cli)); a >= 0 {
				tc = a
				s.omp.hs[cli] = true
				sm.noteHS(s.client, a)
			}
		})
		up := max(tc, ts) + vtMS
		sm.at(up, func() { sm.ompStart(s, up, tc, ts) })
	}
}

// noteHS notes d's first OMP HANDSHAKE, sent at t.
func (sm *sim) noteHS(d *device, t vt) {
	if sm.firstHS == nil {
		sm.firstHS = map[int]vt{}
	}
	if old, ok := sm.firstHS[d.idx]; !ok || t < old {
		sm.firstHS[d.idx] = t
	}
}

// helloLoop sends side's vdaemon HELLO at t and every second after, and
// notices when the other side has gone quiet for the hello tolerance.
func (sm *sim) helloLoop(s *session, side int, t vt) {
	sm.at(t, func() {
		if s.closed || !s.open {
			return
		}
		if s.dead[side] {
			return
		}
		if t-s.lastHello[1-side] > vtDur(vdaemon.DefaultToleranceMS*time.Millisecond) {
			sm.connectionLost(s, side, t)
			return
		}
		if a := sm.send(s, side, t, vdaemon.TypeHello, s.helloBody(side)); a >= 0 {
			s.lastHello[side] = a
		}
		sm.helloLoop(s, side, t+vtSec+sm.jitter(4*vtMS)-2*vtMS)
	})
}

// connectionLost: side stopped hearing the other side; the connection is
// dropped without a word (the peer is gone).
func (sm *sim) connectionLost(s *session, side int, t vt) {
	if s.closed {
		return
	}
	sm.releaseHeld(s)
	s.closed = true
	s.closeConns()
	if s.omp != nil && s.omp.up && !s.omp.down {
		s.omp.down = true
		if v := sm.vst[s.dev(side).idx]; v != nil && s.dev(1-side).typ == sdwan.DeviceVEdge {
			sm.peerLost(v, s.dev(1-side), s, t, true)
		}
	}
}

// teardown: side sends a vdaemon TEAR_DOWN and closes the connection
// (DTLS/TLS close_notify both ways, then FINs for TCP).
func (sm *sim) teardown(s *session, side int, t vt, code sdwan.ConnError) vt {
	if s.closed || !s.open || s.dead[side] {
		return -1
	}
	a := sm.send(s, side, t, vdaemon.TypeTearDown, &vdaemon.TearDown{Code: code})
	if a < 0 {
		return -1
	}
	sm.releaseHeld(s)
	t1 := a + 200*vtUS
	t2 := t1 + s.lag(1-side) + 100*vtUS
	s.closed = true
	if s.omp != nil && s.omp.up && !s.omp.down {
		s.omp.down = true
	}
	if s.wire != nil {
		s.wire.closeAt(side, t1, s.conns[side])
		if !s.dead[1-side] {
			s.wire.closeAt(1-side, t2, s.conns[1-side])
		}
		s.conns = [2]io.WriteCloser{}
		s.wire.setMode(modeMute)
	}
	if s.tcp != nil {
		sm.out.push(&item{t: t1 + 50*vtUS, s: s, side: int8(side), kind: kTCPCtl, ctl: tcpFIN})
	}
	return a
}

// kill: the device stops sending on all its sessions at t (a crash, a
// reboot); the peers notice when its HELLOs stop.
func (sm *sim) kill(d *device, t vt) {
	for _, s := range sm.sessions {
		if (s.client == d || s.server == d) && !s.closed && s.start <= t {
			side := s.sideOf(d)
			s.dead[side] = true
			s.deadAt[side] = t
			if s.held[side] != nil {
				sm.out.push(s.held[side])
				s.held[side] = nil
			}
		}
	}
}

// ---- OMP

// ompStart: both HANDSHAKEs are out; each side sends its table and
// END_OF_RIB, then keeps HELLOs going.
func (sm *sim) ompStart(s *session, up, tc, ts vt) {
	o := s.omp
	if !o.hs[cli] || !o.hs[srv] || s.closed {
		return
	}
	o.up, o.upAt = true, up
	hc, hs := s.client.hold, s.server.hold
	h := min(hc, hs)
	o.hold = vt(h) * vtSec
	for _, v := range []*device{s.client, s.server} {
		if vs := sm.vst[v.idx]; vs != nil {
			if e := s.dev(1 - s.sideOf(v)); e.typ == sdwan.DeviceVEdge {
				l := vs.learn(e)
				l.sess, l.eorAt = s, -1
			}
		}
	}
	for _, fn := range s.onUp {
		fn(up)
	}
	// each side starts when it has the other's HANDSHAKE
	startS := up + 4*vtMS + sm.jitter(2*vtMS)
	startC := max(tc, ts+s.lag(cli)) + 4*vtMS + sm.jitter(2*vtMS)
	for side, st := range []vt{startC, startS} {
		side, st := side, st
		sm.at(st, func() {
			if !s.ompUp() {
				return
			}
			end := sm.reconcileDir(s, side, st)
			end = sm.sendEOR(s, side, end+200*vtUS)
			if end >= 0 {
				s.omp.eor[side] = true
				sm.afterAdvert(s, side, end)
			}
			if o.hold > 0 {
				sm.ompHelloLoop(s, side, st+o.hold/3)
			}
		})
	}
}

// sendEOR sends END_OF_RIB for every family in one DATA message.
func (sm *sim) sendEOR(s *session, side int, t vt) vt {
	var ms []omp.Message
	for f := omp.FamilyTLOCv4; f <= omp.FamilyRouteV6; f++ {
		ms = append(ms, &omp.Inform{Kind: omp.InformEndOfRIB, Family: f})
	}
	return sm.sendData(s, side, t, ms...)
}

func (sm *sim) ompHelloLoop(s *session, side int, t vt) {
	sm.at(t, func() {
		if !s.ompUp() || s.omp.hung[side] || s.dead[side] {
			return
		}
		sm.sendData(s, side, t, &omp.Hello{})
		sm.ompHelloLoop(s, side, t+s.omp.hold/3+sm.jitter(20*vtMS))
	})
}

// ompReceived notes an OMP message from side captured at t, and keeps the
// receiver's hold timer.
func (sm *sim) ompReceived(s *session, side int, t vt) {
	o := s.omp
	o.lastRx[side] = t
	if o.hold == 0 || o.holdChk[side] || !o.up {
		return
	}
	o.holdChk[side] = true
	var check func()
	check = func() {
		o.holdChk[side] = false
		if !s.ompUp() || s.dead[1-side] || o.hung[1-side] {
			return
		}
		exp := o.lastRx[side] + o.hold + s.lag(1-side)
		if sm.now < exp {
			o.holdChk[side] = true
			sm.at(exp, check)
			return
		}
		sm.holdExpired(s, 1-side, sm.now)
	}
	sm.at(t+o.hold+s.lag(1-side), check)
}

// holdExpired: side's hold timer for the other side ran out: it sends an
// ALERT (hold timer expired) and drops the OMP session (no graceful
// restart for a hold expiry).
func (sm *sim) holdExpired(s *session, side int, t vt) {
	a := sm.sendData(s, side, t, &omp.Alert{Code: omp.AlertHoldTimer})
	sm.ompDown(s, a)
	if s.onAlert != nil && a >= 0 {
		s.onAlert(side, a)
	}
}

// alert: side sends an OMP ALERT (cease) and the OMP session ends; the
// vSmart drops what it learned on it without graceful restart.
func (sm *sim) alert(s *session, side int, t vt, code omp.AlertCode, sub uint8) vt {
	if !s.ompUp() {
		return -1
	}
	a := sm.sendData(s, side, t, &omp.Alert{Code: code, Subcode: sub})
	sm.ompDown(s, a)
	if s.onAlert != nil && a >= 0 {
		s.onAlert(side, a)
	}
	return a
}

// ompDown ends OMP on s at t without graceful restart.
func (sm *sim) ompDown(s *session, t vt) {
	s.omp.down = true
	for side := 0; side < 2; side++ {
		if v := sm.vst[s.dev(side).idx]; v != nil && s.dev(1-side).typ == sdwan.DeviceVEdge {
			sm.peerLost(v, s.dev(1-side), s, t, false)
		}
	}
}

func (v *vstate) learn(e *device) *learnSt {
	l := v.learned[e.idx]
	if l == nil {
		l = &learnSt{eorAt: -1, lostAt: -1}
		v.learned[e.idx] = l
	}
	return l
}

// peerLost: vSmart v lost its OMP session s with edge e at t. With
// graceful restart it keeps e's paths (stale) for e's GR timer.
func (sm *sim) peerLost(v *vstate, e *device, s *session, t vt, gr bool) {
	l := v.learn(e)
	if l.sess != s {
		return
	}
	l.sess, l.lostAt = nil, t
	if gr && s.omp.rib[s.sideOf(e)].paths != nil {
		l.stale = map[ribKey]*attrSet{}
		for k, a := range s.omp.rib[s.sideOf(e)].paths {
			l.stale[k] = a
		}
		l.grUntil = t + vt(e.grTimer)*vtSec
		l.staleGen++
		gen := l.staleGen
		sm.at(l.grUntil, func() {
			if l.stale == nil || l.staleGen != gen {
				return
			}
			flushed := !l.staleBug
			if flushed {
				l.stale = nil
				v.dirty[e.idx] = true
				sm.kick(v, sm.now)
			}
			for _, fn := range l.grDone {
				fn(sm.now, flushed)
			}
		})
	} else {
		l.stale = nil
	}
	v.dirty[e.idx] = true
	sm.kick(v, t+2*vtMS+sm.jitter(3*vtMS))
}

// afterAdvert: side of s finished (part of) an advertisement at t. An
// edge's paths reach the vSmart, which reflects them a little later.
func (sm *sim) afterAdvert(s *session, side int, t vt) {
	v := sm.vst[s.dev(1-side).idx]
	e := s.dev(side)
	if v == nil || e.typ != sdwan.DeviceVEdge {
		return
	}
	if !sm.c.track {
		v.pending = append(v.pending, e)
	}
	v.dirty[e.idx] = true
	if s.omp.eor[side] {
		l := v.learn(e)
		if l.sess == s && l.eorAt < 0 {
			l.eorAt = t
			if l.stale != nil && !l.staleBug {
				// END_OF_RIB from a restarted peer: what it did not
				// advertise again is gone
				l.stale = nil
			}
		}
	}
	sm.kick(v, t+2*vtMS+sm.jitter(4*vtMS))
}

// kick schedules vSmart v to bring every peer up to date at t.
func (sm *sim) kick(v *vstate, t vt) {
	if v.kickAt >= 0 && v.kickAt <= t {
		return
	}
	v.kickAt = t
	sm.at(t, func() {
		if v.kickAt != t {
			return
		}
		v.kickAt = -1
		if !sm.c.track {
			sm.bulkReflect(v, t)
			return
		}
		only := v.dirty
		if len(only) == 0 {
			return
		}
		v.dirty = map[int]bool{}
		keyed := v.keyed
		v.keyed = nil
		for _, s := range v.sessions {
			if side := s.sideOf(v.dev); s.ompUp() && s.omp.eor[side] {
				if keyed != nil {
					sm.reconcileKeyed(s, side, t, only, keyed)
				} else {
					sm.reconcileOnly(s, side, t, only)
				}
			}
		}
	})
}

// policy reports whether vSmart v sends a path of originator e to peer.
func (sm *sim) policy(v *vstate, peer, e *device, k *ribKey, t vt) bool {
	return sm.policyOrig(peer, e) && sm.policyPath(v, peer, k, t) && (v.withhold == nil || !v.withhold(peer, e, k))
}

// policyOrig is the part of the policy that depends on the originator:
// the scale scenario's hub-and-spoke regions.
func (sm *sim) policyOrig(peer, e *device) bool {
	if peer.typ == sdwan.DeviceVSmart || !sm.hubSpoke {
		return true
	}
	return e.region == peer.region && (e.hub || peer.hub)
}

// policyPath is the part that depends on the path: a vSmart that stopped
// reflecting a VPN to the edges (vsmart-divergence).
func (sm *sim) policyPath(v *vstate, peer *device, k *ribKey, t vt) bool {
	if peer.typ == sdwan.DeviceVSmart {
		return true
	}
	return !(v.dropVPN != 0 && t >= v.dropFrom && (k.fam.IsRoute() || k.fam == omp.FamilyService) && k.n.VPN == v.dropVPN)
}

// originators are the edges whose paths may go to peer.
func (sm *sim) originators(peer *device) []*device {
	if sm.hubSpoke && peer.typ == sdwan.DeviceVEdge {
		return sm.regions[peer.region]
	}
	return sm.f.edges
}

// desired is what speaker should have advertised to peer now (of a
// vSmart: the paths of the originators in only; all when only is nil).
func (sm *sim) desired(speaker, peer *device, t vt, only map[int]bool) map[ribKey]*attrSet {
	m := map[ribKey]*attrSet{}
	if speaker.typ == sdwan.DeviceVEdge {
		addGroups(m, edgeGroups(&sm.attrs, speaker))
		return m
	}
	v := sm.vst[speaker.idx]
	for _, e := range sm.f.edges {
		if e == peer || (only != nil && !only[e.idx]) {
			continue
		}
		l := v.learned[e.idx]
		if l == nil {
			continue
		}
		add := func(src map[ribKey]*attrSet) {
			for k, a := range src {
				if !sm.policy(v, peer, e, &k, t) {
					continue
				}
				k.n.PathID = uint32(e.idx+1)<<4 | k.n.PathID&0xf
				m[k] = a
			}
		}
		if l.stale != nil {
			add(l.stale)
		}
		if l.sess != nil && l.sess.ompUp() {
			add(l.sess.omp.rib[l.sess.sideOf(e)].paths)
		}
	}
	return m
}

// reconcileDir sends what side of s must add or withdraw so that the
// peer has what it should; it returns the time after the last record.
func (sm *sim) reconcileDir(s *session, side int, t vt) vt {
	if !s.ompUp() || s.omp.hung[side] || s.dead[side] {
		return t
	}
	sp, peer := s.dev(side), s.dev(1-side)
	if !sm.c.track {
		return sm.bulkFull(s, side, t)
	}
	want := sm.desired(sp, peer, t, nil)
	wd, an := diff(s.omp.rib[side].paths, want)
	return sm.sendPaths(s, side, t, wd, an)
}

// reconcileOnly is reconcileDir for a vSmart, limited to the paths of the
// originators in only (those that changed).
func (sm *sim) reconcileOnly(s *session, side int, t vt, only map[int]bool) vt {
	if !s.ompUp() || s.omp.hung[side] || s.dead[side] {
		return t
	}
	want := sm.desired(s.dev(side), s.dev(1-side), t, only)
	wd, an := diff(s.omp.rib[side].of(only), want)
	return sm.sendPaths(s, side, t, wd, an)
}

// sendPaths sends withdrawals and announcements as UPDATEs.
func (sm *sim) sendPaths(s *session, side int, t vt, wd []ribKey, an []group) vt {
	r := s.omp.rib[side]
	var ups []*omp.Update
	var sets []*attrSet
	for i := 0; i < len(wd); {
		j := i
		var ns []omp.NLRI
		for j < len(wd) && wd[j].fam == wd[i].fam {
			ns = append(ns, wd[j].n)
			j++
		}
		for _, u := range packWithdraw(wd[i].fam, ns, sm.c.MaxUpdate) {
			ups, sets = append(ups, u), append(sets, nil)
		}
		i = j
	}
	for _, g := range an {
		for _, u := range packAnnounce(g, sm.c.MaxUpdate) {
			ups, sets = append(ups, u), append(sets, g.set)
		}
	}
	end := sm.sendUpdates(s, side, t, ups, func(i int) {
		u := ups[i]
		for _, n := range u.Withdrawn {
			r.del(ribKey{u.Family, n})
		}
		for _, n := range u.Reachable {
			r.add(ribKey{u.Family, n}, sets[i])
		}
		if u.Family.IsRoute() {
			sm.routeEvents += len(u.Withdrawn) + len(u.Reachable)
		}
	})
	if len(ups) > 0 {
		sm.afterAdvert(s, side, end)
	}
	return end
}

// sendUpdates sends UPDATEs, as many to one vdaemon DATA message as fit in
// MaxUpdate bytes; sent(i) is called for each UPDATE that went out. It
// returns the time after the last record, and notes the first record's
// time in s.lastUpd (-1 when nothing was sent).
func (sm *sim) sendUpdates(s *session, side int, t vt, ups []*omp.Update, sent func(i int)) vt {
	s.lastUpd = -1
	end := t
	var buf []byte
	var pend []int
	ok := true
	flush := func(last bool) {
		if len(buf) == 0 || !ok {
			return
		}
		if !last && sm.c.Impair > 0 && s.transport == "dtls" && sm.rng.Float64() < sm.c.Impair/2 {
			s.imp.reorder = true
		}
		a := sm.sendOMP(s, side, end, buf)
		if a < 0 {
			ok = false
			return
		}
		if s.lastUpd < 0 {
			s.lastUpd = a
		}
		for _, i := range pend {
			sent(i)
		}
		end = a + 50*vtUS
		buf, pend = buf[:0], pend[:0]
	}
	for i, u := range ups {
		var err error
		n := len(buf)
		if buf, err = omp.Append(buf, u); err != nil {
			panic("synth: OMP UPDATE does not encode: " + err.Error()) // a simulator bug
		}
		if n > 0 && len(buf) > sm.c.MaxUpdate {
			b := append([]byte(nil), buf[n:]...)
			buf = buf[:n]
			flush(false)
			buf = append(buf, b...)
		}
		pend = append(pend, i)
	}
	flush(true)
	sm.releaseHeld(s)
	return end
}

// ---- counts-only mode (scale)

// edgeGroupsCached is an edge's advertisement, which never changes in
// counts-only mode.
func (sm *sim) edgeGroupsCached(e *device) []group {
	g, ok := sm.groups[e.idx]
	if !ok {
		g = edgeGroups(&sm.attrs, e)
		sm.groups[e.idx] = g
	}
	return g
}

// bulkFull sends side's whole table to the other side of s.
func (sm *sim) bulkFull(s *session, side int, t vt) vt {
	sp, peer := s.dev(side), s.dev(1-side)
	if sp.typ == sdwan.DeviceVEdge {
		return sm.sendGroups(s, side, t, sm.edgeGroupsCached(sp), -1)
	}
	v := sm.vst[sp.idx]
	end := t
	for _, e := range sm.originators(peer) {
		if l := v.learned[e.idx]; e != peer && l != nil && l.bulk && sm.policyOrig(peer, e) {
			end = sm.sendGroupsPolicy(s, side, v, e, end)
		}
	}
	return end
}

func (sm *sim) sendGroupsPolicy(s *session, side int, v *vstate, e *device, t vt) vt {
	peer := s.dev(1 - side)
	gs := sm.edgeGroupsCached(e)
	var sel []group
	for _, g := range gs {
		k := ribKey{g.fam, g.nlri[0]}
		if sm.policyPath(v, peer, &k, t) {
			sel = append(sel, g)
		}
	}
	return sm.sendGroups(s, side, t, sel, e.idx)
}

// sendGroups announces groups (path-ids remapped for originator orig, or
// as they are when orig < 0).
func (sm *sim) sendGroups(s *session, side int, t vt, gs []group, orig int) vt {
	r := s.omp.rib[side]
	var ups []*omp.Update
	for _, g := range gs {
		if orig >= 0 {
			n := make([]omp.NLRI, len(g.nlri))
			copy(n, g.nlri)
			for i := range n {
				n[i].PathID = uint32(orig+1)<<4 | n[i].PathID&0xf
			}
			g = group{g.fam, g.set, n}
		}
		ups = append(ups, packAnnounce(g, sm.c.MaxUpdate)...)
	}
	end := sm.sendUpdates(s, side, t, ups, func(i int) { r.counts[ups[i].Family] += len(ups[i].Reachable) })
	if len(gs) > 0 {
		sm.afterAdvert(s, side, end)
	}
	return end
}

// bulkReflect: vSmart v sends the tables it has just received to its
// peers.
func (sm *sim) bulkReflect(v *vstate, t vt) {
	pend := v.pending
	v.pending = nil
	seen := map[int]bool{}
	for _, e := range pend {
		l := v.learn(e)
		if seen[e.idx] || l.bulk || l.sess == nil || !l.sess.omp.eor[l.sess.sideOf(e)] {
			continue
		}
		seen[e.idx] = true
		l.bulk = true
		for _, s := range v.sessions {
			side := s.sideOf(v.dev)
			if s.dev(1-side) == e || !sm.policyOrig(s.dev(1-side), e) || !s.ompUp() || !s.omp.eor[side] {
				continue
			}
			sm.sendGroupsPolicy(s, side, v, e, t)
		}
	}
}

// ---- background traffic and progress

func (sm *sim) progress(w io.Writer, stop <-chan struct{}) {
	start := time.Now()
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			ph, _ := sm.phase.Load().(string)
			fmt.Fprintf(w, "ompscope synth %s: %5.1fs %s: handshakes %d/%d, virtual time %v of %v, frames %d, records %d\n",
				sm.c.Scenario, time.Since(start).Seconds(), ph, sm.hsDone.Load(), sm.hsTotal,
				time.Duration(sm.progNow.Load()).Truncate(time.Millisecond), sm.c.Duration, sm.progFrames.Load(), sm.progRecords.Load())
		}
	}
}
