package analyze

import (
	"slices"
	"strings"
)

// decryption-gap: records of a session that could not be read (no key,
// failed authentication, unsupported suite, decode errors, ...). Made of
// occurrences: it starts at the first unreadable record, ends at the last,
// and closes once Config.MergeWindow passes without one. The analysis
// never claims a clean bill of health over what it could not see.

// KindDecryptionGap names the notice of this detector.
const KindDecryptionGap Kind = "decryption-gap"

var gapDetDef = detectorDef{name: "decryption-gap", make: func(a *Analyzer) detector { return &gapDet{a: a} }}

type gapDet struct{ a *Analyzer }

func (*gapDet) eventKinds() uint64 { return 1 << evGap }

func (u *gapDet) event(e *coreEvent) {
	if e.kind != evGap {
		return
	}
	a, s := u.a, e.s
	in := a.instant(KindDecryptionGap, s.subject(), SevWarning, e.since, e.now, e.frame, a.cfg.MergeWindow, s.id,
		func(*instant) string { return gapExplain(s) })
	in.extra += e.n // the evidence count is the records, not the reports
	in.anom.EvidenceCount = in.extra
}

func gapExplain(s *session) string {
	reasons := make([]string, 0, len(s.gapReasons))
	for r, n := range s.gapReasons {
		reasons = append(reasons, r+" ×"+itoa(uint32(min(uint64(n), 1<<31))))
	}
	slices.Sort(reasons)
	return itoa(uint32(min(uint64(s.gapRecords), 1<<31))) + " record(s) of " + s.subject() + " (" + sessDesc(s) +
		") could not be read (" + strings.Join(reasons, ", ") +
		"): routes, TLOCs, state changes and anomalies they carried are not in this analysis."
}

var decryptionGapKind = kindDef{kind: KindDecryptionGap, det: &gapDetDef, explainText: explainText{
	sev:     "warning",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "Records of this session could not be decrypted or decoded (no key, authentication failure, " +
		"unsupported suite, handshake not seen, malformed plaintext). It starts at the first unreadable record and " +
		"ends at the last one before the session is readable again (open while it stays unreadable).",
	matters: "The analysis can say nothing about what those records carried: routes, TLOCs, state changes and " +
		"anomalies there are missing. It never reports a clean bill of health over them; detectors that compare " +
		"tables skip tables with gaps.",
	check: "The key log (SSLKEYLOGFILE from the device or the lab harness) and --psk for PSK suites; the capture " +
		"(was the handshake captured? packet loss?); ompscope decode on the session to see the reason per record. " +
		"On the devices, show control connections and show omp peers tell whether the session was up, and " +
		"show omp routes received / advertised what it carried.",
	settings: "No setting.",
}}
