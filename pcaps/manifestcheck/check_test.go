package manifestcheck

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// run feeds one edge ↔ vSmart session: handshakes, a TLOC, two routes and
// a service from the edge, a withdraw of a route never advertised at 5s,
// and ends at 10s.
func run(t *testing.T) *analyze.Analyzer {
	a := analyze.New(analyze.Config{})
	info := &analyze.SessionInfo{ID: "s1", Client: netip.MustParseAddrPort("198.18.0.1:12346"),
		Server: netip.MustParseAddrPort("203.0.113.13:12346"), Transport: "dtls"}
	edge, vs := netip.MustParseAddr("10.255.0.1"), netip.MustParseAddr("1.1.1.3")
	frame := uint64(0)
	send := func(s float64, fromClient bool, msgs ...omp.Message) {
		frame++
		dev := sdwan.DeviceVSmart
		if fromClient {
			dev = sdwan.DeviceVEdge
		}
		a.Message(&analyze.Input{Time: at(s), Frame: frame, Session: info, FromClient: fromClient,
			VDaemon: &vdaemon.Message{Header: vdaemon.Header{Type: vdaemon.TypeData, Device: dev}, Body: &vdaemon.Data{}}, OMP: msgs})
	}
	send(0, true, &omp.Handshake{SystemIP: edge, SiteID: 100, HoldTime: 60, DeviceType: sdwan.DeviceVEdge})
	send(0, false, &omp.Handshake{SystemIP: vs, SiteID: 1000, HoldTime: 60, DeviceType: sdwan.DeviceVSmart})
	tl := omp.TLOCKey{SystemIP: edge, Color: sdwan.ColorPublicInternet, Encap: sdwan.EncapIPsec}
	send(1, true, &omp.Update{Family: omp.FamilyTLOCv4, Attrs: []omp.Attribute{
		&omp.Originator{Addr: edge}, &omp.Uint32Attr{Type: omp.AttrSiteID, Value: 100},
		&omp.AddrAttr{Type: omp.AttrPrivateIPv4, Addr: netip.MustParseAddrPort("198.18.0.1:12346")},
		&omp.AddrAttr{Type: omp.AttrPublicIPv4, Addr: netip.MustParseAddrPort("198.18.0.1:12346")},
		&omp.Uint32Attr{Type: omp.AttrWeight, Value: 1}},
		Reachable: []omp.NLRI{{PathID: 1, SystemIP: edge, Color: tl.Color, Encap: tl.Encap}}})
	rattrs := []omp.Attribute{&omp.Originator{Addr: edge}, &omp.TLOCAttr{TLOCKey: tl},
		&omp.OriginAttr{Protocol: sdwan.OriginConnected}, &omp.Uint32Attr{Type: omp.AttrSiteID, Value: 100}}
	send(1, true, &omp.Update{Family: omp.FamilyRouteV4, Attrs: rattrs, Reachable: []omp.NLRI{
		{PathID: 1, VPN: 10, Prefix: netip.MustParsePrefix("10.0.0.0/24")}, {PathID: 1, VPN: 10, Prefix: netip.MustParsePrefix("10.0.1.0/24")}}})
	send(1, true, &omp.Update{Family: omp.FamilyService, Attrs: []omp.Attribute{&omp.Originator{Addr: edge}, &omp.TLOCAttr{TLOCKey: tl}},
		Reachable: []omp.NLRI{{PathID: 1, VPN: 10, Service: sdwan.ServiceFW, Originator: edge}}})
	send(5, true, &omp.Update{Family: omp.FamilyRouteV4, Withdrawn: []omp.NLRI{{PathID: 1, VPN: 10, Prefix: netip.MustParsePrefix("10.250.99.0/24")}}})
	send(9, true, &omp.Hello{})
	send(9, false, &omp.Hello{})
	a.Finish(at(10))
	return a
}

func truth() *manifest.Manifest {
	return &manifest.Manifest{Start: t0, End: at(10),
		Anomalies: []manifest.Anomaly{{Kind: "withdraw-unknown", Subject: "route vpn=10 prefix=10.250.99.0/24 originator=10.255.0.1",
			Start: at(5), End: at(5)}},
		FinalTables: []manifest.Table{{From: "10.255.0.1", To: "1.1.1.3",
			Routes: []manifest.Route{
				{VPN: 10, Prefix: "10.0.1.0/24", PathID: 1, Originator: "10.255.0.1", TLOC: "10.255.0.1/public-internet/ipsec", SiteID: 100, Origin: "connected"},
				{VPN: 10, Prefix: "10.0.0.0/24", PathID: 1, Originator: "10.255.0.1", TLOC: "10.255.0.1/public-internet/ipsec", SiteID: 100, Origin: "connected"},
			},
			TLOCs: []manifest.TLOC{{TLOC: "10.255.0.1/public-internet/ipsec", PathID: 1, Originator: "10.255.0.1",
				Private: "198.18.0.1:12346", Public: "198.18.0.1:12346", Weight: 1, SiteID: 100}},
			Services: []manifest.Service{{VPN: 10, Service: "FW", PathID: 1, Originator: "10.255.0.1", TLOC: "10.255.0.1/public-internet/ipsec"}},
		}, {From: "1.1.1.3", To: "10.255.0.1"}}, // empty: ignored
	}
}

func TestCheckMatches(t *testing.T) {
	r := Check(truth(), run(t), DefaultTolerance)
	if !r.OK() {
		t.Fatalf("%s", r)
	}
}

func TestCheckFindsDifferences(t *testing.T) {
	a := run(t)
	m := truth()
	m.Anomalies[0].Start = at(2.9) // 2.1s off: outside the tolerance
	m.Anomalies = append(m.Anomalies, manifest.Anomaly{Kind: "route-flap", Subject: "route vpn=10 prefix=10.0.0.0/24 originator=10.255.0.1", Start: at(3)})
	m.FinalTables[0].Routes[0].SiteID = 101
	m.FinalTables = append(m.FinalTables, manifest.Table{From: "1.1.1.4", To: "10.255.0.1",
		Routes: []manifest.Route{{VPN: 1, Prefix: "10.9.0.0/16"}}})
	r := Check(m, a, DefaultTolerance)
	if len(r.Missing) != 2 || len(r.Unexpected) != 1 || len(r.Tables) != 3 {
		t.Fatalf("%s", r)
	}
	s := r.String()
	for _, want := range []string{
		`missing: withdraw-unknown "route vpn=10 prefix=10.250.99.0/24 originator=10.255.0.1" start 2026-01-01T10:00:02.9Z end 2026-01-01T10:00:05Z (same kind and subject, other window`,
		`missing: route-flap`,
		`unexpected: withdraw-unknown`,
		`tables: 10.255.0.1 > 1.1.1.3: missing route vpn=10 prefix=10.0.1.0/24 path=1 originator=10.255.0.1 tloc=10.255.0.1/public-internet/ipsec pref=0 site=101 origin=connected`,
		`tables: 10.255.0.1 > 1.1.1.3: unexpected route vpn=10 prefix=10.0.1.0/24`,
		`tables: 1.1.1.4 > 10.255.0.1: table missing (1 rows)`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	// the same within a wider tolerance
	m = truth()
	m.Anomalies[0].Start = at(2.9)
	if r := Check(m, a, Tolerance{Window: 3 * time.Second}); !r.OK() {
		t.Errorf("%s", r)
	}
}

func TestUnreadableSessionsTablesAreNotCompared(t *testing.T) {
	m := truth()
	m.Sessions = []manifest.Session{{ClientSystemIP: "10.255.0.9", ServerSystemIP: "1.1.1.3", Kind: "omp", KeyInLog: false}}
	m.FinalTables = append(m.FinalTables, manifest.Table{From: "10.255.0.9", To: "1.1.1.3", Routes: []manifest.Route{{VPN: 1, Prefix: "10.9.0.0/16"}}})
	r := Check(m, run(t), DefaultTolerance)
	if !r.OK() || len(r.Unreadable) != 1 || !strings.HasPrefix(r.Unreadable[0], "10.255.0.9 > 1.1.1.3 (1 routes") {
		t.Fatalf("%s %v", r, r.Unreadable)
	}
}

func TestWindowRules(t *testing.T) {
	end := at(60)
	w := manifest.Anomaly{Kind: "route-flap", Subject: "x", Start: at(10), End: at(30)}
	g := analyze.Anomaly{Kind: "route-flap", Subject: "x", Start: at(11), End: at(31.5)}
	tol := DefaultTolerance
	if !matches(w, g, end, tol) {
		t.Errorf("within tolerance")
	}
	g.End = at(32.5)
	if matches(w, g, end, tol) {
		t.Errorf("end 2.5s off")
	}
	g.End = time.Time{} // still active at the end: the manifest must end at the capture end
	if matches(w, g, end, tol) {
		t.Errorf("active anomaly matched an end well before the capture end")
	}
	w.End = at(59)
	if !matches(w, g, end, tol) {
		t.Errorf("active anomaly vs an end at the capture end")
	}
	w.End = time.Time{} // until the end: the end is not checked
	g.End = at(20)
	if !matches(w, g, end, tol) {
		t.Errorf("open manifest window")
	}
	g.Subject = "y"
	if matches(w, g, end, tol) {
		t.Errorf("subject differs")
	}
}
