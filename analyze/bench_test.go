package analyze

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// benchFeed drives an analyzer with pre-built UPDATEs on one edge → vSmart
// session, the way the dissector will (one Input per DATA record, the
// Update reused by the caller).
type benchFeed struct {
	a     *Analyzer
	info  *SessionInfo
	vd    *vdaemon.Message
	in    Input
	upd   omp.Update
	attrs [2][]omp.Attribute
	now   time.Time
	step  time.Duration // capture time between two UPDATEs
	frame uint64
}

const benchBatch = 100 // NLRI per UPDATE

func newBenchFeed(tb testing.TB, cfg Config) *benchFeed {
	f := newFab(tb, cfg)
	f.manual = true
	e1, v1 := edge(1, 100), vsmart(1)
	e1.hold, v1.hold = 0, 0
	x := f.connect(e1, v1)
	// no hello tolerance, no hold time: the feed sends only UPDATEs
	for _, from := range []bool{true, false} {
		x.f.input(x, from, &vdaemon.Message{Header: x.hdr(from, vdaemon.TypeHello), Body: &vdaemon.Hello{Family: vdaemon.AFInet, Addr: e1.addr}})
	}
	advertiseEdge(x, e1)
	// 100ms between UPDATEs of 100 routes: a route of a 100 000-route
	// table changes every 100s, below the flap thresholds.
	bf := &benchFeed{a: f.a, info: x.info, now: f.now, frame: f.frame, step: 100 * time.Millisecond}
	bf.vd = &vdaemon.Message{Header: x.hdr(true, vdaemon.TypeData), Body: &vdaemon.Data{}}
	bf.attrs[0] = routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0)
	bf.attrs[1] = routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 200)
	bf.upd.Family = omp.FamilyRouteV4
	bf.upd.Reachable = make([]omp.NLRI, 0, benchBatch)
	bf.upd.Withdrawn = make([]omp.NLRI, 0, benchBatch)
	return bf
}

// prefixN is the n-th /24 (n < 2^24).
func prefixN(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + n>>16), byte(n >> 8), byte(n), 0}), 24)
}

// send advertises (or withdraws) routes [from, from+n) with attribute set
// k, in UPDATEs of benchBatch.
func (bf *benchFeed) send(from, n, k int, withdraw bool) {
	for i := 0; i < n; i += benchBatch {
		bf.upd.Reachable, bf.upd.Withdrawn, bf.upd.Attrs = bf.upd.Reachable[:0], bf.upd.Withdrawn[:0], nil
		for j := i; j < min(i+benchBatch, n); j++ {
			nl := omp.NLRI{PathID: 1, VPN: 1, Prefix: prefixN(from + j)}
			if withdraw {
				bf.upd.Withdrawn = append(bf.upd.Withdrawn, nl)
			} else {
				bf.upd.Reachable = append(bf.upd.Reachable, nl)
			}
		}
		if !withdraw {
			bf.upd.Attrs = bf.attrs[k]
		}
		bf.now = bf.now.Add(bf.step)
		bf.frame++
		bf.in = Input{Time: bf.now, Frame: bf.frame, Session: bf.info, FromClient: true, VDaemon: bf.vd, OMP: []omp.Message{&bf.upd}}
		bf.a.Message(&bf.in)
	}
}

// BenchmarkRouteEvents measures route events (one NLRI advertised, changed
// or withdrawn) per second through the analyzer. ns/op is per route event.
func BenchmarkRouteEvents(b *testing.B) {
	const table = 100_000
	b.Run("advertise-new", func(b *testing.B) {
		bf := newBenchFeed(b, Config{OnEvent: func(*Event) {}})
		bf.a.cfg.OnEvent = nil
		b.ReportAllocs()
		b.ResetTimer()
		bf.send(0, b.N, 0, false)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	})
	for _, sink := range []bool{false, true} {
		name := "change"
		if sink {
			name = "change+events"
		}
		b.Run(name, func(b *testing.B) {
			bf := newBenchFeed(b, Config{})
			bf.a.cfg.OnEvent = nil
			if sink {
				bf.a.cfg.OnEvent = func(*Event) {}
			}
			bf.send(0, table, 0, false)
			b.ReportAllocs()
			b.ResetTimer()
			for done, k := 0, 1; done < b.N; k ^= 1 {
				n := min(table, b.N-done)
				bf.send(0, n, k, false)
				done += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
		})
	}
	// Every route of a 10 000-route table flapping (changing every 1s):
	// the detectors' worst case.
	b.Run("flap-storm", func(b *testing.B) {
		bf := newBenchFeed(b, Config{})
		bf.a.cfg.OnEvent = nil
		bf.step = time.Millisecond
		bf.send(0, 10_000, 0, false)
		b.ReportAllocs()
		b.ResetTimer()
		for done, k := 0, 1; done < b.N; k ^= 1 {
			n := min(10_000, b.N-done)
			bf.send(0, n, k, false)
			done += n
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	})
	b.Run("withdraw+readvertise", func(b *testing.B) {
		bf := newBenchFeed(b, Config{})
		bf.a.cfg.OnEvent = nil
		bf.send(0, table, 0, false)
		b.ReportAllocs()
		b.ResetTimer()
		for done, wd := 0, true; done < b.N; wd = !wd {
			n := min(table, b.N-done)
			bf.send(0, n, 0, wd)
			done += n
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	})
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHold1MRoutes reports the heap held by an analyzer holding
// 1 000 000 routes (one table, distinct /24s, one attribute set), in
// bytes per route and MB.
func BenchmarkHold1MRoutes(b *testing.B) {
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		bf := newBenchFeed(b, Config{})
		bf.a.cfg.OnEvent = nil
		bf.send(0, 1_000_000, 0, false)
		after := heapInUse()
		b.ReportMetric(float64(after-before)/1e6, "MB")
		b.ReportMetric(float64(after-before)/1e6, "B/route")
		runtime.KeepAlive(bf)
	}
}

// TestMemory1MRoutes checks the 1 GB budget for 1 000 000 routes held
// (skipped with -short).
func TestMemory1MRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~0.5 GB")
	}
	before := heapInUse()
	bf := newBenchFeed(t, Config{})
	bf.a.cfg.OnEvent = nil
	bf.send(0, 1_000_000, 0, false)
	// a second version for every route: the history costs too
	bf.send(0, 1_000_000, 1, false)
	after := heapInUse()
	used := after - before
	t.Logf("1 000 000 routes, 2 versions each: %.0f MB heap (%.0f B/route)", float64(used)/1e6, float64(used)/1e6)
	if r, _, _ := bf.a.Snapshot(time.Time{}, Filter{}).Rows(); r != 1_000_000 {
		t.Fatalf("%d routes held", r)
	}
	if used > 1<<30 {
		t.Errorf("%d bytes for 1M routes, budget 1 GiB", used)
	}
	runtime.KeepAlive(bf)
}

// BenchmarkFabricReflect: 2 vSmarts, 20 edges; edge 1 changes the
// attributes of its 1000 routes and both vSmarts reflect each change to the
// 19 other edges and to each other (1000 × 40 route events per round), so
// every route group holds 41 rows and the cross-table detectors
// (attribute-conflict, vsmart-divergence) do real work. ns/op is per route
// event.
func BenchmarkFabricReflect(b *testing.B) {
	const routes, edges = 1000, 20
	f := newFab(b, Config{})
	f.manual = true
	f.a.cfg.OnEvent = nil // no timeline (see change+events for its cost)
	v1, v2 := vsmart(1), vsmart(2)
	v1.hold, v2.hold = 0, 0
	type dirn struct {
		s    *sess
		from bool
	}
	var all []dirn
	e1 := edge(1, 100)
	e1.hold = 0
	mesh := f.connect(v1, v2)
	all = append(all, dirn{f.connect(e1, v1), true}, dirn{f.connect(e1, v2), true}, dirn{mesh, true}, dirn{mesh, false})
	for i := 2; i <= edges; i++ {
		e := edge(i, uint32(100+i))
		e.hold = 0
		all = append(all, dirn{f.connect(e, v1), false}, dirn{f.connect(e, v2), false})
	}
	for _, d := range all { // no silence timers: the benchmark sends only UPDATEs
		for _, from := range []bool{true, false} {
			f.input(d.s, from, &vdaemon.Message{Header: d.s.hdr(from, vdaemon.TypeHello), Body: &vdaemon.Hello{Family: vdaemon.AFInet, Addr: e1.addr}})
		}
	}
	nl := make([]omp.NLRI, 0, 100)
	round := func(pref uint32) {
		for _, d := range all {
			d.s.adv(d.from, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1))
			for i := 0; i < routes; i += 100 {
				nl = nl[:0]
				for j := i; j < i+100; j++ {
					nl = append(nl, omp.NLRI{PathID: 1, VPN: 1, Prefix: prefixN(j)})
				}
				d.s.adv(d.from, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, pref), nl...)
			}
		}
	}
	round(0)
	per := routes * len(all)
	b.ReportAllocs()
	b.ResetTimer()
	for done, k := 0, uint32(1); done < b.N; k++ {
		f.at(float64(100 * k)) // 100s apart: no flaps
		round(k % 2)
		done += per
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
}

// BenchmarkChurnFreshPathIDs: a steady table of 50 000 routes whose paths
// are replaced with fresh path-ids all the time (each step withdraws 100
// paths and advertises 100 new ones): the shape of a long, churning
// capture. b.N steps; the cost per route event must not grow with b.N (the
// withdrawn paths leave memory after the detector window, and every
// detector costs what the change touches). Reports route events per second
// and the rows kept at the end.
func BenchmarkChurnFreshPathIDs(b *testing.B) {
	const table = 50_000
	bf := newBenchFeed(b, Config{})
	bf.a.cfg.OnEvent = nil // no timeline, as analyze without --timeline
	bf.send(0, table, 0, false)
	pathOf := make([]uint32, table)
	for i := range pathOf {
		pathOf[i] = 1
	}
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bf.upd.Withdrawn, bf.upd.Reachable = bf.upd.Withdrawn[:0], bf.upd.Reachable[:0]
		for range benchBatch {
			i := next % table
			next++
			bf.upd.Withdrawn = append(bf.upd.Withdrawn, omp.NLRI{PathID: pathOf[i], VPN: 1, Prefix: prefixN(i)})
			pathOf[i]++
			bf.upd.Reachable = append(bf.upd.Reachable, omp.NLRI{PathID: pathOf[i], VPN: 1, Prefix: prefixN(i)})
		}
		bf.upd.Attrs = bf.attrs[0]
		bf.now = bf.now.Add(bf.step)
		bf.frame++
		bf.in = Input{Time: bf.now, Frame: bf.frame, Session: bf.info, FromClient: true, VDaemon: bf.vd, OMP: []omp.Message{&bf.upd}}
		bf.a.Message(&bf.in)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*2*benchBatch/b.Elapsed().Seconds(), "route-events/s")
	rows, _ := tableRows(bf.a)
	b.ReportMetric(float64(rows), "rows-kept")
}

// BenchmarkConflictMark measures what attribute-conflict pays to decide
// whether a receiver's bucket may hold a conflict when one of its rows
// changed: edge 2 receives eight paths of one prefix (eight TLOCs of edge
// 1) from each of two vSmarts, a bucket of 16 rows, the largest mayConflict
// still compares pair by pair. "all pairs" is mayConflict, "changed row"
// mayConflictWith (the row of the first path from the first vSmart).
func BenchmarkConflictMark(b *testing.B) {
	f := newFab(b, Config{})
	e1, e2, v1, v2 := edge(1, 100), edge(2, 200), vsmart(1), vsmart(2)
	for _, x := range []*sess{f.connect(e2, v1), f.connect(e2, v2)} {
		for p := range uint32(8) {
			x.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.Color(1+p)), 100, 0), route(1, "10.1.0.0/24", 1+p))
		}
	}
	k := groupKey{addr: addr16(netip.MustParseAddr("10.1.0.0")), vpn: 1, kind: kRoute, bits: 24}
	g := f.a.group(&k)
	if g == nil {
		b.Fatal("no group")
	}
	rows := g.recvRange(ip4(e2.sys))
	if len(rows) != 16 {
		b.Fatalf("%d rows at the receiver", len(rows))
	}
	if mayConflict(kRoute, rows) || mayConflictWith(kRoute, rows, rows[0]) {
		b.Fatal("copies that agree may conflict")
	}
	b.Run("all pairs", func(b *testing.B) {
		for b.Loop() {
			mayConflict(kRoute, rows)
		}
	})
	b.Run("changed row", func(b *testing.B) {
		for b.Loop() {
			mayConflictWith(kRoute, rows, rows[0])
		}
	})
}
