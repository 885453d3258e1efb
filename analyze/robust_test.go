package analyze

import (
	"encoding/json"
	"io"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// chaos drives an analyzer with arbitrary, often nonsensical, input: any
// message in any order, sessions that start anywhere, times that jump
// back, decode errors, gaps, odd attribute sets. src supplies the choices.
type chaos struct {
	a        *Analyzer
	next     func(n int) int
	now      time.Time
	sessions []*SessionInfo
	lastTime time.Time
	tb       testing.TB
	// sizes records the group sizes check saw, when not nil
	sizes map[int]bool
}

func (c *chaos) seenGroup(n int) {
	if c.sizes != nil {
		c.sizes[n] = true
	}
}

func (c *chaos) pick(n int) int {
	if n <= 1 {
		return 0
	}
	return c.next(n)
}

func (c *chaos) addr(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + c.pick(n))})
}

func (c *chaos) attrs() []omp.Attribute {
	var out []omp.Attribute
	for i := c.pick(6); i > 0; i-- {
		switch c.pick(12) {
		case 0:
			out = append(out, &omp.Originator{Addr: c.addr(5)})
		case 1:
			out = append(out, &omp.TLOCAttr{TLOCKey: omp.TLOCKey{SystemIP: c.addr(5), Color: sdwan.Color(c.pick(4)), Encap: 2}})
		case 2:
			out = append(out, &omp.Uint32Attr{Type: omp.AttrPreference, Value: uint32(c.pick(3))})
		case 3:
			out = append(out, &omp.Uint32Attr{Type: omp.AttrSiteID, Value: uint32(100 + c.pick(3))})
		case 4:
			out = append(out, &omp.AddrAttr{Type: omp.AttrPublicIPv4, Addr: netip.AddrPortFrom(c.addr(9), 12346)})
		case 5:
			out = append(out, &omp.UnknownAttr{Type: 99, Value: []byte{byte(c.pick(3))}})
		case 6:
			out = append(out, &omp.Uint32ListAttr{Type: omp.AttrASPath, Values: []uint32{uint32(c.pick(9))}})
		case 7:
			out = append(out, &omp.OriginAttr{Protocol: sdwan.Origin(c.pick(25))})
		case 8:
			out = append(out, nil, (*omp.Originator)(nil)) // nil entries must not crash anything
		case 9:
			out = append(out, &omp.Uint32Attr{Type: omp.AttrWeight, Value: 0}) // not encodable
		case 10:
			out = append(out, &omp.AddrAttr{Type: omp.AttrPrivateIPv6, Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 1)})
		default:
			out = append(out, &omp.UltimateTLOC{TLOCKey: omp.TLOCKey{SystemIP: c.addr(3)}, Action: omp.UltimateAction(c.pick(6))})
		}
	}
	return out
}

func (c *chaos) nlri(f omp.Family) omp.NLRI {
	n := omp.NLRI{PathID: uint32(c.pick(3)), VPN: uint32(c.pick(3))}
	switch famKind(f) {
	case kRoute:
		if f == omp.FamilyRouteV6 {
			n.Prefix = netip.PrefixFrom(netip.MustParseAddr("2001:db8::"), 32+c.pick(3)*16)
		} else {
			n.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(c.pick(4)), 0, 0}), 16+c.pick(2)*8)
		}
		if c.pick(20) == 0 {
			n.Prefix = netip.Prefix{} // invalid
		}
	case kTLOC:
		n.SystemIP, n.Color, n.Encap = c.addr(5), sdwan.Color(c.pick(4)), 2
	default:
		n.Service, n.Originator = sdwan.Service(c.pick(3)), c.addr(5)
	}
	return n
}

func (c *chaos) ompMsg() omp.Message {
	switch c.pick(9) {
	case 0:
		return &omp.Hello{}
	case 1:
		h := &omp.Handshake{SystemIP: c.addr(5), SiteID: uint32(100 + c.pick(3)), HoldTime: uint16([]int{0, 3, 60}[c.pick(3)]),
			DeviceType: sdwan.DeviceType(c.pick(8)), Flags: uint8(c.pick(4)), GRTimer: uint32(c.pick(3) * 30)}
		if c.pick(2) == 0 {
			h.Capabilities = []omp.Capability{{Type: omp.CapSendPathLimit, Value: uint8(c.pick(5))}, {Type: omp.CapOrganization, Text: "org"}}
		}
		return h
	case 2, 3, 4:
		f := omp.Family(c.pick(7))
		u := &omp.Update{Family: f, Attrs: c.attrs()}
		if f.Parsed() {
			for i := c.pick(4); i > 0; i-- {
				u.Reachable = append(u.Reachable, c.nlri(f))
			}
			for i := c.pick(3); i > 0; i-- {
				u.Withdrawn = append(u.Withdrawn, c.nlri(f))
			}
		} else {
			u.RawReachable = []byte{1, 2, 3}
		}
		return u
	case 5:
		return &omp.Alert{Code: omp.AlertCode(c.pick(8)), Subcode: uint8(c.pick(7))}
	case 6:
		return &omp.Inform{Kind: omp.InformKind(c.pick(5)), Family: omp.Family(c.pick(8)), RestartTimer: uint32(c.pick(3) * 10)}
	case 7:
		return &omp.Policy{Kind: 3, Name: "p"}
	}
	return &omp.Unknown{Version: 2, T: 9}
}

func (c *chaos) vmsg() (*vdaemon.Message, []omp.Message) {
	h := vdaemon.Header{Type: vdaemon.MsgType(c.pick(16)), Device: sdwan.DeviceType(c.pick(6)), SiteID: uint32(c.pick(3)) * 100}
	if c.pick(3) == 0 {
		h.Device = sdwan.DeviceVHub
	}
	m := &vdaemon.Message{Header: h}
	var msgs []omp.Message
	switch c.pick(8) {
	case 0:
		m.Body = &vdaemon.Challenge{}
	case 1:
		m.Body = &vdaemon.ChallengeAck{TLVs: []vdaemon.TLV{{Type: vdaemon.TLVUUID, Text: string(rune('a' + c.pick(3)))}}}
	case 2:
		m.Body = &vdaemon.ChallengeAckAck{VerifyStatus: uint8(c.pick(2))}
		if c.pick(4) == 0 {
			m.Body = &vdaemon.VManageToPeer{Buffer: []byte("\nssh-rsa AAAA c\n\x00")}
		}
	case 3:
		m.Body = &vdaemon.Hello{Color: sdwan.Color(c.pick(4)), IntervalMS: uint32(c.pick(2) * 1000), ToleranceMS: uint32(c.pick(3) * 6000)}
	case 4:
		m.Body = &vdaemon.TearDown{Code: sdwan.ConnError(c.pick(45))}
	case 5:
		m.Body = &vdaemon.Raw{}
	case 6:
		m.Body = nil
		if c.pick(2) == 0 {
			m.Body = (*vdaemon.Hello)(nil)
		}
	default:
		m.Body = &vdaemon.Data{}
		for i := 1 + c.pick(3); i > 0; i-- {
			msgs = append(msgs, c.ompMsg())
		}
		if c.pick(10) == 0 {
			msgs = append(msgs, nil, (*omp.Update)(nil))
		}
	}
	return m, msgs
}

func (c *chaos) step() {
	// time mostly moves forward, sometimes jumps, sometimes goes back
	switch c.pick(20) {
	case 0:
		c.now = c.now.Add(-time.Duration(c.pick(10)) * time.Second)
	case 1:
		c.now = c.now.Add(time.Duration(c.pick(200)) * time.Second)
	case 2:
		c.now = time.Time{}
	default:
		c.now = c.now.Add(time.Duration(c.pick(3000)) * time.Millisecond)
	}
	if c.pick(8) == 0 || len(c.sessions) == 0 {
		s := &SessionInfo{ID: string(rune('A' + c.pick(12))), Client: netip.AddrPortFrom(c.addr(5), uint16(40000+c.pick(3))),
			Server: netip.AddrPortFrom(c.addr(3), 12346), Transport: "dtls"}
		if c.pick(3) == 0 {
			s.ID = "" // keyed by addresses
		}
		// certificates: none, a fabric one, self-signed, another CA
		certs := []*Certificate{nil, {Subject: "CN=d", Issuer: "CN=CA"}, {Subject: "O=,C=", Issuer: "O=,C=", SelfSigned: true, SubjectEmpty: true},
			{Subject: "CN=x", Issuer: "CN=Other"}, {Empty: true}}
		s.ClientCert, s.ServerCert = certs[c.pick(len(certs))], certs[c.pick(len(certs))]
		c.sessions = append(c.sessions, s)
	}
	var s *SessionInfo
	if c.pick(30) != 0 {
		s = c.sessions[c.pick(len(c.sessions))]
	}
	switch c.pick(16) {
	case 0:
		c.a.Gap(&Gap{Time: c.now, Session: s, Dir: Dir(c.pick(3)), Reason: "no-key", Records: c.pick(3)})
	case 1:
		c.a.SessionEnd(s, c.now, "")
	case 2:
		c.a.Advance(c.now)
	case 3:
		c.a.Message(&Input{Time: c.now, Session: s, Err: errString("bad")})
	case 4:
		c.a.Message(nil)
	case 5:
		c.a.Gap(nil)
	case 6:
		c.a.SessionSeen(s, c.now, uint64(c.pick(1000)))
	case 7:
		m, _ := c.vmsg()
		c.a.Message(&Input{Time: c.now, Session: s, FromClient: c.pick(2) == 0, Header: &m.Header, Err: errString("body")})
	default:
		m, msgs := c.vmsg()
		c.a.Message(&Input{Time: c.now, Frame: uint64(c.pick(1000)), Session: s, FromClient: c.pick(2) == 0, VDaemon: m, OMP: msgs})
	}
}

// check verifies the analyzer's internal consistency and exercises every
// query.
func (c *chaos) check() {
	tb := c.tb
	a := c.a
	held := 0
	for _, t := range a.tables {
		held += t.rows.len()
	}
	if held != a.paths || a.paths > a.cfg.MaxPaths {
		tb.Fatalf("the tables hold %d rows, the analyzer counts %d (MaxPaths %d)", held, a.paths, a.cfg.MaxPaths)
	}
	for ad, l := range a.unnamed {
		for _, sd := range l {
			if a.sessions[sd.sess.id] != sd.sess || sd.addr.Addr() != ad {
				tb.Fatalf("unnamed index holds an end of a dropped session or of another address")
			}
		}
	}
	for _, t := range a.tables {
		var live [3]int
		n := 0
		for i := int32(0); i < t.rows.hi; i++ {
			if r := t.rows.slot(i); r.used() && (r.tab() != t || r.ti != i) {
				tb.Fatalf("row slot broken")
			}
		}
		for free := t.rows.free; free != 0; free = t.rows.slot(free - 1).ti {
			if t.rows.slot(free - 1).used() {
				tb.Fatalf("a row in use is on the free list")
			}
			if n++; n > int(t.rows.hi) {
				tb.Fatalf("free list loops")
			}
		}
		if int(t.rows.hi)-n != t.rows.len() {
			tb.Fatalf("%d slots, %d free, %d rows in use", t.rows.hi, n, t.rows.len())
		}
		for r := range t.rows.all {
			if r.live() {
				live[r.grp.key.kind]++
			}
			if at := r.attrs(); r.orig4(at) != ip4(r.originator(at)) {
				tb.Fatalf("orig4 %x, originator %v", r.orig4(at), r.originator(at))
			}
			if g := r.grp; g.find(t, r.fam(), r.pathID) != r {
				tb.Fatalf("group index broken")
			}
			if isOwn(r, r.attrs()) != slices.Contains(r.grp.own, r) {
				tb.Fatalf("own list broken")
			}
			// a row's versions run forward in time from its first
			// advertisement and its trim (a history from the pool holds
			// nothing of its last row)
			for i := 1; i < r.n(); i++ {
				if r.ver(i-1).t > r.ver(i).t {
					tb.Fatalf("row %v: version %d at %d after version %d at %d", r.grp.key, i-1, r.ver(i-1).t, i, r.ver(i).t)
				}
			}
			if r.n() > 0 && (r.ver(0).t < r.first() || r.trimmedTo() != 0 && r.ver(0).t < r.trimmedTo() && r.n() > 1) {
				tb.Fatalf("row %v: oldest version at %d, first advertised %d, trimmed to %d", r.grp.key, r.ver(0).t, r.first(), r.trimmedTo())
			}
		}
		if live != t.live {
			tb.Fatalf("live counts %v, rows say %v", t.live, live)
		}
	}
	ng := 0
	for g := range a.groups.all {
		if ng++; a.groups.get(&g.key) != g {
			tb.Fatalf("group index: %v not found by its key", g.key)
		}
		for i, r := range g.rows {
			if g.find(r.tab(), r.fam(), r.pathID) != r {
				tb.Fatalf("group find")
			}
			if i > 0 && rowCmp(g.rows[i-1].tab().rkey, g.rows[i-1].tab().id, g.rows[i-1].fam(), g.rows[i-1].pathID, r) >= 0 {
				tb.Fatalf("group order broken")
			}
			if r.tab().rkey != ip4(r.tab().to.sys) && r.tab().sess.tabs[r.tab().dir] == r.tab() {
				tb.Fatalf("table %d keyed %v, its receiver is %v", r.tab().id, addrOf4(r.tab().rkey), r.tab().to.sys)
			}
			// the ranges by receiver and by table (searched past
			// smallGroup, walked under it) are the rows a filter keeps
			if i == 0 || r.rk != g.rows[i-1].rk {
				want := slices.DeleteFunc(slices.Clone(g.rows), func(x *row) bool { return x.rk != r.rk })
				if got := g.recvRange(r.rk); !slices.Equal(got, want) {
					tb.Fatalf("group of %d rows: receiver %v's range holds %d rows, the receiver %d", len(g.rows), addrOf4(r.rk), len(got), len(want))
				}
			}
			if i == 0 || r.tab() != g.rows[i-1].tab() {
				t := r.tab()
				want := slices.DeleteFunc(slices.Clone(g.rows), func(x *row) bool { return x.rk != t.rkey || x.tab() != t })
				if got := g.tableRange(t); !slices.Equal(got, want) {
					tb.Fatalf("group of %d rows: table %d's range holds %d rows, the table %d", len(g.rows), t.id, len(got), len(want))
				}
			}
		}
		c.seenGroup(len(g.rows))
	}
	if ng != a.groups.len() {
		tb.Fatalf("group index counts %d groups, holds %d", a.groups.len(), ng)
	}
	// not-distributed finds a path's sources in the group's own list: the
	// same sources, in the same order, as a walk of all its rows
	for _, d := range a.dets {
		if dd, ok := d.(*distDet); ok {
			for g := range a.groups.all {
				own, all := dd.sources(g, g.own), dd.sources(g, g.rows)
				if !slices.EqualFunc(own, all, func(x, y distAdv) bool { return x.orig == y.orig && x.since == y.since && x.r == y.r }) {
					tb.Fatalf("not-distributed: %v's sources from its own list %v, from all its rows %v", g.key, own, all)
				}
			}
		}
	}
	// vsmart-divergence's fingerprints are those of the tables' rows, and
	// hold no VPN without a path (a VPN leaves with its last path)
	for _, d := range a.dets {
		if v, ok := d.(*divergenceDet); ok {
			for t, fp := range v.fps {
				want := map[uint32]fprint{}
				for r := range t.rows.all {
					if at := r.attrs(); at != nil && r.grp.key.kind == kRoute {
						var tl tlocID
						if at.HasTLOC() {
							tl = at.tlocID
						}
						x := want[r.grp.key.vpn]
						x.sum += pathHash(&r.grp.key, r.orig4(at), tl)
						x.n++
						want[r.grp.key.vpn] = x
					}
				}
				if len(fp.m) != len(want) {
					tb.Fatalf("vsmart-divergence: table %d has fingerprints of %d VPNs, its rows %d", t.id, len(fp.m), len(want))
				}
				for vpn, x := range fp.m {
					if *x != want[vpn] {
						tb.Fatalf("vsmart-divergence: table %d vpn %d fingerprint %+v, its rows %+v", t.id, vpn, *x, want[vpn])
					}
				}
			}
		}
	}
	// the unresolved-route index: one entry per group.urefs entry, each
	// uref at its place in its TLOC's list
	for _, d := range a.dets {
		ud, ok := d.(*unresolvedDet)
		if !ok {
			continue
		}
		n := 0
		for g := range a.groups.all {
			for _, u := range g.urefs {
				if l := ud.byTLOC[u.tloc]; int(u.pos) >= len(l) || l[u.pos] != g {
					tb.Fatalf("unresolved index: %v's entry for TLOC %v is not at %d", g.key, u.tloc, u.pos)
				}
				n++
			}
		}
		m := 0
		for _, l := range ud.byTLOC {
			if len(l) == 0 {
				tb.Fatalf("unresolved index: an empty TLOC list kept")
			}
			m += len(l)
		}
		if m != n {
			tb.Fatalf("unresolved index holds %d entries, the groups %d", m, n)
		}
	}
	for id, st := range a.tlocs {
		n := 0
		for _, t := range a.tables {
			for r := range t.rows.all {
				if r.grp.key.kind == kTLOC && r.live() && (tlocID{ip4(r.grp.key.addr4()), r.grp.key.color, r.grp.key.encap}) == id {
					n++
				}
			}
		}
		if n != st.live {
			tb.Fatalf("tloc %v live %d, rows say %d", id, st.live, n)
		}
		if st.live == 0 || st.gone {
			tb.Fatalf("tloc %v kept with no live row (gone %v)", id, st.gone)
		}
	}
	// an Attrs' remembered TLOC state is the index's, or marked gone
	for _, t := range a.tables {
		for r := range t.rows.all {
			if at := r.attrs(); at != nil && at.tst != nil && !at.tst.gone && a.tlocs[at.tlocID] != at.tst {
				tb.Fatalf("attributes of %v remember a TLOC state the index does not hold", r.grp.key)
			}
		}
	}
	for _, d := range a.dets {
		switch d := d.(type) {
		case *certDet:
			// the queue of issuer checks holds sessions in memory, each
			// at the place its state says
			for i, p := range d.pending {
				if d.st[p.s] != p.st || p.st.at != i || a.sessions[p.s.id] != p.s {
					tb.Fatalf("rogue-certificate: queue entry %d is not its session's, or of a session dropped", i)
				}
			}
		case *meshDet:
			if len(d.vsmarts) > maxMeshVSmarts {
				tb.Fatalf("vsmart-mesh-incomplete tracks %d vSmarts, more than %d", len(d.vsmarts), maxMeshVSmarts)
			}
		}
	}
	s := a.Snapshot(time.Time{}, Filter{})
	checkRowStatus(tb, a, s)
	if _, err := json.Marshal(s); err != nil {
		tb.Fatal(err)
	}
	WriteTables(io.Discard, s)
	d := a.Diff(a.Start(), a.Now(), Filter{Peer: "10.0.0.1"})
	if _, err := json.Marshal(d); err != nil {
		tb.Fatal(err)
	}
	WriteDiff(io.Discard, d)
	if _, err := json.Marshal(a.Peers()); err != nil {
		tb.Fatal(err)
	}
	for _, an := range a.Anomalies() {
		if _, err := an.MarshalJSON(); err != nil {
			tb.Fatal(err)
		}
	}
	a.Fabric()
	a.WriteSummary(io.Discard)
}

func runChaos(tb testing.TB, next func(int) int, steps int) {
	var last time.Time
	c := &chaos{next: next, now: t0, tb: tb}
	c.a = New(Config{OnEvent: func(e *Event) {
		if e.Time.Before(last) {
			tb.Fatalf("event %s at %v before %v", e.Type, e.Time, last)
		}
		last = e.Time
		e.AppendJSON(nil)
	}, HistoryPerRow: 3, RouteFlapCount: 1, TLOCFlapCount: 1, Retention: []time.Duration{0, -1, time.Minute, 3 * time.Minute}[next(4)], MaxAnomalies: 20,
		MaxPaths: []int{0, 0, 8, 40}[next(4)]}) // some runs at the path cap
	for i := 0; i < steps; i++ {
		c.step()
		if i%97 == 0 {
			c.check()
		}
	}
	c.a.Finish(c.now)
	c.check()
}

func TestChaos(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 30
	}
	for seed := 0; seed < n; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		runChaos(t, r.IntN, 600)
	}
}

// FuzzAnalyzer drives the analyzer with choices taken from the fuzz input.
func FuzzAnalyzer(f *testing.F) {
	f.Add([]byte("ompscope"))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200, 100, 50, 25})
	f.Fuzz(func(t *testing.T, data []byte) {
		i := 0
		next := func(n int) int {
			if len(data) == 0 {
				return 0
			}
			v := int(data[i%len(data)]) + i/len(data)
			i++
			return v % n
		}
		runChaos(t, next, 3*len(data)+10)
	})
}

// TestLargeGroup grows one prefix's group far past smallGroup (paths from
// six edges to a vSmart, and the vSmart's reflections of them to each
// edge: seven receivers, the vSmart's rows in six tables), withdraws the
// paths in a shuffled order, lets them be pruned (the group shrinks
// through every size back under smallGroup, and goes), and advertises
// them again, checking every few steps that the group's rows are in
// order, that every row is found and that the ranges by receiver and by
// table are right. Past smallGroup, findPos, recvRange and tableRange
// search the group instead of walking it: TestChaos's groups never grow
// that large.
func TestLargeGroup(t *testing.T) {
	// rows leave a group found by their pointer up to scanRemove rows,
	// by a search past it: both ways
	for _, scan := range []int{scanRemove, smallGroup} {
		t.Run("scanRemove="+strconv.Itoa(scan), func(t *testing.T) {
			defer func(n int) { scanRemove = n }(scanRemove)
			scanRemove = scan
			testLargeGroup(t)
		})
	}
}

func testLargeGroup(t *testing.T) {
	f := newFab(t, Config{})
	c := &chaos{a: f.a, tb: t, sizes: map[int]bool{}}
	vs := vsmart(1)
	var xs []*sess
	var es []dev
	for i := 1; i <= 6; i++ {
		e := edge(i, uint32(100+i))
		es = append(es, e)
		xs = append(xs, f.connect(e, vs))
	}
	const paths = 5
	type adv struct {
		x      *sess
		client bool
		orig   int
		path   uint32
	}
	var all []adv
	for i, x := range xs {
		for p := uint32(1); p <= paths; p++ {
			all = append(all, adv{x, true, i, p})
			for j := range xs {
				if j != i {
					all = append(all, adv{xs[j], false, i, uint32(i)*paths + p})
				}
			}
		}
	}
	largest := func() *group {
		var big *group
		for g := range f.a.groups.all {
			if big == nil || len(g.rows) > len(big.rows) {
				big = g
			}
		}
		return big
	}
	sec := 1.0
	for round := 0; round < 2; round++ {
		for k, a := range all {
			f.at(sec)
			sec += 0.01
			a.x.adv(a.client, omp.FamilyRouteV4, pathAttrs(es[a.orig].sys, sdwan.ColorBizInternet, 100, sdwan.OriginConnected, 0),
				route(1, "10.1.0.0/16", a.path))
			if k%7 == 0 {
				c.check()
			}
		}
		c.check()
		g := largest()
		if len(g.rows) != len(all) {
			t.Fatalf("round %d: the prefix's group holds %d rows of %d", round, len(g.rows), len(all))
		}
		r := rand.New(rand.NewPCG(uint64(round), 3))
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		// withdrawn one a second, pruned in the same order a window
		// after: the group shrinks a row at a time through every size
		// to nothing
		clear(c.sizes)
		for _, a := range all {
			f.at(sec)
			sec++
			a.x.wd(a.client, omp.FamilyRouteV4, route(1, "10.1.0.0/16", a.path))
			c.check()
		}
		w := f.a.cfg.Window().Seconds()
		for s := sec; s < sec+w+5; s += 0.5 {
			f.at(s)
			c.check()
		}
		sec += w + 5
		if g := largest(); g != nil && len(g.rows) > 0 {
			t.Fatalf("round %d: %d rows left after the prune", round, len(g.rows))
		}
		for _, n := range []int{len(all) / 2, 2 * smallGroup, smallGroup + 1, smallGroup, 1} {
			if !c.sizes[n] {
				t.Fatalf("round %d: the prune never left the group at %d rows (saw %v)", round, n, slices.Sorted(maps.Keys(c.sizes)))
			}
		}
	}
}
