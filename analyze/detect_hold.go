package analyze

// hold-expired: an OMP speaker's hold timer ran out: no OMP message came
// from a peer for the negotiated hold time (the core's session state
// machine decides it and takes the OMP session down), or a peer reports it
// with an OMP ALERT hold-timer-expired. It ends when the silent peer speaks
// OMP again or a new HANDSHAKE exchange brings the session back.

// KindHoldExpired names the notice of this detector.
const KindHoldExpired Kind = "hold-expired"

var holdDetDef = detectorDef{name: "hold-expired", make: func(a *Analyzer) detector { return &holdDet{a: a} }}

type holdDet struct{ a *Analyzer }

func (u *holdDet) event(e *coreEvent) {
	a, s, sd := u.a, e.s, e.sd
	switch e.kind {
	case evHoldExpired:
		o := sd.other()
		var expl string
		if e.any { // reported by the other end (ALERT)
			expl = sideDesc(o) + " reports (OMP ALERT hold-timer-expired) that its hold timer for " + sideDesc(sd) +
				" expired: no OMP message came from " + sd.name() + " for the hold time (last seen at " + ts(nsTime(sd.lastOMP)) + ")."
		} else {
			quiet := "no OMP message came"
			if sd.lastHeard > sd.lastOMP {
				quiet = "no OMP message came (vdaemon messages did)"
			}
			expl = "The OMP hold timer of " + sideDesc(o) + " for " + sideDesc(sd) + " expired: " + quiet + " from " +
				sd.name() + " for the negotiated hold time of " + dur(s.holdNS) + " (last at " + ts(nsTime(sd.lastOMP)) +
				"), so the OMP session is down and its paths are withdrawn."
			if !s.holdKnown {
				expl = "Inferred: " + expl + " The HANDSHAKEs were not seen; the hold time is the configured default."
			}
		}
		a.condSet(condKey{KindHoldExpired, peerSubject(sd)}, s, e.since, e.now, e.frame, 0, SevError, s.id, false,
			func() string { return expl })
	case evPeerBack:
		if e.any {
			a.condClearSubject(KindHoldExpired, peerSubject(sd), e.now)
		} else {
			a.condClear(condKey{KindHoldExpired, peerSubject(sd)}, s, e.now)
		}
	}
}

var holdExpiredKind = kindDef{kind: KindHoldExpired, det: &holdDetDef, explainText: explainText{
	sev:     "error",
	subject: "peer <system-ip>  (the device that went silent; the session subject when its system-ip is unknown)",
	meaning: "No OMP message (and no unreadable record) came from one end of an OMP session for the negotiated hold " +
		"time (the lower of the two HANDSHAKE hold-times; the configured default for sessions whose HANDSHAKE was " +
		"not seen), measured in capture time. The other end's hold timer expired; the session is taken down (with " +
		"graceful restart when negotiated). If the silent end is heard again the anomaly ends.",
	matters: "The peer stopped talking: a crash, a congested or broken transport, a firewall or NAT timeout, a CPU " +
		"stall. Its routes go stale (GR) or are withdrawn across the fabric. A capture that lost packets can also " +
		"cause it: check the capture's drop counters.",
	check: "show omp peers (state, last uptime), show control connections and show control connections-history " +
		"(DHSTMO, hello timeouts), show omp summary; on the silent device: show system status, show interface, " +
		"show tunnel statistics.",
	settings: "--default-hold-time (Config.DefaultHoldTime), default 60s, for sessions whose HANDSHAKE was not seen; " +
		"negative disables inference for them.",
}}
