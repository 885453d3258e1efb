package analyze

import "strings"

// untunnelled-control: a control connection that is not properly
// protected: vdaemon/OMP in the clear, a NULL cipher, or (D)TLS older than
// 1.2. Checked at every record of a session (what the dissector learned of
// the session may arrive late).

// KindUntunnelledControl names the notice of this detector.
const KindUntunnelledControl Kind = "untunnelled-control"

var tunnelDetDef = detectorDef{name: "untunnelled-control", make: func(a *Analyzer) detector {
	return &tunnelDet{a: a, st: map[*session]*tunnelState{}}
}}

type tunnelDet struct {
	a  *Analyzer
	st map[*session]*tunnelState
}

// tunnelState is what was reported of one session.
type tunnelState struct {
	rp  uint8    // problems already reported
	why []string // what they were
	an  *Anomaly // the session's anomaly
}

func (u *tunnelDet) event(e *coreEvent) {
	if e.kind == evDropped && e.s != nil {
		delete(u.st, e.s)
		return
	}
	if e.kind == evRecord {
		s := e.s
		if u.st[s] == nil && !s.info.cleartext() && !s.info.NullCipher && !legacyVersions[s.info.Version] {
			return // nothing to report, nothing reported
		}
		u.check(s, e.now, e.frame)
	}
}

// legacyVersions are record-layer versions older than (D)TLS 1.2.
var legacyVersions = map[string]bool{"SSL 3.0": true, "TLS 1.0": true, "TLS 1.1": true, "DTLS 1.0": true,
	"DTLS 1.0 (OpenSSL pre-standard)": true}

// checkTunnel reports a control connection that is not properly protected:
// vdaemon in the clear, a NULL cipher, or TLS/DTLS older than 1.2. Each
// problem of a session is raised once, at the first record that shows it;
// later records of the session are added to its evidence while the anomaly
// is open (records closer than MergeWindow).
func (u *tunnelDet) check(s *session, now int64, frame uint64) {
	a := u.a
	st := u.st[s]
	if st == nil {
		st = &tunnelState{}
		u.st[s] = st
	}
	if st.an != nil {
		k := condKey{KindUntunnelledControl, s.subject()}
		if in := a.instants[k]; in != nil && in.anom == st.an && now-in.last <= in.window {
			a.extendInstant(in, SevError, now, frame)
		}
	}
	var what []string
	if s.info.cleartext() && st.rp&1 == 0 {
		st.rp |= 1
		what = append(what, "carries vdaemon/OMP in the clear, outside any DTLS/TLS session")
	}
	if s.info.NullCipher && st.rp&2 == 0 {
		st.rp |= 2
		suite := s.info.Suite
		if suite == "" {
			suite = "(name unknown)"
		}
		what = append(what, "negotiated the NULL-cipher suite "+suite+": authenticated but not encrypted")
	}
	if legacyVersions[s.info.Version] && st.rp&4 == 0 {
		st.rp |= 4
		what = append(what, "negotiated "+s.info.Version+", older than the (D)TLS 1.2 Cisco SD-WAN requires")
	}
	if len(what) == 0 {
		return
	}
	st.why = append(st.why, what...)
	explain := func(*instant) string {
		return "The control connection " + s.subject() + " (" + sessDesc(s) + ") " + strings.Join(st.why, "; it also ") +
			": anyone on the path can read (or, in the clear, alter) the routing it carries."
	}
	in := a.instant(KindUntunnelledControl, s.subject(), SevError, now, now, frame, a.cfg.MergeWindow, s.id, explain)
	in.anom.Explanation = explain(in)
	st.an = in.anom
}

var untunnelledControlKind = kindDef{kind: KindUntunnelledControl, det: &tunnelDetDef, explainText: explainText{
	sev:     "error",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "A control connection is not tunnelled as Cisco SD-WAN requires: vdaemon/OMP messages seen in the " +
		"clear, outside any DTLS/TLS session (transport plain), a DTLS/TLS session that negotiated a NULL-cipher " +
		"suite (authenticated, not encrypted), or TLS/DTLS older than 1.2 (SSL 3.0, TLS 1.0, TLS 1.1, DTLS 1.0). " +
		"It starts at the first record that shows the problem; every later record of the session is evidence " +
		"(the frames listed) while records keep coming within the merge window.",
	matters: "The control plane carries the whole routing and the TLOCs' IPsec parameters; whoever sees it in the " +
		"clear learns the topology, and in the clear it can be altered. Old (D)TLS versions have known attacks.",
	check: "show control connections (PROTOCOL column: dtls/tls), show control local-properties (the security " +
		"settings), show running-config security control (protocol, TLS port), the device's software version " +
		"(show version); on the path, whether a middlebox terminates or downgrades the session.",
	settings: "--merge-window (Config.MergeWindow, default 60s).",
}}
