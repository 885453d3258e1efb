package analyze

import "github.com/ompscope/ompscope/dissect/omp"

// alert: an OMP ALERT (the sender closes the OMP session). The subject is
// the peer that sent it; occurrences closer than Config.MergeWindow are one
// anomaly.

// KindAlert names the notice of this detector.
const KindAlert Kind = "alert"

var alertDetDef = detectorDef{name: "alert", make: func(a *Analyzer) detector { return &alertDet{a: a} }}

type alertDet struct{ a *Analyzer }

func (*alertDet) eventKinds() uint64 { return 1 << evAlert }

func (u *alertDet) event(e *coreEvent) {
	if e.kind != evAlert {
		return
	}
	a, s, sd, m := u.a, e.s, e.sd, e.alert
	sev := SevError
	if m.Code == omp.AlertCease {
		sev = SevWarning
	}
	code := m.Code.String() + "/" + m.SubcodeName()
	expl := sideDesc(sd) + " sent OMP ALERT " + code + " to " + sideDesc(sd.other()) + ", closing the OMP session: " +
		alertMeaning(m) + "."
	a.instant(KindAlert, peerSubject(sd), sev, e.now, e.now, e.frame, a.cfg.MergeWindow, s.id,
		func(in *instant) string { return expl + repeats(in) })
}

var alertKind = kindDef{kind: KindAlert, det: &alertDetDef, explainText: explainText{
	sev:     "error (warning for cease)",
	subject: "peer <system-ip>  (the sender of the ALERT)",
	meaning: "A device sent an OMP ALERT (OMP's notification, like BGP's NOTIFICATION) and closed the OMP session. " +
		"The explanation names the code and subcode: message-header-error, handshake-error, update-error, " +
		"hold-timer-expired, state-machine-error, cease (admin-shutdown, peer-deconfigured, admin-reset, " +
		"connection-rejected, other).",
	matters: "The session's routes are withdrawn (no graceful restart on an ALERT). Errors point at a bug or a " +
		"malformed message; cease at an operator or a configuration change.",
	check: "show omp peers, show control connections-history (local and remote error), show logging / " +
		"show log for omp on both ends, the change log in vManage for admin actions.",
	settings: "--merge-window (Config.MergeWindow, default 60s): alerts with the same subject within the window " +
		"extend one anomaly.",
}}
