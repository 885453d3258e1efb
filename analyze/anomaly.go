package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Kind names a detector. The names are stable: they appear in the JSON
// output, the manifests of the simulator and the --explain flag.
type Kind string

// Severity of an anomaly.
type Severity uint8

// Severities, lowest first.
const (
	SevInfo Severity = iota
	SevWarning
	SevError
	// SevCritical is for attacks: a peer that got into the control plane
	// without authenticating, or tried to.
	SevCritical
)

func (s Severity) String() string {
	switch s {
	case SevInfo:
		return "info"
	case SevWarning:
		return "warning"
	case SevCritical:
		return "critical"
	}
	return "error"
}

// ParseSeverity reads "info", "warning", "error" or "critical".
func ParseSeverity(s string) (Severity, error) {
	for _, v := range []Severity{SevInfo, SevWarning, SevError, SevCritical} {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("severity %q: want info, warning, error or critical", s)
}

// MarshalText gives the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Anomaly is one notice: something the capture shows that an engineer
// should look at. Start is when the condition began (in capture time), End
// when it ended (zero while it lasts; an anomaly still active when the
// capture ends keeps a zero End). Raised is when the analyzer decided (after
// the detector's grace or window), which is when anomaly.start was emitted.
type Anomaly struct {
	ID          int
	Kind        Kind
	Severity    Severity
	Subject     string
	Start       time.Time
	End         time.Time
	Raised      time.Time
	Active      bool
	Explanation string
	// Evidence holds frame numbers of the records that show it (at most
	// Config.MaxEvidence; EvidenceCount counts them all).
	Evidence      []uint64
	EvidenceCount int
	// Session is the ID of the session the anomaly is about, when there is
	// one.
	Session string
}

type anomalyJSON struct {
	ID            int      `json:"id"`
	Kind          Kind     `json:"kind"`
	Severity      Severity `json:"severity"`
	Subject       string   `json:"subject"`
	Start         string   `json:"start"`
	End           string   `json:"end,omitempty"`
	Raised        string   `json:"raised"`
	Active        bool     `json:"active"`
	Explanation   string   `json:"explanation"`
	Evidence      []uint64 `json:"evidence"`
	EvidenceCount int      `json:"evidence_count"`
	Session       string   `json:"session,omitempty"`
}

// MarshalJSON gives the documented JSON form (docs/timeline.md).
func (an *Anomaly) MarshalJSON() ([]byte, error) {
	j := anomalyJSON{ID: an.ID, Kind: an.Kind, Severity: an.Severity, Subject: an.Subject,
		Start: ts(an.Start), Raised: ts(an.Raised), Active: an.Active, Explanation: an.Explanation,
		Evidence: an.Evidence, EvidenceCount: an.EvidenceCount, Session: an.Session}
	if !an.End.IsZero() {
		j.End = ts(an.End)
	}
	if j.Evidence == nil {
		j.Evidence = []uint64{}
	}
	return marshal(j)
}

// marshal is json.Marshal without HTML escaping (subjects hold ">").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// ts formats a time as RFC 3339 with nanoseconds, in UTC.
// ts formats a capture time as every output does (appendTime).
func ts(t time.Time) string { return string(appendTime(nil, t)) }

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// Capture times outside [minTime, maxTime] (beyond what int64 nanoseconds
// hold) are clamped.
var (
	minTime = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timeNS is t in nanoseconds since the Unix epoch; the zero time is 0.
func timeNS(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return maxTime.UnixNano()
	}
	return t.UnixNano()
}

func dur(ns int64) string { return (time.Duration(ns)).String() }

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// evidence collects frame numbers.
type evidence struct {
	frames []uint64
	count  int
}

func (e *evidence) add(f uint64, max int) {
	if f == 0 {
		return
	}
	e.count++
	if len(e.frames) > 0 && e.frames[len(e.frames)-1] == f {
		e.count--
		return
	}
	if len(e.frames) < max {
		e.frames = append(e.frames, f)
	} else {
		e.frames[len(e.frames)-1] = f // keep the first max-1 and the latest
	}
}

// condKey names a condition: one anomaly per kind and subject at a time.
type condKey struct {
	kind    Kind
	subject string
}

// cond is a condition that holds while at least one source says so. Once it
// has held for grace it is raised as an anomaly, with Start = since.
type cond struct {
	key       condKey
	sev       Severity
	since     int64
	last      int64   // last evidence
	sources   []any   // who holds the condition
	sinces    []int64 // since when each source holds it
	anom      *Anomaly
	ev        evidence
	explainFn func() string
	session   string
	endLast   bool  // End is the last evidence time, not the clear time
	grace     int64 // how long it must hold before it is raised
}

// instant is an anomaly made of occurrences; it stays open while new
// occurrences come within its window, then closes with End = the last one.
type instant struct {
	anom    *Anomaly
	explain func(*instant) string
	last    int64
	window  int64
	ev      evidence
	armed   bool
	extra   int
}

// tsText formats a capture time for people: RFC 3339 in UTC, the fraction
// without its trailing zeros.
func tsText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
