package synth

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// detectorAssumptions are the detector parameters the manifests' anomaly
// windows assume (manifest params["detectors"]).
var detectorAssumptions = map[string]any{
	"flap": "more than 5 changes (an announcement or a withdrawal) of one route (vpn, prefix, originator) or one TLOC " +
		"within 60 s; the window runs from the 6th change to when the count in the last 60 s falls back to 5; " +
		"changes are counted on the originator's session to the first vSmart (1.1.1.3)",
	"flap_changes":        5,
	"flap_window_s":       60,
	"divergence_settle_s": 15,
	"divergence": "the two vSmarts advertise different paths of one VPN to the same edge for longer than 15 s; " +
		"shorter differences (one vSmart reflecting a few milliseconds or seconds before the other) are not anomalies",
	"teardown": "a vdaemon TEAR_DOWN on a vManage or OMP control connection; the vBond closing its transient session " +
		"with DISCVBD after registration is normal and not listed",
	"alert":          "an OMP ALERT; the subject is the peer that sent it",
	"hold_expired":   "an OMP speaker's hold timer ran out (no OMP message for the negotiated hold time); the subject is the silent peer",
	"stale_after_gr": "a vSmart still advertises paths of a peer whose session was lost more than the peer's graceful-restart timer ago",
	"subjects":       "as documented in pcaps/manifest: route vpn=V prefix=P originator=IP, tloc IP/color/encap, system-ip IP, site N, peer IP, session C > S, vsmarts A,B vpn=V",
}

// scenarioList is every scenario, in the order --list prints them.
var scenarioList = []Scenario{
	{Name: "baseline", Summary: "convergence and steady state, no anomaly",
		Tail: 20 * time.Second, MinEdges: 2},
	{Name: "tloc-flap", Summary: "an edge's TLOC goes down and up 4 times in 24 s", Anomalies: []string{"tloc-flap"},
		Tail: 31 * time.Second, MinEdges: 2, prepare: prepTLOCFlap, build: buildTLOCFlap},
	{Name: "route-flap", Summary: "an edge withdraws and re-advertises one prefix 4 times in 20 s", Anomalies: []string{"route-flap"},
		Tail: 26 * time.Second, MinEdges: 2, build: buildRouteFlap},
	{Name: "route-withdraw", Summary: "an edge withdraws two prefixes (normal); another withdraws one it never advertised",
		Anomalies: []string{"withdraw-unknown"}, Tail: 15 * time.Second, MinEdges: 2, build: buildRouteWithdraw},
	{Name: "edge-reboot-gr", Summary: "graceful restart (timer 30 s): one edge reboots and refreshes its routes; another dies and vSmart 2 keeps its routes past the GR timer",
		Anomalies: []string{"stale-after-gr", "vsmart-divergence"}, Tail: 58 * time.Second, MinEdges: 3, GRTimer: 30, build: buildRebootGR},
	{Name: "hold-expiry", Summary: "an edge's OMP goes silent (vdaemon keeps running); both vSmarts' hold timers (30 s) expire",
		Anomalies: []string{"hold-expired", "alert"}, Tail: 38 * time.Second, MinEdges: 2, HoldTime: 30, build: buildHoldExpiry},
	{Name: "duplicate-system-ip", Summary: "an edge configured with another edge's system-ip joins the fabric",
		Anomalies: []string{"duplicate-system-ip"}, Tail: 12 * time.Second, MinEdges: 3, prepare: prepDupSystemIP, build: buildDupSystemIP},
	{Name: "site-id-mismatch", Summary: "an edge starts to advertise paths whose SITE_ID differs from its HANDSHAKE site-id",
		Anomalies: []string{"site-id-mismatch"}, Tail: 10 * time.Second, MinEdges: 2, build: buildSiteMismatch},
	{Name: "vsmart-divergence", Summary: "vSmart 2 stops reflecting VPN 20 to the edges",
		Anomalies: []string{"vsmart-divergence"}, Tail: 16 * time.Second, MinEdges: 2, build: buildDivergence},
	{Name: "unresolved-route", Summary: "an edge advertises a route via a TLOC (color gold) it never advertises",
		Anomalies: []string{"unresolved-route"}, Tail: 10 * time.Second, MinEdges: 2, build: buildUnresolved},
	{Name: "tloc-clone", Summary: "an edge advertises another edge's TLOC key with its own addresses",
		Anomalies: []string{"tloc-clone"}, Tail: 10 * time.Second, MinEdges: 2, build: buildTLOCClone},
	{Name: "alert-teardown", Summary: "an edge shuts down (ALERT cease, TEAR_DOWN); vSmart 2 resets another edge, which reconnects",
		Anomalies: []string{"alert", "teardown"}, Tail: 16 * time.Second, MinEdges: 2, build: buildAlertTeardown},
	{Name: "missing-keys", Summary: "one OMP session's key is left out of the key log (and the DSB)",
		Anomalies: []string{"decryption-gap"}, Tail: 10 * time.Second, MinEdges: 2, build: buildMissingKeys},
	{Name: "partial-reflection", Summary: "both vSmarts withhold one edge's new route from one other edge; vSmart 2 never reflects a TLOC an edge brings up",
		Anomalies: []string{"not-distributed"}, Tail: 40 * time.Second, MinEdges: 3, prepare: prepPartialReflection, build: buildPartialReflection},
	{Name: "vsmart-mesh-broken", Summary: "three vSmarts: vSmarts 1 and 3 never peer; vSmart 3 tears down its session with vSmart 2, which stays down",
		Anomalies: []string{"vsmart-mesh-incomplete", "teardown"}, Tail: 25 * time.Second, MinEdges: 2, VSmarts: 3,
		prepare: prepMeshBroken, build: buildMeshBroken},
	{Name: "plaintext-control", Summary: "an edge's control connection to vSmart 1 runs vdaemon and OMP in the clear (UDP on its controller port, no DTLS)",
		Anomalies: []string{"untunnelled-control"}, Tail: 10 * time.Second, MinEdges: 2, build: buildPlaintextControl},
	{Name: "attack-cve-2026-20127", Summary: "a host with a self-signed certificate replays the CVE-2026-20127 exploit (forged CHALLENGE_ACK_ACK, HELLO, SSH key in VMANAGE_TO_PEER): vSmart 1 accepts it, vSmart 2 (patched) tears it down",
		Anomalies: []string{"cve-2026-20127-challenge-bypass", "ssh-key-injection", "rogue-certificate", "teardown"},
		Tail:      22 * time.Second, MinEdges: 2, build: buildAttack20127},
	{Name: "attack-cve-2026-20182", Summary: "a host with a self-signed certificate replays the CVE-2026-20182 exploit (vHub CHALLENGE_ACK, HELLO, SSH key in VMANAGE_TO_PEER): vSmart 1 accepts it; vSmart 2 (patched) tears it down, in a session whose key is not in the key log",
		Anomalies: []string{"cve-2026-20182-vhub-bypass", "ssh-key-injection", "rogue-certificate", "decryption-gap"},
		Tail:      22 * time.Second, MinEdges: 2, build: buildAttack20182},
	{Name: "scale", Summary: "size from the flags (--edges, --routes); hub-and-spoke reflection policy; no anomaly",
		Tail: 5 * time.Second, MinEdges: 2, build: buildScale},
	{Name: "churn", Summary: "a long capture for benchmarks (length: --duration): tables of constant size (--routes, default 5000; --edges, default 4) whose paths keep changing: withdrawals, fresh path-ids, preference changes, TLOC flaps below the flap threshold",
		Tail: 60 * time.Second, MinEdges: 2, DefaultEdges: 4, DefaultRoutes: 5000, noSample: true, prepare: prepChurn, build: buildChurn},
}

// ---- helpers

func routeSubject(vpn uint32, p netip.Prefix, orig netip.Addr) string {
	return fmt.Sprintf("route vpn=%d prefix=%s originator=%s", vpn, p, orig)
}

func tlocSubject(k omp.TLOCKey) string { return "tloc " + k.String() }

func peerSubject(a netip.Addr) string { return "peer " + a.String() }

func sessionSubject(s *session) string {
	return "session " + s.cAddr.String() + " > " + s.sAddr.String()
}

// pickEdge chooses, with the seed, one of the edges that satisfy ok and
// are not in avoid.
func (sm *sim) pickEdge(what string, ok func(e *device) bool, avoid ...*device) (*device, error) {
	var c []*device
	for _, e := range sm.f.edges {
		skip := false
		for _, a := range avoid {
			skip = skip || a == e
		}
		if !skip && ok(e) {
			c = append(c, e)
		}
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("scenario %s: no edge %s (try another --seed or more --edges)", sm.c.sc.Name, what)
	}
	return c[sm.rng.IntN(len(c))], nil
}

func anyEdge(*device) bool { return true }

// usableRoutes returns the indexes of the routes of e that are advertised
// and satisfy ok.
func usableRoutes(e *device, ok func(r *route, c *routeClass) bool) []int {
	var out []int
	for i := range e.routes {
		r := &e.routes[i]
		if !r.down && r.bad == 0 && r.mask != 0 && ok(r, &e.classes[r.cls]) {
			out = append(out, i)
		}
	}
	return out
}

// routeIdx returns the indexes of the first n routes of e that are
// advertised and satisfy ok, or an error when e has fewer.
func (sm *sim) routeIdx(e *device, n int, ok func(r *route, c *routeClass) bool) ([]int, error) {
	if out := usableRoutes(e, ok); len(out) >= n {
		return out[:n], nil
	}
	return nil, fmt.Errorf("scenario %s: %s has fewer than %d routes to use (try more --routes)", sm.c.sc.Name, e.name, n)
}

func anyRoute(*route, *routeClass) bool { return true }

// classOf returns the index of a route class of e in VPN vpn.
func classOf(e *device, vpn uint32) (uint16, bool) {
	for i, c := range e.classes {
		if c.vpn == vpn {
			return uint16(i), true
		}
	}
	return 0, false
}

func v4Primary(e *device) bool { return !e.primary().v6 }

// edgeChanged sends e's changed advertisement to both vSmarts at t; it
// returns the capture time of the first UPDATE on each session (-1 when
// nothing was sent on it).
func (sm *sim) edgeChanged(e *device, t vt) []vt {
	var out []vt
	for i := range sm.f.vsmarts {
		s := e.cur[sm.vsmart(i).idx]
		if s == nil || !s.ompUp() || !s.omp.eor[cli] {
			out = append(out, -1)
			continue
		}
		sm.reconcileDir(s, cli, t)
		out = append(out, s.lastUpd)
	}
	return out
}

// once adds an anomaly computed at the end of the run.
func (sm *sim) anomaly(fn func() []manifest.Anomaly) { sm.anoms = append(sm.anoms, fn) }

// window turns capture times into manifest times (end < 0: to the end).
func (sm *sim) window(kind, subject string, start, end vt, note string) manifest.Anomaly {
	a := manifest.Anomaly{Kind: kind, Subject: subject, Start: sm.ts(start), Note: note}
	if end >= 0 && end < sm.end {
		a.End = sm.ts(end)
	}
	return a
}

// flapWindow is when "more than limit changes within win" holds for
// changes at times ts: from the (limit+1)-th change until the count falls
// back to limit. ok is false when it never holds.
func flapWindow(ts []vt, limit int, win vt) (start, end vt, ok bool) {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	for i := limit; i < len(ts); i++ {
		if ts[i]-ts[i-limit] < win {
			if !ok {
				start, ok = ts[i], true
			}
			if e := ts[i-limit] + win; e > end {
				end = e
			}
		} else if ok && ts[i] >= end {
			break
		}
	}
	return start, end, ok
}

// minT is the earliest non-negative time of ts (-1 if none).
func minT(ts ...vt) vt {
	m := vt(-1)
	for _, t := range ts {
		if t >= 0 && (m < 0 || t < m) {
			m = t
		}
	}
	return m
}

func maxT(ts ...vt) vt {
	m := vt(-1)
	for _, t := range ts {
		if t > m {
			m = t
		}
	}
	return m
}

// ---- scenarios

// tloc-flap: the flapping TLOC carries no routes or services (they use the
// edge's other TLOCs), so that only the TLOC flaps.
func prepTLOCFlap(sm *sim) error {
	e, _, err := sm.spareTLOC()
	if err != nil {
		return err
	}
	sm.role = map[string]*device{"flap": e}
	return nil
}

// spareTLOC picks an edge with two TLOCs or more and moves its routes and
// services off its last TLOC, which then carries nothing: a scenario can
// make it misbehave without any route depending on it. It returns the
// edge and the TLOC's index.
func (sm *sim) spareTLOC() (*device, int, error) {
	e, err := sm.pickEdge("with two TLOCs", func(e *device) bool { return len(e.tlocs) >= 2 })
	if err != nil {
		return nil, 0, err
	}
	k := len(e.tlocs) - 1
	for i := range e.routes {
		e.routes[i].mask &^= 1 << k
	}
	for i := range e.services {
		if e.services[i].tloc == k {
			e.services[i].tloc = 0
		}
	}
	return e, k, nil
}

func buildTLOCFlap(sm *sim) error {
	e := sm.role["flap"]
	k := len(e.tlocs) - 1
	key := e.tlocKey(k)
	sm.flap(e, 3*vtSec, func(i int) { e.tlocs[k].up = i%2 == 1 }, "tloc-flap", tlocSubject(key),
		func(n int) string {
			return fmt.Sprintf("%s's TLOC %s withdrawn and advertised again %d times", e.name, key, n/2)
		})
	return nil
}

// flap toggles something of edge e eight times, every period (with a
// little jitter), starting 3 s after steady state, and declares the flap
// anomaly of the given kind and subject that the analyzer's default rule
// (more than 5 changes within 60 s) finds in the changes e sent.
func (sm *sim) flap(e *device, period vt, toggle func(i int), kind, subject string, note func(changes int) string) {
	var changes []vt
	t0 := sm.steady() + 3*vtSec
	for i := 0; i < 8; i++ {
		t := t0 + vt(i)*period + sm.jitter(300*vtMS)
		sm.at(t, func() {
			toggle(i)
			if ts := sm.edgeChanged(e, t); ts[0] >= 0 {
				changes = append(changes, ts[0])
			}
		})
	}
	sm.anomaly(func() []manifest.Anomaly {
		s, end, ok := flapWindow(changes, 5, 60*vtSec)
		if !ok {
			return nil
		}
		return []manifest.Anomaly{sm.window(kind, subject, s, end, note(len(changes)))}
	})
}

func buildRouteFlap(sm *sim) error {
	e, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	idx, err := sm.routeIdx(e, 1, func(r *route, c *routeClass) bool { return c.vpn == 10 && r.prefix.Addr().Is4() })
	if err != nil {
		return err
	}
	ri := idx[0] // its first IPv4 route in VPN 10
	r := e.routes[ri]
	vpn := e.classes[r.cls].vpn
	sm.flap(e, 2500*vtMS, func(i int) { e.routes[ri].down = i%2 == 0 }, "route-flap", routeSubject(vpn, r.prefix, e.sysIP),
		func(n int) string {
			return fmt.Sprintf("%s withdraws and advertises the prefix again, %d changes", e.name, n)
		})
	return nil
}

func buildRouteWithdraw(sm *sim) error {
	e, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	u, err := sm.pickEdge("", anyEdge, e)
	if err != nil {
		return err
	}
	wd, err := sm.routeIdx(e, 2, anyRoute)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	sm.at(t0, func() {
		// a normal withdrawal: two prefixes the edge advertised
		e.routes[wd[0]].down = true
		e.routes[wd[1]].down = true
		sm.edgeChanged(e, t0)
	})
	bogus := netip.MustParsePrefix("10.250.99.0/24")
	var at []vt
	t1 := t0 + 5*vtSec + sm.jitter(vtSec)
	sm.at(t1, func() {
		// a withdrawal of a path u never advertised
		for i := range sm.f.vsmarts {
			s := u.cur[sm.vsmart(i).idx]
			if s == nil || !s.ompUp() {
				continue
			}
			sm.sendPaths(s, cli, t1, []ribKey{{omp.FamilyRouteV4, omp.NLRI{PathID: 1, VPN: 10, Prefix: bogus}}}, nil)
			at = append(at, s.lastUpd)
		}
	})
	sm.anomaly(func() []manifest.Anomaly {
		if len(at) == 0 {
			return nil
		}
		a := sm.window("withdraw-unknown", routeSubject(10, bogus, u.sysIP), minT(at...), maxT(at...),
			u.name+" withdraws a prefix it never advertised, on its sessions to both vSmarts")
		a.End = sm.ts(maxT(at...))
		return []manifest.Anomaly{a}
	})
	sm.params["normal_withdrawals"] = fmt.Sprintf("%s withdraws %s and %s (no anomaly)", e.name, e.routes[wd[0]].prefix, e.routes[wd[1]].prefix)
	return nil
}

// edge-reboot-gr: edge A reboots and comes back within its GR timer; edge
// B dies. vSmart 1 flushes B's paths when the GR timer runs out; vSmart 2
// (the fault this scenario shows) keeps advertising them.
func buildRebootGR(sm *sim) error {
	a, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	b, err := sm.pickEdge("", anyEdge, a)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	back := t0 + 20*vtSec
	all := usableRoutes(a, anyRoute)
	if len(all) == 0 {
		return fmt.Errorf("scenario %s: %s advertises no route", sm.c.sc.Name, a.name)
	}
	gi := all[len(all)-1]
	gone := a.routes[gi]
	sm.at(t0, func() {
		sm.kill(a, t0)
		// after the reboot the edge no longer has one of its prefixes
		a.routes[gi].down = true
	})
	a.hop = 1
	sm.planEdgeBoot(a, back, true, true)
	tb := t0 + 2*vtSec + sm.jitter(vtSec)
	sm.at(tb, func() { sm.kill(b, tb) })
	v1, v2 := sm.vst[sm.vsmart(0).idx], sm.vst[sm.vsmart(1).idx]
	v2.learn(b).staleBug = true
	var flush1, exp2 vt = -1, -1
	v1.learn(b).grDone = append(v1.learn(b).grDone, func(t vt, flushed bool) { flush1 = t })
	v2.learn(b).grDone = append(v2.learn(b).grDone, func(t vt, flushed bool) { exp2 = t })
	sm.params["rebooted_edge"] = fmt.Sprintf("%s (%s) reboots at %v and reconnects at %v, within its GR timer; "+
		"it no longer advertises %s, which the vSmarts withdraw at its END_OF_RIB (no anomaly)",
		a.name, a.sysIP, time.Duration(t0), time.Duration(back), gone.prefix)
	sm.params["dead_edge"] = fmt.Sprintf("%s (%s) dies at %v and never returns", b.name, b.sysIP, time.Duration(tb))
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		if exp2 >= 0 {
			note := fmt.Sprintf("vSmart 1.1.1.4 keeps %s's paths after its GR timer (30 s) ran out", b.name)
			seen := map[string]bool{}
			for _, r := range b.routes {
				vpn := b.classes[r.cls].vpn
				sub := routeSubject(vpn, r.prefix, b.sysIP)
				if !seen[sub] {
					seen[sub] = true
					out = append(out, sm.window("stale-after-gr", sub, exp2, -1, note))
				}
			}
			for k := range b.tlocs {
				out = append(out, sm.window("stale-after-gr", tlocSubject(b.tlocKey(k)), exp2, -1, note))
			}
		}
		if flush1 >= 0 {
			vpns := map[uint32]bool{}
			for _, r := range b.routes {
				vpns[b.classes[r.cls].vpn] = true
			}
			for _, s := range b.services {
				vpns[s.vpn] = true
			}
			var vs []int
			for v := range vpns {
				vs = append(vs, int(v))
			}
			sort.Ints(vs)
			for _, v := range vs {
				out = append(out, sm.window("vsmart-divergence", fmt.Sprintf("vsmarts %s,%s vpn=%d", sm.vsmart(0).sysIP, sm.vsmart(1).sysIP, v),
					flush1, -1, fmt.Sprintf("vSmart 1.1.1.3 withdrew %s's paths at the end of its GR timer, vSmart 1.1.1.4 did not", b.name)))
			}
		}
		return out
	})
	return nil
}

func buildHoldExpiry(sm *sim) error {
	h, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	sm.at(t0, func() {
		for i := range sm.f.vsmarts {
			if s := h.cur[sm.vsmart(i).idx]; s != nil && s.omp != nil {
				s.omp.hung[cli] = true
			}
		}
	})
	var alerts [2]vt
	for i := range sm.f.vsmarts {
		i := i
		for _, s := range sm.sessions {
			if s.client == h && s.server == sm.vsmart(i) {
				s.onAlert = func(side int, t vt) {
					if side == srv {
						alerts[i] = t
					}
				}
			}
		}
	}
	sm.params["silent_edge"] = fmt.Sprintf("%s (%s): its OMP stops at %v, its vdaemon HELLOs go on", h.name, h.sysIP, time.Duration(t0))
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		first := minT(alerts[0], alerts[1])
		if first > 0 {
			out = append(out, sm.window("hold-expired", peerSubject(h.sysIP), first, -1,
				fmt.Sprintf("no OMP message from %s for the 30 s hold time; vSmarts withdraw its paths", h.name)))
		}
		for i, t := range alerts {
			if t > 0 {
				a := sm.window("alert", peerSubject(sm.vsmart(i).sysIP), t, t, "ALERT hold-timer-expired to "+h.sysIP.String())
				a.End = a.Start
				out = append(out, a)
			}
		}
		return out
	})
	return nil
}

// duplicate-system-ip: the last edge gets the system-ip of another, joins
// after the fabric converged, and uses TLOC colors the other does not
// (so no TLOC key is shared: only the system-ip is).
func prepDupSystemIP(sm *sim) error {
	d := sm.f.edges[len(sm.f.edges)-1]
	o, err := sm.pickEdge("", anyEdge, d)
	if err != nil {
		return err
	}
	d.sysIP = o.sysIP
	d.siteID, d.siteAttr = o.siteID, o.siteID
	for k, t := range d.tlocs {
		t.color = sdwan.ColorPrivate1 + sdwan.Color(k+1) // private2.. : none of the colors edges get
	}
	sm.bootAt[d.idx] = -1 // it boots after the others converged (build)
	sm.role = map[string]*device{"dup": d, "orig": o}
	return nil
}

func buildDupSystemIP(sm *sim) error {
	d, o := sm.role["dup"], sm.role["orig"]
	tb := sm.steady() + 2*vtSec
	ss := sm.planEdgeBoot(d, tb, true, true)
	var up []vt
	for _, s := range ss {
		if s.kind == kindOMP {
			s.onUp = append(s.onUp, func(t vt) { up = append(up, t) })
		}
	}
	sm.params["duplicate"] = fmt.Sprintf("%s is configured with %s's system-ip %s (same site %d, other TLOC colors) and joins at %v",
		d.name, o.name, o.sysIP, o.siteID, time.Duration(tb))
	sm.anomaly(func() []manifest.Anomaly {
		if len(up) == 0 {
			return nil
		}
		return []manifest.Anomaly{sm.window("duplicate-system-ip", "system-ip "+o.sysIP.String(), minT(up...), -1,
			fmt.Sprintf("%s and %s both peer with the vSmarts as %s", o.name, d.name, o.sysIP))}
	})
	return nil
}

func buildSiteMismatch(sm *sim) error {
	e, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	var at []vt
	sm.at(t0, func() {
		e.siteAttr = e.siteID + 1000
		at = sm.edgeChanged(e, t0)
	})
	sm.anomaly(func() []manifest.Anomaly {
		if s := minT(at...); s >= 0 {
			return []manifest.Anomaly{sm.window("site-id-mismatch", fmt.Sprintf("site %d", e.siteID), s, -1,
				fmt.Sprintf("%s (%s) says site %d in its HANDSHAKE; its paths carry SITE_ID %d", e.name, e.sysIP, e.siteID, e.siteID+1000))}
		}
		return nil
	})
	return nil
}

func buildDivergence(sm *sim) error {
	v2 := sm.vst[sm.vsmart(1).idx]
	t0 := sm.steady() + 3*vtSec
	var first vt = -1
	sm.at(t0, func() {
		v2.dropVPN, v2.dropFrom = 20, t0
		for _, s := range v2.sessions {
			if s.ompUp() && s.dev(1-s.sideOf(v2.dev)).typ == sdwan.DeviceVEdge {
				sm.reconcileDir(s, s.sideOf(v2.dev), t0)
				if s.lastUpd >= 0 && (first < 0 || s.lastUpd < first) {
					first = s.lastUpd
				}
			}
		}
	})
	// later, an edge adds a VPN 20 prefix: vSmart 1 reflects it, vSmart 2 does not
	e, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	t1 := t0 + 8*vtSec
	p := netip.MustParsePrefix("10.250.20.0/24")
	cls, ok := classOf(e, 20)
	if !ok {
		return fmt.Errorf("scenario %s: %s has no VPN 20 routes", sm.c.sc.Name, e.name)
	}
	sm.at(t1, func() {
		e.routes = append(e.routes, route{prefix: p, cls: cls, mask: allTLOCs(e)})
		sm.edgeChanged(e, t1)
	})
	sm.params["divergence"] = fmt.Sprintf("vSmart 2 stops reflecting VPN 20 at %v and withdraws its VPN 20 paths from the edges; "+
		"at %v %s advertises %s in VPN 20, which only vSmart 1 reflects", time.Duration(t0), time.Duration(t1), e.name, p)
	sm.anomaly(func() []manifest.Anomaly {
		if first < 0 {
			return nil
		}
		return []manifest.Anomaly{sm.window("vsmart-divergence", fmt.Sprintf("vsmarts %s,%s vpn=20", sm.vsmart(0).sysIP, sm.vsmart(1).sysIP),
			first, -1, "vSmart 1.1.1.4 no longer reflects VPN 20 to the edges")}
	})
	return nil
}

func buildUnresolved(sm *sim) error {
	e, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	p := netip.MustParsePrefix("10.250.10.0/24")
	var at []vt
	sm.at(t0, func() {
		e.routes = append(e.routes, route{prefix: p, cls: 0, bad: sdwan.ColorGold})
		at = sm.edgeChanged(e, t0)
	})
	sm.anomaly(func() []manifest.Anomaly {
		if s := minT(at...); s >= 0 {
			k := omp.TLOCKey{SystemIP: e.sysIP, Color: sdwan.ColorGold, Encap: sdwan.EncapIPsec}
			return []manifest.Anomaly{sm.window("unresolved-route", routeSubject(10, p, e.sysIP), s, -1,
				fmt.Sprintf("its TLOC %s is never advertised", k))}
		}
		return nil
	})
	return nil
}

func buildTLOCClone(sm *sim) error {
	o, err := sm.pickEdge("with an IPv4 primary TLOC", v4Primary)
	if err != nil {
		return err
	}
	c, err := sm.pickEdge("with an IPv4 primary TLOC", v4Primary, o)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	var at []vt
	sm.at(t0, func() {
		c.cloneOf = o
		at = sm.edgeChanged(c, t0)
	})
	key := o.tlocKey(0)
	sm.anomaly(func() []manifest.Anomaly {
		if s := minT(at...); s >= 0 {
			return []manifest.Anomaly{sm.window("tloc-clone", tlocSubject(key), s, -1,
				fmt.Sprintf("%s advertises %s's TLOC key with its own addresses %s / %s", c.name, o.name, c.primary().priv, c.primary().pub))}
		}
		return nil
	})
	return nil
}

func buildAlertTeardown(sm *sim) error {
	x, err := sm.pickEdge("", anyEdge)
	if err != nil {
		return err
	}
	y, err := sm.pickEdge("", anyEdge, x)
	if err != nil {
		return err
	}
	t0 := sm.steady() + 3*vtSec
	var xAlerts, xTears, yAlert, yTear []vt
	sm.at(t0, func() {
		// x is shut down: ALERT cease/admin-shutdown to each vSmart, then
		// TEAR_DOWN on every control connection
		for i := range sm.f.vsmarts {
			if s := x.cur[sm.vsmart(i).idx]; s != nil {
				if a := sm.alert(s, cli, t0, omp.AlertCease, omp.CeaseAdminDown); a >= 0 {
					xAlerts = append(xAlerts, a)
				}
			}
		}
		t := t0 + 5*vtMS
		sm.at(t, func() {
			for _, s := range []*session{x.cur[sm.f.vmanage.idx], x.cur[sm.vsmart(0).idx], x.cur[sm.vsmart(1).idx]} {
				if s != nil {
					if a := sm.teardown(s, cli, t, 0); a >= 0 {
						xTears = append(xTears, a)
					}
				}
			}
		})
	})
	// vSmart 2 resets y's session; y reconnects 2 s later
	t1 := t0 + 5*vtSec
	y.hop = 1
	ys := sm.planEdgeSessions(y, t1+800*vtMS, false, false, []int{1})[0]
	y.hop = 0
	sm.at(t1, func() {
		s := y.cur[sm.vsmart(1).idx]
		if s == nil {
			return
		}
		if a := sm.alert(s, srv, t1, omp.AlertCease, omp.CeaseAdminReset); a >= 0 {
			yAlert = append(yAlert, a)
		}
		t := t1 + 5*vtMS
		sm.at(t, func() {
			if a := sm.teardown(s, srv, t, sdwan.ConnRXTRDWN); a >= 0 {
				yTear = append(yTear, a)
			}
		})
	})
	sm.params["shutdown_edge"] = fmt.Sprintf("%s (%s) is shut down at %v", x.name, x.sysIP, time.Duration(t0))
	sm.params["reset_edge"] = fmt.Sprintf("vSmart 2 resets %s (%s) at %v; it reconnects from port-hopping step 1 (session %d)",
		y.name, y.sysIP, time.Duration(t1), ys.id)
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		add := func(kind string, who netip.Addr, ts []vt, note string) {
			if len(ts) > 0 {
				a := sm.window(kind, peerSubject(who), minT(ts...), -1, note)
				a.End = sm.ts(maxT(ts...))
				out = append(out, a)
			}
		}
		add("alert", x.sysIP, xAlerts, "ALERT cease (admin-shutdown) to both vSmarts")
		add("teardown", x.sysIP, xTears, "TEAR_DOWN on its vManage and vSmart connections")
		add("alert", sm.vsmart(1).sysIP, yAlert, "ALERT cease (admin-reset) to "+y.sysIP.String())
		add("teardown", sm.vsmart(1).sysIP, yTear, "TEAR_DOWN (RXTRDWN) to "+y.sysIP.String())
		return out
	})
	return nil
}

func buildMissingKeys(sm *sim) error {
	var cands []*session
	for _, s := range sm.sessions {
		if s.kind == kindOMP && s.client.typ == sdwan.DeviceVEdge && s.server == sm.vsmart(0) && s.transport == "dtls" {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("scenario %s: no DTLS edge-vSmart session", sm.c.sc.Name)
	}
	s := cands[sm.rng.IntN(len(cands))]
	s.keyInLog = false
	sm.anomaly(func() []manifest.Anomaly {
		if s.firstApp < 0 {
			return nil
		}
		return []manifest.Anomaly{sm.window("decryption-gap", sessionSubject(s), s.firstApp, -1,
			fmt.Sprintf("the key of %s's session to %s is not in the key log", s.client.name, s.server.name))}
	})
	return nil
}

func buildScale(sm *sim) error {
	size := (sm.c.Edges + 3) / 4
	if sm.c.Edges >= 200 {
		size = 50
	}
	sm.params["reflect_policy"] = "hub-and-spoke by region: edges are grouped into regions of " + itoa(size) +
		" in order (edge1-edge" + itoa(size) + " is region 0, and so on) and the first edge of each region is its hub; " +
		"a vSmart reflects to a hub the paths of every edge of its region, to a spoke the paths of its region's hub only, " +
		"and to the other vSmart everything it learned from edges."
	sm.params["region_size"] = size
	return nil
}

// partial-reflection: the TLOC vSmart 2 withholds carries no routes or
// services (so no route of the fabric depends on it) and is down until
// the fault starts.
func prepPartialReflection(sm *sim) error {
	o, k, err := sm.spareTLOC()
	if err != nil {
		return err
	}
	o.tlocs[k].up = false
	sm.role = map[string]*device{"tloc": o}
	return nil
}

// buildPartialReflection: after convergence edge E advertises a new VPN 10
// prefix, which both vSmarts reflect to every edge but F (F keeps getting
// E's other routes in VPN 10, so it is an expected receiver); a second
// later edge O brings up a TLOC that vSmart 1 reflects and vSmart 2
// reflects to no one. Both go unnoticed by the other detectors: the
// vSmarts agree on what F gets (no divergence), and no route uses the
// TLOC (nothing unresolved).
func buildPartialReflection(sm *sim) error {
	if !sm.c.track {
		return fmt.Errorf("scenario %s needs --tables full", sm.c.sc.Name)
	}
	o := sm.role["tloc"]
	e, err := sm.pickEdge("with VPN 10 routes", func(d *device) bool { _, ok := classOf(d, 10); return ok }, o)
	if err != nil {
		return err
	}
	f, err := sm.pickEdge("", anyEdge, e, o)
	if err != nil {
		return err
	}
	cls, _ := classOf(e, 10)
	p := netip.MustParsePrefix("10.250.10.0/24")
	for i := range sm.f.vsmarts {
		sm.vst[sm.vsmart(i).idx].withhold = func(peer, from *device, k *ribKey) bool {
			return peer == f && from == e && k.fam.IsRoute() && k.n.VPN == 10 && k.n.Prefix == p
		}
	}
	k := len(o.tlocs) - 1
	key := o.tlocKey(k)
	v2 := sm.vst[sm.vsmart(1).idx]
	prev := v2.withhold
	v2.withhold = func(peer, from *device, rk *ribKey) bool {
		if from == o && rk.fam.IsTLOC() && rk.n.SystemIP == key.SystemIP && rk.n.Color == key.Color && rk.n.Encap == key.Encap {
			return true
		}
		return prev(peer, from, rk)
	}
	t0 := sm.steady() + 3*vtSec
	var rAt, tAt []vt
	sm.at(t0, func() {
		e.routes = append(e.routes, route{prefix: p, cls: cls, mask: allTLOCs(e)})
		rAt = sm.edgeChanged(e, t0)
	})
	t1 := t0 + vtSec + sm.jitter(200*vtMS)
	sm.at(t1, func() {
		o.tlocs[k].up = true
		tAt = sm.edgeChanged(o, t1)
	})
	win := 30 * vtSec // the analyzer's default distribution window
	sm.params["partial_reflection"] = fmt.Sprintf("at %v %s (%s) advertises %s in VPN 10; both vSmarts reflect it to every edge but %s (%s). "+
		"At %v %s (%s) brings up its TLOC %s (it carries no routes or services); vSmart 1 reflects it, vSmart 2 reflects it to no one",
		time.Duration(t0), e.name, e.sysIP, p, f.name, f.sysIP, time.Duration(t1), o.name, o.sysIP, key)
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		if s := minT(rAt...); s >= 0 && s+win < sm.end {
			out = append(out, sm.window("not-distributed", routeSubject(10, p, e.sysIP), s, -1,
				fmt.Sprintf("neither vSmart reflects it to %s (%s), which gets %s's other VPN 10 routes", f.name, f.sysIP, e.name)))
		}
		if len(tAt) == 2 && tAt[1] >= 0 && tAt[1]+win < sm.end {
			out = append(out, sm.window("not-distributed", tlocSubject(key), tAt[1], -1,
				"vSmart 1.1.1.4 reflects it on none of its other OMP sessions"))
		}
		return out
	})
	return nil
}

// vsmart-mesh-broken: three vSmarts; 1.1.1.3 and 1.1.1.5 are never
// configured to peer; 1.1.1.5 tears down its session with 1.1.1.4 after
// convergence, and it stays down. Every edge peers with all three
// vSmarts, so the edges still get every path from each (no divergence).
func prepMeshBroken(sm *sim) error {
	if len(sm.f.vsmarts) != 3 {
		return fmt.Errorf("scenario %s needs three vSmarts", sm.c.sc.Name)
	}
	sm.noPeer = map[[2]int]bool{{0, 2}: true}
	return nil
}

func buildMeshBroken(sm *sim) error {
	v1, v2, v3 := sm.vsmart(0), sm.vsmart(1), sm.vsmart(2)
	var s *session
	for _, x := range sm.sessions {
		if x.kind == kindOMP && x.client == v3 && x.server == v2 {
			s = x
		}
	}
	if s == nil {
		return fmt.Errorf("scenario %s: no session between %s and %s", sm.c.sc.Name, v3.name, v2.name)
	}
	t0 := sm.steady() + 3*vtSec
	var tear vt = -1
	sm.at(t0, func() { tear = sm.teardown(s, cli, t0, 0) }) // NOERR: the peering is removed
	sm.params["mesh"] = fmt.Sprintf("vSmarts %s and %s never peer; at %v %s tears down (NOERR) its OMP session with %s (session %d), which stays down; "+
		"every edge peers with all three vSmarts", v1.sysIP, v3.sysIP, time.Duration(t0), v3.sysIP, v2.sysIP, s.id)
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		h1, ok1 := sm.firstHS[v1.idx]
		h3, ok3 := sm.firstHS[v3.idx]
		if ok1 && ok3 {
			out = append(out, sm.window("vsmart-mesh-incomplete", fmt.Sprintf("vsmarts %s,%s", v1.sysIP, v3.sysIP), max(h1, h3), -1,
				"never peered (from when both were seen); the capture sees both vSmarts' sessions with the edges, "+
					"so the missing pair is an alarm, not a gap in what the capture could see"))
		}
		if tear >= 0 && tear+15*vtSec < sm.end {
			out = append(out, sm.window("vsmart-mesh-incomplete", fmt.Sprintf("vsmarts %s,%s", v2.sysIP, v3.sysIP), tear, -1,
				"their OMP session went down and stays down"))
			a := sm.window("teardown", peerSubject(v3.sysIP), tear, tear, "TEAR_DOWN (NOERR) to "+v2.sysIP.String())
			a.End = a.Start
			out = append(out, a)
		}
		return out
	})
	return nil
}

// plaintext-control: one edge's OMP session with vSmart 1 runs without
// DTLS: the challenge exchange, the HELLOs and OMP (HANDSHAKE, tables,
// END_OF_RIB, HELLOs) go straight in UDP payloads between the same ports a
// DTLS session would use. Everything else, the edge's session with vSmart
// 2 included, is normal. The clear messages are no DTLS/TLS records: the
// manifest's record counts and plaintext_sha256 leave them out, and
// params["clear_messages"] counts them.
//
// An analyzer cannot tell client from server in the clear (there is no
// ClientHello): ompscope takes the sender of the first message, here the
// vSmart's CHALLENGE, as the client, so the subject is
// "session <vSmart ip:port> > <edge ip:port>".
func buildPlaintextControl(sm *sim) error {
	e, err := sm.pickEdge("with DTLS control connections", func(d *device) bool { return !d.tlsCtl })
	if err != nil {
		// every edge uses TLS (--tls-fraction 1): the clear connection
		// is UDP all the same, on the port a DTLS session would use
		if e, err = sm.pickEdge("", anyEdge); err != nil {
			return err
		}
	}
	v := sm.vsmart(0)
	var s *session
	for _, x := range sm.sessions {
		if x.kind == kindOMP && x.client == e && x.server == v {
			s = x
		}
	}
	if s == nil {
		return fmt.Errorf("scenario %s: no session between %s and %s", sm.c.sc.Name, e.name, v.name)
	}
	s.clear, s.transport, s.suite, s.ems, s.tcp = true, "udp", suite{}, false, nil
	port := uint16(12346)
	if v.cores > 1 {
		port += uint16(100 * (int(e.sysIP.As4()[3]) % v.cores))
	}
	s.sAddr = netip.AddrPortFrom(s.sAddr.Addr(), port)
	sm.params["plaintext_control"] = fmt.Sprintf("%s (%s) runs its control connection to %s (session %d, %s > %s) without DTLS: "+
		"vdaemon and OMP in the clear; these messages are not records (not in records, decryptable_records or plaintext_sha256: "+
		"clear_messages counts them)", e.name, e.sysIP, v.sysIP, s.id, s.cAddr, s.sAddr)
	sm.anomaly(func() []manifest.Anomaly {
		if s.firstApp < 0 {
			return nil
		}
		end := vt(-1)
		if s.closed {
			end = s.lastApp
		}
		return []manifest.Anomaly{sm.window("untunnelled-control", "session "+s.sAddr.String()+" > "+s.cAddr.String(), s.firstApp, end,
			fmt.Sprintf("%s's control connection to %s carries vdaemon and OMP outside any DTLS/TLS session "+
				"(the subject's first address is the sender of the first message, the vSmart's CHALLENGE)", e.name, v.sysIP))}
	})
	return nil
}
