package analyze

import "time"

// route-flap and tloc-flap: one path changed (advertised again, changed or
// withdrawn by UPDATEs; not its first advertisement, not a session-down
// flush) more than N times within W, as seen on one session direction.
// The condition starts at the change that makes N+1 and ends when the
// count falls back to N (the (N+1)-th most recent change leaves the
// window). It follows the simulator's definition. The detector reads the
// row's own history (which the core keeps for at least the longest window)
// and keeps the subject of each flapping row.

// The notices of this detector.
const (
	KindRouteFlap Kind = "route-flap"
	KindTLOCFlap  Kind = "tloc-flap"
)

var flapDetDef = detectorDef{name: "flap", make: func(a *Analyzer) detector { return &flapDet{a: a, subj: map[*row]string{}, till: map[*row]int64{}} },
	flags: []Flag{
		{Name: "route-flap-count", Usage: "route-flap: more than this many changes of one route path ...",
			Int: func(c *Config) *int { return &c.RouteFlapCount }, DefInt: DefaultFlapCount},
		{Name: "route-flap-window", Usage: "... within this window",
			Dur: func(c *Config) *time.Duration { return &c.RouteFlapWindow }, DefDur: DefaultFlapWindow},
		{Name: "tloc-flap-count", Usage: "tloc-flap: more than this many changes of one TLOC path ...",
			Int: func(c *Config) *int { return &c.TLOCFlapCount }, DefInt: DefaultFlapCount},
		{Name: "tloc-flap-window", Usage: "... within this window",
			Dur: func(c *Config) *time.Duration { return &c.TLOCFlapWindow }, DefDur: DefaultFlapWindow},
	}}

type flapDet struct {
	a    *Analyzer
	subj map[*row]string // subject of the flap condition of each flapping row
	till map[*row]int64  // flapping until then
}

func (d *flapDet) rowChanged(c *rowChange) {
	if c.counted && c.r.grp.key.kind != kService {
		d.check(c.r, c.new, c.old, c.now, c.frame)
	}
}

// check runs after an UPDATE-driven change of r at now.
func (d *flapDet) check(r *row, at, old *Attrs, now int64, frame uint64) {
	a := d.a
	kind, n, w := KindRouteFlap, a.cfg.RouteFlapCount, int64(a.cfg.RouteFlapWindow)
	if r.grp.key.kind == kTLOC {
		kind, n, w = KindTLOCFlap, a.cfg.TLOCFlapCount, int64(a.cfg.TLOCFlapWindow)
	}
	if r.n() <= n {
		return
	}
	cnt := 0
	var nth int64 // time of the (n+1)-th most recent change
	for i := r.n() - 1; i >= 0; i-- {
		v := r.ver(i)
		if v.t <= now-w {
			break
		}
		if v.counted() {
			cnt++
			if cnt == n+1 {
				nth = v.t
			}
		}
	}
	if cnt <= n {
		return
	}
	until := nth + w
	if d.till[r] != 0 {
		// already flapping: the condition lasts longer
		d.till[r] = until
		if c := a.conds[condKey{kind, d.subj[r]}]; c != nil {
			c.last = now
			c.ev.add(frame, a.cfg.MaxEvidence)
			if c.anom != nil {
				c.anom.Evidence, c.anom.EvidenceCount = c.ev.frames, c.ev.count
			}
		}
		return
	}
	ka := at
	if ka == nil {
		ka = old
	}
	subject := rowSubject(r, ka)
	d.till[r] = until
	d.subj[r] = subject
	t := r.tab()
	what := "Route " + subject[len("route "):]
	if kind == KindTLOCFlap {
		what = "TLOC " + subject[len("tloc "):]
	}
	dirn := sideDesc(t.from) + " → " + sideDesc(t.to)
	win := time.Duration(w).String()
	k := condKey{kind, subject}
	a.condSet(k, r, now, now, frame, 0, SevWarning, t.sess.id, false, func() string {
		cnt := 0
		if c := a.conds[k]; c != nil {
			cnt = c.ev.count
		}
		return what + " changed more than " + itoa(uint32(n)) + " times within " + win +
			" (advertised, changed or withdrawn by UPDATEs; first seen on " + dirn + "; " +
			itoa(uint32(min(uint64(cnt), 1<<31))) + " change(s) counted while flapping): every change is recomputed and re-sent across the fabric."
	})
	d.arm(r, k)
}

func (d *flapDet) arm(r *row, k condKey) {
	a := d.a
	a.after(d.till[r], func(now int64) {
		if d.till[r] == 0 || d.subj[r] != k.subject {
			return
		}
		if now < d.till[r] {
			d.arm(r, k)
			return
		}
		delete(d.till, r)
		delete(d.subj, r)
		if c := a.conds[k]; c != nil && c.anom != nil {
			c.anom.Explanation = c.explainFn()
		}
		a.condClear(k, r, now)
	})
}

var tLOCFlapKind = kindDef{kind: KindTLOCFlap, det: &flapDetDef, explainText: explainText{
	sev:     "warning",
	subject: "tloc <system-ip>/<color>/<encap>",
	meaning: "One TLOC path was advertised, changed or withdrawn by UPDATEs more than N times within a window W, " +
		"as seen on one session direction. Withdrawals caused by a session going down are not counted (they are " +
		"peer-state events).",
	matters: "Every TLOC change is re-sent by the vSmarts to every edge, and every edge recomputes its tunnels and " +
		"the routes that use the TLOC: a flapping TLOC churns the whole fabric and drops traffic each time it goes.",
	check: "show omp tlocs ip <system-ip> (on an edge and on the vSmarts); on the device that owns it: " +
		"show control connections, show control connections-history, show interface (transport link flaps), " +
		"show bfd sessions, show tunnel statistics.",
	settings: "--tloc-flap-count N (Config.TLOCFlapCount, default 5) and --tloc-flap-window W " +
		"(Config.TLOCFlapWindow, default 60s): fires on more than N changes within W. The anomaly starts at the " +
		"first change of the window that crossed the threshold and ends at the last change; it closes when W passes " +
		"without a change.",
}}

var routeFlapKind = kindDef{kind: KindRouteFlap, det: &flapDetDef, explainText: explainText{
	sev:     "warning",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
	meaning: "One route path was advertised, changed or withdrawn by UPDATEs more than N times within a window W, " +
		"as seen on one session direction (session-down flushes are not counted).",
	matters: "Each change is reflected to every edge in the VPN and recomputed there; a flapping route costs CPU " +
		"on every device and loses traffic while it is absent. Usual causes: an unstable service-side link or " +
		"routing protocol redistributed into OMP, or a policy that alternates.",
	check: "show omp routes vpn <vpn> <prefix> detail (on the vSmarts and on a receiving edge); on the originating " +
		"edge: show ip route vpn <vpn> <prefix>, the service-side protocol (show ospf neighbor, show bgp summary), " +
		"the redistribution config (omp advertise).",
	settings: "--route-flap-count N (Config.RouteFlapCount, default 5) and --route-flap-window W " +
		"(Config.RouteFlapWindow, default 60s): fires on more than N changes within W.",
}}
