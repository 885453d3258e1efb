package analyze

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// The analyzer's own sessions, devices and tables' lists follow the live
// state or stop at a counted cap, whatever a hostile capture sends.

// gapOnly is a session of which the analyzer sees one unreadable record
// (a DTLS flow with no key) at sec s, and its end half a second later.
func gapOnly(f *fab, i int, s float64) *SessionInfo {
	ip := netip.AddrFrom4([4]byte{192, 0, byte(2 + i>>8), byte(i)})
	info := &SessionInfo{ID: "g" + strconv.Itoa(i), Client: netip.AddrPortFrom(ip, 12346),
		Server: netipAP("198.51.100.1:12346"), Transport: "dtls"}
	f.frame++
	f.a.Gap(&Gap{Time: sec(s), Frame: f.frame, Session: info, Reason: "no-key"})
	f.a.SessionEnd(info, sec(s+0.5), "TCP FIN")
	return info
}

// TestGapOnlySessionsPruned: a live capture (Retention) of flows each with
// one unreadable record. A session down whose last unreadable record is
// older than the retention (and than the merge window) leaves memory,
// though no readable record ever closed its gap; one with a recent
// unreadable record stays, and its decryption-gap is one anomaly.
func TestGapOnlySessionsPruned(t *testing.T) {
	f := newFab(t, Config{Retention: time.Minute, MergeWindow: 5 * time.Minute})
	f.manual = true
	const n = 50
	var infos []*SessionInfo
	for i := range n {
		infos = append(infos, gapOnly(f, i, float64(i)))
	}
	f.a.Advance(sec(200))
	if len(f.a.sessList) != n {
		t.Fatalf("%d sessions at 200s, want %d (their decryption-gap may still grow)", len(f.a.sessList), n)
	}
	// within the merge window: the same anomaly
	f.a.Gap(&Gap{Time: sec(250), Frame: 999, Session: infos[0], Reason: "no-key"})
	f.a.Advance(sec(600))
	f.a.Advance(sec(700))
	if len(f.a.sessList) != 0 || len(f.a.sessions) != 0 || len(f.a.unnamed) != 0 {
		t.Fatalf("%d sessions (%d by id, %d unnamed addresses) kept, want them pruned",
			len(f.a.sessList), len(f.a.sessions), len(f.a.unnamed))
	}
	for _, d := range f.a.dets {
		n := -1
		switch u := d.(type) {
		case *tunnelDet:
			n = len(u.st)
		case *authBypassDet:
			n = len(u.st)
		case *certDet:
			n = len(u.st) + len(u.pending)
		case *siteIDDet:
			n = len(u.reported)
		}
		if n > 0 {
			t.Errorf("%T holds %d sessions' state after they left memory", d, n)
		}
	}
	// a late record of a pruned session: a session again, kept while recent
	f.a.Gap(&Gap{Time: sec(790), Frame: 1000, Session: infos[1], Reason: "no-key"})
	f.a.SessionEnd(infos[1], sec(790), "TCP FIN")
	f.a.Advance(sec(800))
	if len(f.a.sessList) != 1 {
		t.Fatalf("%d sessions at 800s, want 1 (the late one)", len(f.a.sessList))
	}
	f.a.Finish(sec(800))
	as := f.anomalies(KindDecryptionGap)
	if len(as) != n+1 {
		t.Fatalf("%d decryption-gap notices, want %d", len(as), n+1)
	}
	for _, an := range as {
		want := 1
		if an.Subject == "session 192.0.2.0:12346 > 198.51.100.1:12346" {
			want = 2
		}
		if an.Active && an.Start != sec(790) || an.EvidenceCount != want {
			t.Errorf("%+v", an)
		}
	}
}

// TestSessionCap: more sessions than Config.MaxSessions. With Retention 0
// the analyzer holds MaxSessions of them, counts the inputs of the others
// (not analyzed: no notice about them) and says so in the summary; those
// it holds are still fed.
func TestSessionCap(t *testing.T) {
	f := newFab(t, Config{MaxSessions: 10})
	f.manual = true
	var infos []*SessionInfo
	for i := range 30 {
		infos = append(infos, gapOnly(f, i, float64(i)))
	}
	if len(f.a.sessList) != 10 || len(f.a.sessions) != 10 {
		t.Fatalf("%d sessions (%d by id), want 10", len(f.a.sessList), len(f.a.sessions))
	}
	if n := f.a.Stats().SessionsRefused; n != 20 {
		t.Errorf("%d inputs refused, want 20", n)
	}
	f.a.Gap(&Gap{Time: sec(31), Frame: 999, Session: infos[0], Reason: "no-key"})
	f.a.Finish(sec(40))
	as := f.anomalies(KindDecryptionGap)
	if len(as) != 10 || as[0].EvidenceCount != 2 {
		t.Fatalf("decryption-gap notices %+v, want 10 (the sessions held), the first of 2 records", as)
	}
	var b strings.Builder
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "20 input(s) of sessions new while the analyzer held 10 (MaxSessions) were not analyzed") {
		t.Errorf("the summary does not tell the limit:\n%s", b.String())
	}

	// with Retention, sessions down long enough leave and make room
	f = newFab(t, Config{MaxSessions: 10, Retention: time.Minute})
	f.manual = true
	for i := range 30 {
		gapOnly(f, i, float64(i))
	}
	f.a.Advance(sec(300))
	for i := range 10 {
		gapOnly(f, 100+i, 300)
	}
	if n := f.a.Stats().SessionsRefused; n != 20 || len(f.a.sessList) != 10 {
		t.Errorf("%d inputs refused (want 20), %d sessions held (want 10)", n, len(f.a.sessList))
	}
}

// TestRefusedSessionNoMeshWarning: the session between two vSmarts is
// refused (MaxSessions): that the capture never showed them peering is not
// a warning (the capture sees the mesh otherwise), only "not observed".
func TestRefusedSessionNoMeshWarning(t *testing.T) {
	for _, max := range []int{0, 4} {
		f := newFab(t, Config{MaxSessions: max})
		v1, v2, v3, e1 := vsmart(1), vsmart(2), vsmart(3), edge(1, 100)
		f.connect(v1, v2)
		f.connect(v2, v3)
		f.connect(e1, v1)
		f.connect(e1, v3)
		f.at(5)
		f.connect(v1, v3)
		f.at(10)
		if max == 0 {
			f.at(20) // (the pair peered: no notice)
		}
		f.finish(30)
		for _, an := range f.anomalies(KindVSmartMeshIncomplete) {
			if an.Severity > SevInfo {
				t.Errorf("MaxSessions %d: %+v", max, an)
			}
		}
	}
}

// TestDeviceCap: one session's end sends HANDSHAKE after HANDSHAKE, each
// naming another system-ip from another address. The analyzer records
// devices and addresses up to its cap and counts the rest.
func TestDeviceCap(t *testing.T) {
	f := newFab(t, Config{})
	f.a.maxDev = 100
	handshakeFlood(f, 300)
	// sessions from new addresses, each naming itself
	for i := range 300 {
		f.at(4 + float64(i)*0.01)
		f.connect(edgeN(i), vsmart(1))
	}
	if len(f.a.devices) > 100 || len(f.a.addrMap) > 100 {
		t.Fatalf("%d devices, %d addresses recorded, want at most 100", len(f.a.devices), len(f.a.addrMap))
	}
	if n := f.a.Stats().DevicesUntracked; n < 400 {
		t.Errorf("%d HANDSHAKEs counted untracked, want at least 400", n)
	}
	f.finish(20)
	var b strings.Builder
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf("HANDSHAKE(s) named a system-ip or address past the %d devices", 100)) {
		t.Errorf("the summary does not tell the limit:\n%s", b.String())
	}
}

// handshakeFlood connects vsmart1 to vsmart2 and makes vsmart1's side send
// n HANDSHAKEs from 1 s, 10 ms apart, each naming another vSmart
// (vsmartN): a flood of made-up system-ips on one session.
func handshakeFlood(f *fab, n int) {
	x := f.connect(vsmart(1), vsmart(2))
	for i := range n {
		f.at(1 + float64(i)*0.01)
		x.omp(true, vsmartN(i).handshake())
	}
}

// edgeN is an edge with system-ip 10.1.n/256.n%256 at its own address.
func edgeN(n int) dev {
	d := edge(1, 100)
	d.sys = netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)})
	d.addr = netip.AddrFrom4([4]byte{203, 0, byte(n >> 8), byte(n)})
	return d
}

// TestTableSessionsCap: an edge reconnects with graceful restart again and
// again; its table, adopted by each new session, lists the first and the
// last maxTableSessions sessions, and counts the others.
// reconnectAgain ends x and connects e1 to v1 again, n times 5 s apart
// from 5 s (each new session adopts the table, as after a graceful
// restart), advertising 10.1.0.0/24 each time; it returns the last.
func reconnectAgain(f *fab, x *sess, e1, v1 dev, n int) *sess {
	for i := range n {
		f.at(5 + float64(i)*5)
		x.end()
		f.at(7 + float64(i)*5)
		x = f.connect(e1, v1)
		advertiseEdge(x, e1, "10.1.0.0/24")
	}
	return x
}

func TestTableSessionsCap(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	first := x.info.ID
	advertiseEdge(x, e1, "10.1.0.0/24")
	const n = 40
	x = reconnectAgain(f, x, e1, v1, n)
	snap := f.a.Snapshot(time.Time{}, Filter{})
	if len(snap.Tables) != 1 {
		t.Fatalf("%d tables", len(snap.Tables))
	}
	tv := snap.Tables[0]
	if len(tv.Sessions) != 1+maxTableSessions || tv.Sessions[0] != first || tv.Sessions[len(tv.Sessions)-1] != x.info.ID ||
		tv.SessionsOmitted != n+1-len(tv.Sessions) {
		t.Fatalf("sessions %d (%v), %d omitted", len(tv.Sessions), tv.Sessions, tv.SessionsOmitted)
	}
	if n := f.a.Stats().TableSessionsOmitted; n != tv.SessionsOmitted {
		t.Errorf("stats count %d omitted", n)
	}
	j, err := tv.MarshalJSON()
	if err != nil || !strings.Contains(string(j), `"sessions_omitted":24`) {
		t.Errorf("JSON %s %v", j, err)
	}
	f.finish(300)
	var b strings.Builder
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "24 session(s) left out of the lists of the sessions that carried a table") {
		t.Errorf("the summary does not tell the limit:\n%s", b.String())
	}
}

// TestDeviceCapNoFalseDivergence: two edges share a system-ip, each
// attached to another vSmart, which send them different routes. Recorded,
// the pair is a duplicate-system-ip and their tables are not compared;
// past the analyzer's cap of devices, the duplicate is not seen, and the
// tables are not compared either (a receiver not recorded may be two).
func TestDeviceCapNoFalseDivergence(t *testing.T) {
	for _, capped := range []bool{false, true} {
		f := newFab(t, Config{})
		if capped {
			f.a.maxDev = 3
		}
		e1, e2 := edge(1, 100), edge(2, 200)
		e2b := e2
		e2b.addr = netip.AddrFrom4([4]byte{192, 0, 2, 99})
		e2b.site = 300
		a1, _, b1, _ := reflectedFabric(f, e1, e2, e2b)
		f.at(20)
		a1.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
		b1.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
		f.finish(60)
		if as := f.anomalies(KindVSmartDivergence); len(as) != 0 {
			t.Errorf("capped %v: %+v", capped, as)
		}
		if n := len(f.anomalies(KindDuplicateSystemIP)); (n == 0) != capped {
			t.Errorf("capped %v: %d duplicate-system-ip", capped, n)
		}
		if n := f.a.Stats().DevicesUntracked; (n == 0) == capped {
			t.Errorf("capped %v: %d untracked", capped, n)
		}
	}
}

// TestDeviceCapNoFalseNotDistributed: two edges share a system-ip (a
// duplicate-system-ip when recorded): the receiver is ambiguous, and is
// not judged by not-distributed, recorded or past the analyzer's cap of
// devices.
func TestDeviceCapNoFalseNotDistributed(t *testing.T) {
	for _, capped := range []bool{false, true} {
		f := newFab(t, Config{})
		if capped {
			f.a.maxDev = 2
		}
		e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
		e2b := e2
		e2b.addr, e2b.site = netip.AddrFrom4([4]byte{192, 0, 2, 99}), 300
		a := f.connect(e1, v1)
		b := f.connect(e2, v1)
		f.connect(e2b, v1)
		f.at(1)
		advertiseEdge(a, e1, "10.1.0.0/24", "10.1.9.0/24")
		reflectTo(b, false, e1, "10.1.0.0/24")
		b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		advertiseEdge(b, e2)
		reflectTo(a, false, e2)
		a.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		f.finish(60)
		if as := f.anomalies(KindNotDistributed); len(as) != 0 {
			t.Errorf("capped %v: %+v", capped, as)
		}
		if n := f.a.Stats().DevicesUntracked; (n == 0) == capped {
			t.Errorf("capped %v: %d untracked", capped, n)
		}
	}
}

// TestGRSpansCounted: a table whose sender restarts again and again keeps
// its last maxGRSpans graceful-restart periods for the report's history,
// and counts the ones it forgets (told on the summary's Limits line).
func TestGRSpansCounted(t *testing.T) {
	f := newFab(t, Config{Record: true})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	const n = maxGRSpans + 8
	reconnectAgain(f, x, e1, v1, n)
	f.finish(300)
	if got := f.a.Stats().GRSpansForgotten; got != n-maxGRSpans {
		t.Errorf("%d GR periods forgotten, want %d", got, n-maxGRSpans)
	}
	h := f.a.History()
	var spans []HistSpan
	for _, ht := range h.Tables {
		if ht.From == "edge 10.0.0.11" || len(ht.GR) > 0 {
			spans = append(spans, ht.GR...)
		}
	}
	if len(spans) != maxGRSpans || spans[len(spans)-1].Start != sec(5+float64(n-1)*5).UnixNano() {
		t.Errorf("history's GR periods: %d, last %+v", len(spans), spans[len(spans)-1:])
	}
	if l := f.a.Summary(Filter{}).Limits; l == nil || l.GRSpansForgotten != n-maxGRSpans {
		t.Errorf("summary limits %+v", l)
	}
	if h := f.a.limitsHit(); !strings.Contains(h, "8 graceful-restart period(s) forgotten by their tables (each keeps its last 32)") {
		t.Errorf("Limits line %q", h)
	}
}

// TestDevicesPrunedWithRetention: with a positive Retention, devices no
// session has claimed or named for longer than it leave memory, with the
// addresses that named them: a flood of made-up system-ips early in a
// long live capture does not keep later devices from being recorded and
// judged.
func TestDevicesPrunedWithRetention(t *testing.T) {
	f := newFab(t, Config{Retention: 10 * time.Second})
	f.a.maxDev = 100
	handshakeFlood(f, 300)
	var ends []*sess
	for i := range 150 {
		f.at(4 + float64(i)*0.01)
		ends = append(ends, f.connect(edgeN(i), vsmart(1)))
	}
	untracked := f.a.Stats().DevicesUntracked
	if untracked == 0 || len(f.a.devices) != 100 {
		t.Fatalf("%d devices, %d untracked: the flood did not reach the cap", len(f.a.devices), untracked)
	}
	f.at(10)
	for _, s := range ends {
		s.end()
	}
	f.at(400) // far past the retention and every window
	if f.a.Stats().DevicesPruned == 0 {
		t.Fatal("no device pruned")
	}
	// what stays: the devices the session still up names
	for sys := range f.a.devices {
		if a := addrOf4(sys); a != vsmart(1).sys && a != vsmart(2).sys && a != vsmartN(299).sys {
			t.Errorf("device %v kept", a)
		}
	}
	if len(f.a.addrMap) > 2 {
		t.Errorf("%d underlay addresses kept, want the up session's 2 at most", len(f.a.addrMap))
	}
	// new devices are recorded again, and a duplicate among them judged
	e := edgeN(1000)
	f.connect(e, vsmart(1))
	e2 := e // the same system-ip at another site
	e2.addr, e2.site = netip.AddrFrom4([4]byte{198, 18, 0, 99}), 4242
	f.connect(e2, vsmart(1))
	f.at(420)
	if n := f.a.Stats().DevicesUntracked; n != untracked {
		t.Errorf("%d more HANDSHAKEs untracked after the pruning", n-untracked)
	}
	if f.a.devices[ip4(e.sys)] == nil {
		t.Error("the new device is not recorded")
	}
	f.finish(430)
	f.wantOneOf(KindDuplicateSystemIP, "system-ip "+e.sys.String())
}
