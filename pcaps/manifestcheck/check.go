// Package manifestcheck compares what the analyzer found with the ground
// truth the fabric simulator writes beside each capture (package
// pcaps/manifest): the anomalies (kind, subject, time window) and the final
// tables of every OMP session direction still up at the end.
//
// It is plain data comparison, for the end-to-end scenario tests: feed the
// capture's decoded messages to an analyze.Analyzer, call Finish at the
// manifest's End, then Check.
//
// Matching rules (the tolerance is Tolerance.Window, default 2s):
//
//   - An anomaly matches a manifest anomaly when kind and subject are equal
//     and its Start is within the tolerance of the manifest's start.
//   - When the manifest's end equals its start (a single event), the
//     anomaly must end within the tolerance of it. When the manifest has
//     another end, the anomaly's End must be within the tolerance of it
//     (an anomaly still active at the end of the capture matches a
//     manifest end at or after the capture end minus the tolerance). When
//     the manifest has no end ("until the end of the capture"), the End is
//     not checked: the analyzer may have closed an anomaly made of
//     occurrences (an alert, a mismatch) at its last occurrence.
//   - Every manifest anomaly must be matched by exactly one anomaly, and
//     every anomaly must match a manifest anomaly: nothing missing, nothing
//     extra.
//
// The tolerance covers the difference between the simulator's clocks and
// the capture's (transmission and capture delay, a retransmitted datagram a
// second later) and the analyzer's evaluation points (conditions are
// evaluated when capture time moves, and timers fire at packet times).
//
// Tables: a snapshot at the end, restricted to tables whose owning OMP
// session is up (or init-in-gr) then, is converted to manifest rows (Tables)
// and compared as multisets of (from, to, rows); tables with no rows are
// ignored on both sides. The manifest's tables of OMP sessions whose key is
// not in the key log (Session.KeyInLog false) cannot be seen by anyone: they
// are not compared, and are listed in Report.Unreadable.
package manifestcheck

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// Tolerance of the time comparisons.
type Tolerance struct {
	Window time.Duration
}

// DefaultTolerance is 2s.
var DefaultTolerance = Tolerance{Window: 2 * time.Second}

// Report lists every difference; it is empty when the analysis matches the
// manifest.
type Report struct {
	Missing    []string // manifest anomalies no anomaly matched
	Unexpected []string // anomalies that match no manifest anomaly
	Tables     []string // table differences
	// Unreadable lists manifest tables not compared because their session
	// cannot be decrypted (not a failure).
	Unreadable []string
}

// OK reports whether nothing differs.
func (r *Report) OK() bool { return len(r.Missing)+len(r.Unexpected)+len(r.Tables) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	for _, s := range r.Missing {
		b.WriteString("missing: " + s + "\n")
	}
	for _, s := range r.Unexpected {
		b.WriteString("unexpected: " + s + "\n")
	}
	for _, s := range r.Tables {
		b.WriteString("tables: " + s + "\n")
	}
	return b.String()
}

// Check compares the analyzer's anomalies and its tables at m.End with the
// manifest.
func Check(m *manifest.Manifest, a *analyze.Analyzer, tol Tolerance) *Report {
	r := &Report{}
	r.Missing, r.Unexpected = CompareAnomalies(m.Anomalies, a.Anomalies(), m.End, tol)
	hidden := map[[2]string]bool{}
	for _, s := range m.Sessions {
		if !s.KeyInLog && s.Kind == "omp" {
			hidden[[2]string{s.ClientSystemIP, s.ServerSystemIP}] = true
			hidden[[2]string{s.ServerSystemIP, s.ClientSystemIP}] = true
		}
	}
	var want []manifest.Table
	for _, t := range m.FinalTables {
		if hidden[[2]string{t.From, t.To}] {
			r.Unreadable = append(r.Unreadable, fmt.Sprintf("%s > %s (%d routes, %d TLOCs, %d services)",
				t.From, t.To, len(t.Routes), len(t.TLOCs), len(t.Services)))
			continue
		}
		want = append(want, t)
	}
	r.Tables = CompareTables(want, Tables(a.Snapshot(m.End, analyze.Filter{})))
	return r
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func within(x, y time.Time, d time.Duration) bool {
	diff := x.Sub(y)
	return diff <= d && diff >= -d
}

func describeWant(w manifest.Anomaly) string {
	s := fmt.Sprintf("%s %q start %s", w.Kind, w.Subject, ts(w.Start))
	if !w.End.IsZero() {
		s += " end " + ts(w.End)
	}
	return s
}

func describeGot(g analyze.Anomaly) string {
	s := fmt.Sprintf("%s %q start %s", g.Kind, g.Subject, ts(g.Start))
	if !g.End.IsZero() {
		s += " end " + ts(g.End)
	}
	return s + ": " + g.Explanation
}

// matches reports whether got fits want's window (see the package doc).
func matches(want manifest.Anomaly, got analyze.Anomaly, captureEnd time.Time, tol Tolerance) bool {
	if string(got.Kind) != want.Kind || got.Subject != want.Subject || !within(got.Start, want.Start, tol.Window) {
		return false
	}
	switch {
	case want.End.IsZero():
		return true
	case got.End.IsZero():
		return !want.End.Before(captureEnd.Add(-tol.Window))
	}
	return within(got.End, want.End, tol.Window)
}

// CompareAnomalies matches anomalies one to one; it returns the manifest
// anomalies left unmatched and the anomalies that match none.
func CompareAnomalies(want []manifest.Anomaly, got []analyze.Anomaly, captureEnd time.Time, tol Tolerance) (missing, unexpected []string) {
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && matches(w, g, captureEnd, tol) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			s := describeWant(w)
			var near []string
			for _, g := range got {
				if string(g.Kind) == w.Kind && g.Subject == w.Subject {
					near = append(near, describeGot(g))
				}
			}
			if len(near) > 0 {
				s += " (same kind and subject, other window: " + strings.Join(near, "; ") + ")"
			}
			missing = append(missing, s)
		}
	}
	for i, g := range got {
		if !used[i] {
			unexpected = append(unexpected, describeGot(g))
		}
	}
	return missing, unexpected
}

// Tables converts the tables of a snapshot whose owning OMP session is up
// (or re-initializing after graceful restart) into manifest tables, rows
// sorted.
func Tables(s *analyze.Snapshot) []manifest.Table {
	var out []manifest.Table
	for _, tv := range s.Tables {
		if tv.OMP != "up" && tv.OMP != "init-in-gr" {
			continue
		}
		t := manifest.Table{From: tv.From, To: tv.To, Routes: []manifest.Route{}, TLOCs: []manifest.TLOC{}, Services: []manifest.Service{}}
		for _, r := range tv.Routes {
			at := r.Attrs
			mr := manifest.Route{VPN: r.Key.VPN, Prefix: r.Key.Prefix.String(), PathID: r.Key.PathID,
				Originator: addr(r.Key.Originator), Preference: at.Preference, SiteID: at.SiteID}
			if at.HasTLOC() {
				mr.TLOC = at.TLOC.String()
			}
			if at.Has(omp.AttrOrigin) {
				mr.Origin = at.Origin.String()
			}
			t.Routes = append(t.Routes, mr)
		}
		for _, r := range tv.TLOCs {
			at := r.Attrs
			v6 := r.Family == omp.FamilyTLOCv6
			priv, pub := at.Private(v6), at.Public(v6)
			if !priv.IsValid() && !pub.IsValid() {
				priv, pub = at.Private(!v6), at.Public(!v6)
			}
			t.TLOCs = append(t.TLOCs, manifest.TLOC{TLOC: r.Key.TLOC.String(), PathID: r.Key.PathID,
				Originator: addr(r.Key.Originator), Private: addrPort(priv), Public: addrPort(pub),
				Preference: at.Preference, Weight: at.Weight, SiteID: at.SiteID})
		}
		for _, r := range tv.Services {
			ms := manifest.Service{VPN: r.Key.VPN, Service: r.Key.Service.String(), PathID: r.Key.PathID,
				Originator: addr(r.Key.Originator)}
			if r.Attrs.HasTLOC() {
				ms.TLOC = r.Attrs.TLOC.String()
			}
			t.Services = append(t.Services, ms)
		}
		sortTable(&t)
		out = append(out, t)
	}
	return out
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func sortTable(t *manifest.Table) {
	slices.SortFunc(t.Routes, func(x, y manifest.Route) int { return strings.Compare(routeLine(x), routeLine(y)) })
	slices.SortFunc(t.TLOCs, func(x, y manifest.TLOC) int { return strings.Compare(tlocLine(x), tlocLine(y)) })
	slices.SortFunc(t.Services, func(x, y manifest.Service) int { return strings.Compare(serviceLine(x), serviceLine(y)) })
}

func routeLine(r manifest.Route) string {
	return fmt.Sprintf("route vpn=%d prefix=%s path=%d originator=%s tloc=%s pref=%d site=%d origin=%s",
		r.VPN, r.Prefix, r.PathID, r.Originator, r.TLOC, r.Preference, r.SiteID, r.Origin)
}

func tlocLine(r manifest.TLOC) string {
	return fmt.Sprintf("tloc %s path=%d originator=%s private=%s public=%s pref=%d weight=%d site=%d",
		r.TLOC, r.PathID, r.Originator, r.Private, r.Public, r.Preference, r.Weight, r.SiteID)
}

func serviceLine(r manifest.Service) string {
	return fmt.Sprintf("service vpn=%d %s path=%d originator=%s tloc=%s", r.VPN, r.Service, r.PathID, r.Originator, r.TLOC)
}

func lines(t *manifest.Table) []string {
	var out []string
	for _, r := range t.Routes {
		out = append(out, routeLine(r))
	}
	for _, r := range t.TLOCs {
		out = append(out, tlocLine(r))
	}
	for _, r := range t.Services {
		out = append(out, serviceLine(r))
	}
	slices.Sort(out)
	return out
}

// CompareTables compares two sets of tables as multisets of (from, to,
// rows), ignoring tables without rows. It returns one line per difference
// (at most 20 row lines per table pair).
func CompareTables(want, got []manifest.Table) []string {
	type tab struct {
		key   string
		rows  []string
		taken bool
	}
	mk := func(ts []manifest.Table) []*tab {
		var out []*tab
		for i := range ts {
			t := ts[i]
			l := lines(&t)
			if len(l) == 0 {
				continue
			}
			out = append(out, &tab{key: t.From + " > " + t.To, rows: l})
		}
		return out
	}
	ws, gs := mk(want), mk(got)
	var diffs []string
	// exact matches first
	for _, w := range ws {
		for _, g := range gs {
			if !g.taken && g.key == w.key && slices.Equal(g.rows, w.rows) {
				g.taken, w.taken = true, true
				break
			}
		}
	}
	for _, w := range ws {
		if w.taken {
			continue
		}
		var g *tab
		for _, x := range gs {
			if !x.taken && x.key == w.key {
				g = x
				break
			}
		}
		if g == nil {
			diffs = append(diffs, fmt.Sprintf("%s: table missing (%d rows)", w.key, len(w.rows)))
			continue
		}
		g.taken = true
		n := 0
		onlyW, onlyG := minus(w.rows, g.rows), minus(g.rows, w.rows)
		for _, l := range onlyW {
			if n++; n <= 20 {
				diffs = append(diffs, w.key+": missing "+l)
			}
		}
		for _, l := range onlyG {
			if n++; n <= 20 {
				diffs = append(diffs, w.key+": unexpected "+l)
			}
		}
		if n > 20 {
			diffs = append(diffs, fmt.Sprintf("%s: %d more differences", w.key, n-20))
		}
	}
	for _, g := range gs {
		if !g.taken {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected table (%d rows)", g.key, len(g.rows)))
		}
	}
	return diffs
}

// minus returns the lines of a not in b (multiset difference; both sorted).
func minus(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) {
		switch {
		case j >= len(b) || a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] == b[j]:
			i++
			j++
		default:
			j++
		}
	}
	return out
}
