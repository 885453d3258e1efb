package analyze

import "github.com/ompscope/ompscope/dissect/sdwan"

// teardown: a vdaemon TEAR_DOWN on a vManage or OMP control connection. A
// vBond closing its transient session (NOERR, DISCVBD) is normal and not
// reported. Occurrences with one subject closer than Config.MergeWindow are
// one anomaly.

// KindTeardown names the notice of this detector.
const KindTeardown Kind = "teardown"

var teardownDetDef = detectorDef{name: "teardown", make: func(a *Analyzer) detector { return &teardownDet{a: a} }}

type teardownDet struct{ a *Analyzer }

func (*teardownDet) eventKinds() uint64 { return 1 << evTeardown }

func (u *teardownDet) event(e *coreEvent) {
	if e.kind != evTeardown {
		return
	}
	a, s, sd, b := u.a, e.s, e.sd, e.td
	if s.vbond && (b.Code == 0 || b.Code == sdwan.ConnDISCVBD) {
		return
	}
	desc := b.Code.Description()
	if desc == "" {
		desc = "an error code this tool has no name for"
	}
	sev := SevError
	if b.Code == 0 {
		sev = SevWarning
	}
	expl := sideDesc(sd) + " tore down the control connection to " + sideDesc(sd.other()) +
		" with " + b.Code.String() + " (" + desc + ")."
	a.instant(KindTeardown, peerSubject(sd), sev, e.now, e.now, e.frame, a.cfg.MergeWindow, s.id,
		func(in *instant) string { return expl + repeats(in) })
}

var teardownKind = kindDef{kind: KindTeardown, det: &teardownDetDef, explainText: explainText{
	sev:     "error",
	subject: "peer <system-ip>  (the sender of the TEAR_DOWN; the session subject when unknown)",
	meaning: "A device tore down a control connection with a vdaemon TEAR_DOWN carrying an error code other than " +
		"NOERR; the explanation gives the code's name (as in show control connections-history) and meaning. " +
		"TEAR_DOWN with NOERR, and DISCVBD on vBond sessions, are normal and not reported.",
	matters: "The control connection and the OMP session over it are gone; routes go stale (GR) or are withdrawn. " +
		"The code says why: certificates, serial numbers, organization names, timeouts, resources.",
	check: "show control connections-history (LOCAL ERROR / REMOTE ERROR), show control connections, " +
		"show certificate validity, show orchestrator valid-vedges / valid-vsmarts, request ... certificate checks.",
	settings: "--merge-window (Config.MergeWindow, default 60s).",
}}
