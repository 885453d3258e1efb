package analyze

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// vsmart-mesh-incomplete: vSmarts (known from their HANDSHAKEs) exchange
// what they hold over OMP sessions with each other. A pair whose session
// was seen and is down for longer than Config.ConvergenceWindow is an
// error; at the end of the capture, a pair never seen peering is a
// warning when the capture evidently sees the vSmart mesh, and otherwise
// info ("not observed").

// KindVSmartMeshIncomplete names the notice of this detector.
const KindVSmartMeshIncomplete Kind = "vsmart-mesh-incomplete"

var meshDetDef = detectorDef{name: "vsmart-mesh-incomplete", make: func(a *Analyzer) detector {
	return &meshDet{a: a, vsmarts: map[uint32]int64{}, active: map[[2]uint32]struct{}{}}
}}

// maxMeshVSmarts bounds the vSmarts the detector tracks at once (a real
// fabric has at most about 20; every pair of them is a possible notice at
// the end, and 128 vSmarts make 8 128 pairs, within the default
// MaxAnomalies). A HANDSHAKE naming another vSmart while the detector
// tracks as many is counted in Stats.MeshUntracked, and that vSmart is
// left out.
const maxMeshVSmarts = 128

type meshDet struct {
	a *Analyzer
	// vsmarts: vSmart system-ips (from HANDSHAKEs) → first seen. A vSmart
	// that no session in memory names any more (its sessions were pruned,
	// or the end that named it named another system-ip since) leaves at
	// the next evaluation: memory follows the live sessions.
	vsmarts map[uint32]int64
	// active: the pairs eval set a condition for (and that may still
	// hold it): eval looks at these and at the pairs seen peering, not
	// at every pair.
	active map[[2]uint32]struct{}
	dirty  bool
	cands  [][2]uint32 // reused by eval
}

func (m *meshDet) event(e *coreEvent) {
	switch e.kind {
	case evHandshake:
		sd := e.sd
		if sd.dev == sdwan.DeviceVSmart && sd.sys.IsValid() {
			sys := ip4(sd.sys)
			if _, ok := m.vsmarts[sys]; !ok {
				m.dirty = true // (when full: vSmarts gone may leave at the next evaluation)
				if len(m.vsmarts) >= maxMeshVSmarts {
					m.a.stats.MeshUntracked++
					return
				}
				m.vsmarts[sys] = e.now
			}
		}
	case evSessionChanged:
		if e.up && e.s.sides[0].isVSmart() && e.s.sides[1].isVSmart() {
			m.dirty = true
		}
	}
}

func (m *meshDet) tick(now int64) {
	if m.dirty {
		m.dirty = false
		m.eval(now)
	}
}

func (m *meshDet) finish(now int64) { m.unobserved() }

type meshSrc struct{}

// scan looks at the sessions in memory: it drops the vSmarts none of them
// names, and returns the vSmart pairs (lower system-ip first) a session
// between them is up now for and those one was ever seen for.
func (m *meshDet) scan() (up, seen map[[2]uint32]bool) {
	a := m.a
	live := make(map[uint32]bool, len(m.vsmarts))
	up, seen = map[[2]uint32]bool{}, map[[2]uint32]bool{}
	for _, s := range a.sessList {
		for _, sd := range s.sides {
			if v := ip4(sd.sys); sd.sys.IsValid() {
				if _, ok := m.vsmarts[v]; ok {
					live[v] = true
				}
			}
		}
		x, y := ip4(s.sides[0].sys), ip4(s.sides[1].sys)
		if x == 0 || y == 0 || x == y {
			continue
		}
		if x > y {
			x, y = y, x
		}
		p := [2]uint32{x, y}
		if _, ok := m.vsmarts[x]; !ok {
			continue
		}
		if _, ok := m.vsmarts[y]; !ok {
			continue
		}
		if s.ompStart || s.omp != ompNone {
			seen[p] = true
		}
		if s.omp.running() && s.ctl != ctlDown {
			up[p] = true
		}
	}
	if len(live) < len(m.vsmarts) {
		maps.DeleteFunc(m.vsmarts, func(v uint32, _ int64) bool { return !live[v] })
	}
	return up, seen
}

// pairs returns every pair of the vSmarts tracked, lower system-ip first,
// in order.
func (m *meshDet) pairs() (pairs [][2]uint32) {
	vs := slices.Sorted(maps.Keys(m.vsmarts))
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			pairs = append(pairs, [2]uint32{vs[i], vs[j]})
		}
	}
	return pairs
}

func meshSubject(p [2]uint32) string {
	return "vsmarts " + addrOf4(p[0]).String() + "," + addrOf4(p[1]).String()
}

// eval: two vSmarts whose OMP session was seen and is down now, for
// longer than the convergence window, leave the mesh incomplete.
func (m *meshDet) eval(now int64) {
	a := m.a
	up, seen := m.scan()
	// A pair neither seen nor holding a condition has nothing to clear:
	// only the others are looked at, in the order of all pairs.
	cands := m.cands[:0]
	for p := range seen {
		cands = append(cands, p)
	}
	for p := range m.active {
		if !seen[p] {
			cands = append(cands, p)
		}
	}
	slices.SortFunc(cands, cmpPair)
	clear(m.active)
	for _, p := range cands {
		k := condKey{KindVSmartMeshIncomplete, meshSubject(p)}
		if up[p] || !seen[p] {
			a.condClear(k, meshSrc{}, now)
			continue
		}
		m.active[p] = struct{}{}
		if _, ok := a.conds[k]; ok {
			continue
		}
		x, y := addrOf4(p[0]).String(), addrOf4(p[1]).String()
		a.condSet(k, meshSrc{}, now, now, 0, a.cfg.ConvergenceWindow, SevError, "", false, func() string {
			return "The OMP session between vSmarts " + x + " and " + y + " is down: the vSmarts no longer exchange what they hold, " +
				"so edges connected to only one of them miss the others' routes (and vsmart-divergence follows)."
		})
	}
	m.cands = cands[:0]
}

func cmpPair(x, y [2]uint32) int {
	if c := cmp.Compare(x[0], y[0]); c != 0 {
		return c
	}
	return cmp.Compare(x[1], y[1])
}

// meshUnobserved, at the end: vSmart pairs between which the capture never
// showed an OMP session. When the capture evidently sees the controller
// mesh itself (both vSmarts are ends of observed vSmart-to-vSmart sessions,
// and those sessions do not all go through one vSmart, as they would at one
// controller's own link) the pair never peering is a warning; otherwise the
// capture point may simply not see their traffic: info, "not observed".
func (m *meshDet) unobserved() {
	a := m.a
	_, seen := m.scan()
	pairs := m.pairs()
	var vv [][2]uint32 // observed vSmart-to-vSmart sessions
	for _, p := range pairs {
		if seen[p] {
			vv = append(vv, p)
		}
	}
	// the vSmarts common to every observed vSmart-to-vSmart session
	var common []uint32
	if len(vv) > 0 {
		common = []uint32{vv[0][0], vv[0][1]}
		for _, p := range vv[1:] {
			common = slices.DeleteFunc(common, func(v uint32) bool { return v != p[0] && v != p[1] })
		}
	}
	// vSmarts seen in an OMP session with a device that is not a vSmart
	withEdges := map[uint32]bool{}
	for _, s := range a.sessList {
		if !(s.ompStart || s.omp != ompNone) {
			continue
		}
		x, y := ip4(s.sides[0].sys), ip4(s.sides[1].sys)
		_, xv := m.vsmarts[x]
		_, yv := m.vsmarts[y]
		if xv && !yv && y != 0 {
			withEdges[x] = true
		}
		if yv && !xv && x != 0 {
			withEdges[y] = true
		}
	}
	inMesh := func(v uint32) (peers []string) {
		for _, p := range vv {
			switch v {
			case p[0]:
				peers = append(peers, addrOf4(p[1]).String())
			case p[1]:
				peers = append(peers, addrOf4(p[0]).String())
			}
		}
		return peers
	}
	for _, p := range pairs {
		if seen[p] {
			continue
		}
		k := condKey{KindVSmartMeshIncomplete, meshSubject(p)}
		if _, ok := a.conds[k]; ok {
			continue
		}
		since := max(m.vsmarts[p[0]], m.vsmarts[p[1]])
		x, y := addrOf4(p[0]).String(), addrOf4(p[1]).String()
		px, py := inMesh(p[0]), inMesh(p[1])
		// The capture sees each vSmart's own traffic when both are seen in
		// OMP sessions with edges too (not only through one controller's
		// link, where the other vSmarts appear only as its peers).
		ownTraffic := withEdges[p[0]] && withEdges[p[1]]
		// (the session of a pair may have been one the analyzer did not
		// take, at its cap: then the capture does not evidently show it
		// missing)
		refused := a.stats.SessionsRefused > 0
		if len(px) > 0 && len(py) > 0 && (len(common) == 0 || ownTraffic) && !refused {
			a.condSet(k, meshSrc{}, since, a.clock, 0, 0, SevWarning, "", false, func() string {
				how := "not all through one vSmart"
				if len(common) > 0 {
					how = "and both vSmarts' OMP sessions with edges"
				}
				return "vSmarts " + x + " and " + y + " never peered in this capture, although it sees the vSmart mesh (" +
					strconv.Itoa(len(vv)) + " vSmart-to-vSmart OMP sessions, " + how + "; " + x + " with " +
					strings.Join(px, ", ") + ", " + y + " with " + strings.Join(py, ", ") +
					"): the mesh is incomplete, unless their session takes a path this capture point does not see."
			})
			continue
		}
		why := "the capture never shows " + x + " or " + y + " in a session with another vSmart"
		switch {
		case refused:
			why = "the analyzer did not take sessions new while it held Config.MaxSessions (" + strconv.Itoa(a.cfg.MaxSessions) +
				"), and theirs may be one of them"
		case len(px) > 0 && len(py) > 0:
			why = "the vSmart-to-vSmart sessions it shows all go through " + addrOf4(common[0]).String() +
				" (a capture on that controller's link sees no other vSmart pair)"
		case len(px) > 0:
			why = "the capture never shows " + y + " in a session with another vSmart"
		case len(py) > 0:
			why = "the capture never shows " + x + " in a session with another vSmart"
		}
		a.condSet(k, meshSrc{}, since, a.clock, 0, 0, SevInfo, "", false, func() string {
			return "Not observed: the capture shows no OMP session between vSmarts " + x + " and " + y +
				", but " + why + "; either they do not peer (the vSmart mesh is incomplete) or this capture point does not see their traffic."
		})
	}
}

var vSmartMeshIncompleteKind = kindDef{kind: KindVSmartMeshIncomplete, det: &meshDetDef, explainText: explainText{
	sev:     "error; warning or info for a pair never seen",
	subject: "vsmarts <system-ip>,<system-ip>  (lower system-ip first)",
	meaning: "Two vSmarts (devices whose HANDSHAKE says vSmart) are not peering: the OMP session between them was " +
		"seen and has been down for longer than the convergence window; or, reported at the end of the capture, " +
		"the capture never showed a session between them: a warning when the capture evidently sees both vSmarts' " +
		"own traffic (their sessions with edges, or vSmart-to-vSmart sessions not all through one vSmart), else " +
		"info, \"not observed\", which may only mean the capture point does not see their traffic.",
	matters: "vSmarts must form a full mesh to share what each learned; without it an edge attached to one vSmart " +
		"does not learn the routes of edges attached only to the other, and the vSmarts' views diverge.",
	check: "show control connections and show omp peers on each vSmart (the other vSmart should be listed, up); " +
		"show orchestrator connections on the vBond (both vSmarts registered); the vSmarts' reachability, " +
		"certificates (show control connections-history) and the max-control-connections settings.",
	settings: "--convergence-window (Config.ConvergenceWindow), default 15s.",
}}
