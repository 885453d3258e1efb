package analyze

import (
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
)

// withdraw-unknown: a sender withdrew a path it had not advertised on the
// session (or had already withdrawn). Not reported when the table was not
// observed from its start (the capture began mid-session) or lost records
// to a gap: the advertisement may simply not have been seen.

// KindWithdrawUnknown names the notice of this detector.
const KindWithdrawUnknown Kind = "withdraw-unknown"

var withdrawDetDef = detectorDef{name: "withdraw-unknown", make: func(a *Analyzer) detector { return &withdrawDet{a: a} }}

type withdrawDet struct{ a *Analyzer }

func (*withdrawDet) eventKinds() uint64 { return 1 << evWithdrawUnknown }

func (w *withdrawDet) event(e *coreEvent) {
	if e.kind != evWithdrawUnknown {
		return
	}
	a, t, u, n, r, now, frame := w.a, e.t, e.upd, e.nlri, e.r, e.now, e.frame
	if !t.complete || t.gapped {
		return
	}
	var subject, what string
	switch famKind(u.Family) {
	case kRoute:
		orig := netip.Addr{}
		if r != nil {
			orig = r.originator(r.lastAttrs())
		}
		if !orig.IsValid() {
			for _, x := range u.Attrs {
				if o, ok := x.(*omp.Originator); ok && o != nil {
					orig = o.Addr
					break
				}
			}
		}
		if !orig.IsValid() && !t.from.isVSmart() {
			orig = t.from.sys // an edge withdraws its own paths; a vSmart reflects others'
		}
		subject = routeSubject(n.VPN, n.Prefix, orig)
		what = "route vpn " + itoa(n.VPN) + " " + n.Prefix.String() + " path-id " + itoa(n.PathID)
	case kTLOC:
		subject = "tloc " + n.TLOC().String()
		what = "TLOC " + n.TLOC().String() + " path-id " + itoa(n.PathID)
	default:
		subject = serviceSubject(n.VPN, n.Service, n.Originator)
		what = "service " + n.Service.String() + " vpn " + itoa(n.VPN) + " of " + n.Originator.String() + " path-id " + itoa(n.PathID)
	}
	prior := "never advertised it on this session"
	if r == nil && a.pruneHorizon > t.created {
		// withdrawn paths leave memory after the detectors' window
		prior = "had not advertised it on this session within the last " + a.cfg.Window().String()
	}
	if r != nil {
		prior = "had already withdrawn it (at " + ts(nsTime(r.cur().t)) + ")"
	}
	expl := sideDesc(t.from) + " withdrew " + what + " from " + sideDesc(t.to) + " but " + prior +
		": the two ends disagree about what was advertised."
	a.instant(KindWithdrawUnknown, subject, SevWarning, now, now, frame, a.cfg.MergeWindow, t.sess.id,
		func(in *instant) string { return expl + repeats(in) })
}

var withdrawUnknownKind = kindDef{kind: KindWithdrawUnknown, det: &withdrawDetDef, explainText: explainText{
	sev:     "warning",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap> | service vpn=<vpn> service=<name> originator=<system-ip>",
	meaning: "A peer withdrew a path it had not advertised on this session (or had already withdrawn). The " +
		"originator of a withdrawn route is taken from the path the session had carried, else from an ORIGINATOR " +
		"attribute in the UPDATE, else it is the sender's system-ip. Not reported on tables that were not observed " +
		"from their HANDSHAKE or that lost records to a gap: the advertisement may simply not have been seen.",
	matters: "The two ends disagree about the table: a bug, a lost update, a restart that was not graceful, or two " +
		"devices on one identity. What the receiver holds may not be what the sender believes.",
	check: "show omp routes vpn <vpn> <prefix> detail on both ends; show omp peers (up time, resets); " +
		"show control connections-history; clear omp peer <ip> soft to resynchronize.",
	settings: "--merge-window (Config.MergeWindow, default 60s).",
}}
