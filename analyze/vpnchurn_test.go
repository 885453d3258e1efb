package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// vpnChurn: two vSmarts each send an edge n advertise-then-withdraw
// UPDATEs, each in a fresh VPN with a fresh originator, 10 ms apart, then
// the capture runs on until every withdrawn row is pruned.
func vpnChurn(tb testing.TB, n int, setup func(a *Analyzer)) *fab {
	f := newFab(tb, Config{})
	if setup != nil {
		setup(f.a)
	}
	e, v1, v2 := edge(1, 100), vsmart(1), vsmart(2)
	xs := []*sess{f.connect(e, v1), f.connect(e, v2)}
	f.connect(v1, v2)
	f.at(1)
	for _, x := range xs {
		reflectTo(x, false, edge(2, 200), "10.2.0.0/24")
		x.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	}
	for i := range n {
		f.at(2 + float64(i)/100)
		orig := netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})
		nl := route(uint32(1000+i), "10.9.0.0/24", 1)
		for _, x := range xs {
			x.adv(false, omp.FamilyRouteV4, routeAttrs(orig, tk(orig, sdwan.ColorBizInternet), 300, 0), nl)
		}
		for _, x := range xs {
			x.wd(false, omp.FamilyRouteV4, nl)
		}
	}
	f.at(2 + float64(n)/100 + 200) // past every window: the withdrawn rows pruned
	return f
}

// TestVPNChurnLeavesNoDetectorState: the vsmart-divergence fingerprints
// follow the live rows (a VPN leaves a table's fingerprints with its last
// path), and not-distributed's receiver indexes (the VPNs and originators
// a receiver was told of, which it must remember) stop at their cap,
// counted.
func TestVPNChurnLeavesNoDetectorState(t *testing.T) {
	const n, limit = 3000, 100
	f := vpnChurn(t, n, func(a *Analyzer) {
		for _, d := range a.dets {
			if d, ok := d.(*distDet); ok {
				d.maxVPNs, d.maxOrigs = limit, limit
			}
		}
	})
	if rows, _ := tableRows(f.a); rows > 10 {
		t.Fatalf("%d rows kept after the churn: the test shows nothing", rows)
	}
	for _, d := range f.a.dets {
		switch d := d.(type) {
		case *divergenceDet:
			for tb, fp := range d.fps {
				if live := liveVPNs(tb); len(fp.m) != live {
					t.Errorf("vsmart-divergence: table %d keeps fingerprints of %d VPNs, %d live", tb.id, len(fp.m), live)
				}
			}
		case *distDet:
			if len(d.recvVPN) > limit || len(d.recvOrig) > limit || len(d.vpnRecv) > limit {
				t.Errorf("not-distributed: %d receiver VPNs, %d receiver originators, %d VPNs indexed after %d fresh VPNs (cap %d)",
					len(d.recvVPN), len(d.recvOrig), len(d.vpnRecv), n, limit)
			}
		}
	}
	st := f.a.Stats()
	if st.DistUnnoted < 2*(n-limit) {
		t.Errorf("Stats.DistUnnoted %d, want at least %d", st.DistUnnoted, 2*(n-limit))
	}
	// the summary says so
	var b strings.Builder
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf("Limits: %d path(s) whose VPN or originator not-distributed did not note (%d VPNs and %d originators per receiver)",
		st.DistUnnoted, limit, limit)) {
		t.Errorf("the summary does not tell the limit:\n%s", b.String())
	}
	b.Reset()
	if err := f.a.Summary(Filter{}).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf(`,"limits":{"not_distributed_unnoted":%d}}`, st.DistUnnoted)) {
		t.Errorf("the JSON summary does not tell the limit: %s", b.String()[max(0, b.Len()-300):])
	}
	f.wantNone()
}

// liveVPNs counts the VPNs of table t's live routes.
func liveVPNs(t *table) int {
	m := map[uint32]bool{}
	for r := range t.rows.all {
		if r.live() && r.grp.key.kind == kRoute {
			m[r.grp.key.vpn] = true
		}
	}
	return len(m)
}
