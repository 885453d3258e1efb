package analyze

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

func TestStateMachineAndNegotiation(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	e1.hold, e1.grTimer, e1.spl = 30, 300, 8
	x := f.connect(e1, v1)
	ps := f.a.Peers()
	if len(ps) != 1 {
		t.Fatalf("%d peers", len(ps))
	}
	p := ps[0]
	if p.Control != "up" || p.OMP != "up" {
		t.Errorf("states %s/%s", p.Control, p.OMP)
	}
	if p.HoldTime.Seconds() != 30 || !p.GR || p.GRTimer.Seconds() != 120 || p.SendPathLimit != 4 {
		t.Errorf("negotiated hold %v gr %v %v spl %d", p.HoldTime, p.GR, p.GRTimer, p.SendPathLimit)
	}
	if p.Client.SystemIP != e1.sys || p.Server.SystemIP != v1.sys || p.Client.DeviceType != sdwan.DeviceVEdge ||
		p.Client.SiteID != 100 || p.Server.DeviceType != sdwan.DeviceVSmart {
		t.Errorf("identities %+v %+v", p.Client, p.Server)
	}
	if p.Client.UUID == "" || p.Client.Color != sdwan.ColorBizInternet || p.Client.HelloInterval.Seconds() != 1 {
		t.Errorf("vdaemon facts %+v", p.Client)
	}
	var seq []string
	for _, e := range f.eventsOf(EvPeerState) {
		seq = append(seq, e.State.Layer+":"+e.State.New)
	}
	want := []string{"control:challenge", "control:challenge-resp", "control:challenge-ack", "control:up", "omp:handshake", "omp:up"}
	if len(seq) != len(want) {
		t.Fatalf("state sequence %v, want %v", seq, want)
	}
	for i := range want {
		if seq[i] != want[i] {
			t.Fatalf("state sequence %v, want %v", seq, want)
		}
	}
	f.at(5)
	x.teardown(true, 0) // NOERR: reported (warning), no GR
	if p := f.a.Peers()[0]; p.Control != "down" || p.OMP != "down" {
		t.Errorf("after teardown %s/%s", p.Control, p.OMP)
	}
	f.finish(10)
	if an := f.wantOne(KindTeardown, "peer 10.0.0.11"); an.Severity != SevWarning {
		t.Errorf("%+v", an)
	}
}

func TestTablesEventsSnapshot(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(1)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24")
	f.at(2)
	// change one route's preference
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 200), route(1, "10.1.1.0/24", 1))
	f.at(3)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
	f.finish(4)
	f.wantNone()

	if n := len(f.eventsOf(EvRouteAdd)); n != 2 {
		t.Errorf("%d route.add", n)
	}
	ch := f.eventsOf(EvRouteChange)
	if len(ch) != 1 || ch[0].Old.Preference != 0 || ch[0].New.Preference != 200 || ch[0].Row.Prefix.String() != "10.1.1.0/24" {
		t.Fatalf("route.change %+v", ch)
	}
	wd := f.eventsOf(EvRouteWithdraw)
	if len(wd) != 1 || wd[0].Reason != ReasonWithdraw || wd[0].Old == nil || wd[0].New != nil {
		t.Fatalf("route.withdraw %+v", wd)
	}
	if n := len(f.eventsOf(EvTLOCAdd)); n != 1 {
		t.Errorf("%d tloc.add", n)
	}
	// event times are ordered
	for i := 1; i < len(f.events); i++ {
		if f.events[i].Time.Before(f.events[i-1].Time) {
			t.Fatalf("event %d out of order", i)
		}
	}

	s := f.a.Snapshot(sec(1.5), Filter{})
	r, tl, sv := s.Rows()
	if r != 2 || tl != 1 || sv != 0 || !s.Exact {
		t.Fatalf("snapshot at 1.5: %d %d %d exact %v", r, tl, sv, s.Exact)
	}
	if st := s.Tables[0].Routes[0].Status; st != "C,R" {
		t.Errorf("status %q", st)
	}
	s = f.a.Snapshot(sec(3.5), Filter{})
	if r, _, _ := s.Rows(); r != 1 || s.Tables[0].Routes[0].Attrs.Preference != 200 {
		t.Fatalf("snapshot at 3.5: %d routes", r)
	}
	if got := s.Tables[0].Routes[0].LastChange; !got.Equal(sec(2)) {
		t.Errorf("last change %v", got)
	}
	if got := s.Tables[0].Routes[0].FirstSeen; !got.Equal(sec(1)) {
		t.Errorf("first seen %v", got)
	}
}

// routeSubject writes what the concatenation of the parts' strings wrote.
func TestRouteSubject(t *testing.T) {
	for _, c := range []struct {
		vpn  uint32
		p    netip.Prefix
		orig netip.Addr
	}{
		{10, netip.MustParsePrefix("10.1.0.0/24"), netip.MustParseAddr("10.255.0.1")},
		{0, netip.MustParsePrefix("0.0.0.0/0"), netip.Addr{}},
		{4294967295, netip.MustParsePrefix("2001:db8::/32"), netip.MustParseAddr("1.1.1.1")},
		{7, netip.Prefix{}, netip.MustParseAddr("255.255.255.255")},
		{7, netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 40), netip.MustParseAddr("::1")},
	} {
		o := "0.0.0.0"
		if c.orig.IsValid() {
			o = c.orig.String()
		}
		want := "route vpn=" + strconv.FormatUint(uint64(c.vpn), 10) + " prefix=" + c.p.String() + " originator=" + o
		if got := routeSubject(c.vpn, c.p, c.orig); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestDivergenceSubject(t *testing.T) {
	for _, c := range [][2]netip.Addr{{netip.MustParseAddr("1.1.1.3"), netip.MustParseAddr("1.1.1.4")},
		{{}, netip.MustParseAddr("2001:db8::1")}} {
		want := "vsmarts " + c[0].String() + "," + c[1].String() + " vpn=" + strconv.Itoa(4096)
		if got := divergenceSubject(c[0], c[1], 4096); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
