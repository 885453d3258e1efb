package analyze

import (
	"strconv"
	"time"
)

// capture-gap: parts of the capture that never reached the control
// connections: packets of a link type that is not decoded, packets cut
// short (a small snap length) or malformed, connections the reassembler
// could not track, sessions evicted from a full session table. The
// analysis cannot say what they carried, so it says how much it missed and
// why, instead of a clean bill of health. The command feeds them
// (CaptureGap) from the dissector's counters before Finish.

// KindCaptureGap names the notice.
const KindCaptureGap Kind = "capture-gap"

// CaptureGap is a part of the capture that could not be read at all.
type CaptureGap struct {
	// Reason names it: "unsupported-link", "truncated", "malformed",
	// "untracked-connections", "sessions-evicted".
	Reason string
	// Count is how many Units were lost ("packet", "session").
	Count uint64
	Unit  string
	// Of is the total the count is part of (packets read), 0 when unknown.
	Of uint64
	// What says what happened to them, as the caller (who knows the
	// capture) words it: "have a link type ompscope does not decode".
	What string
	// Detail says more ("link type 65535 (×3)", "the first at frame 12: ...").
	Detail string
	// Frames are evidence frame numbers, when known.
	Frames []uint64
	// First and Last bound it in capture time (zero: the whole capture).
	First, Last time.Time
}

// CaptureGap tells the analyzer that part of the capture could not be
// read (call it before Finish): the capture-gap detector raises it. Its
// severity is error when nothing of the capture could be analyzed,
// warning otherwise.
func (a *Analyzer) CaptureGap(g CaptureGap) {
	if g.Count == 0 {
		return
	}
	first, last := timeNS(g.First), timeNS(g.Last)
	if first == 0 {
		first = a.first
	}
	if last == 0 || last < first {
		last = max(a.clock, first)
	}
	a.Advance(nsTime(last))
	a.gaps = append(a.gaps, g)
	var frame uint64
	if len(g.Frames) > 0 {
		frame = g.Frames[0]
	}
	a.tell(&coreEvent{kind: evCaptureGap, since: first, now: last, frame: frame, cg: &a.gaps[len(a.gaps)-1]})
}

var captureGapDetDef = detectorDef{name: "capture-gap", make: func(a *Analyzer) detector { return &captureGapDet{a: a} }}

type captureGapDet struct{ a *Analyzer }

func (*captureGapDet) eventKinds() uint64 { return 1 << evCaptureGap }

func (u *captureGapDet) event(e *coreEvent) {
	if e.kind != evCaptureGap {
		return
	}
	a, g := u.a, *e.cg
	sev := SevWarning
	if a.stats.Inputs == 0 {
		sev = SevError
	}
	in := a.instant(KindCaptureGap, g.Reason, sev, e.since, e.now, e.frame, 0, "", func(*instant) string { return captureGapExplain(&g) })
	for _, f := range g.Frames[min(1, len(g.Frames)):] {
		in.ev.add(f, a.cfg.MaxEvidence)
	}
	in.anom.Evidence = in.ev.frames
	in.anom.EvidenceCount = int(min(g.Count, 1<<31))
}

// CaptureGaps returns what CaptureGap was told, in order.
func (a *Analyzer) CaptureGaps() []CaptureGap { return a.gaps }

func captureGapExplain(g *CaptureGap) string {
	unit := g.Unit
	if unit == "" {
		unit = "packet"
	}
	s := strconv.FormatUint(g.Count, 10) + " " + unit + "(s)"
	if g.Of > 0 {
		s += " of " + strconv.FormatUint(g.Of, 10) + " (" + strconv.FormatFloat(100*float64(g.Count)/float64(g.Of), 'f', 1, 64) + "%)"
	}
	what := g.What
	if what == "" {
		what = "could not be read (" + g.Reason + ")"
	}
	s += " " + what
	if g.Detail != "" {
		s += ": " + g.Detail
	}
	return s + ". What they carried is not in this analysis."
}

var captureGapKind = kindDef{kind: KindCaptureGap, det: &captureGapDetDef, explainText: explainText{
	sev: "warning; error when nothing could be analyzed",
	subject: "the reason: unsupported-link, truncated, malformed, untracked-connections, sessions-evicted; " +
		"from a stream (analyze --subscribe): sensor-dropped, relay-missing, relay-bad, relay-unread, relay-refused, " +
		"relay-sensors, relay-gap-reports",
	meaning: "Part of the capture never reached the control connections: packets of a link type that is not " +
		"decoded, packets cut short by the snap length or malformed below DTLS/TLS, TCP connections past the " +
		"reassembler's cap, sessions evicted from a full session table (a flood of flows). It spans the capture " +
		"(or the part where it happened) and counts what was lost. Analyzing what sensors publish to a stream, " +
		"it also counts what a sensor dropped while its server could not take it, what never reached the " +
		"analyzer, what was not an envelope, not read, or refused (docs/scale-out.md).",
	matters: "The analysis can say nothing about what those packets carried. A capture that shows no anomaly but " +
		"this one is not a clean bill of health; when nothing could be analyzed at all the run exits with status 4.",
	check: "The capture: its link type (capinfos), its snap length (capture again with -s 0), the capture point; " +
		"dissect --stats for the counts per layer and the first problems; for evictions, a flood of flows " +
		"towards the controllers is worth a look on its own. On the devices, show control connections and " +
		"show omp peers list the sessions the capture should have held.",
	settings: "No setting.",
}}
