package analyze

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
)

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func u32s(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// WriteTables writes a snapshot like Cisco's `show omp routes`, `show omp
// tlocs` and `show omp services`, one section each, with the status legend.
// Every row names the sender (FROM PEER) and the receiver (TO PEER).
func WriteTables(w io.Writer, s *Snapshot) { WriteTablesWidth(w, s, 0) }

// WriteTablesWidth is WriteTables with every table fitted to width (0: no
// limit; see SummaryOptions.Width).
func WriteTablesWidth(w io.Writer, s *Snapshot, width int) {
	WriteTablesOpts(w, s, TablesOptions{Width: width})
}

// TablesOptions shape the text of tables.
type TablesOptions struct {
	// Width fits every table to so many columns (0: no limit).
	Width int
	// Detail adds the LOSS REASON column to routes: the best-path step a
	// path that is not chosen lost on, and the path it lost to
	// (sender/path-id), as `show omp routes detail` gives them.
	Detail bool
}

// WriteTablesOpts writes the tables as options say.
func WriteTablesOpts(w io.Writer, s *Snapshot, o TablesOptions) {
	width := o.Width
	exact := "exact"
	if !s.Exact {
		exact = fmt.Sprintf("inexact: %d row(s) unknown, history pruned before %s", s.Unknown, tsText(s.Horizon))
	}
	fmt.Fprintf(w, "OMP tables at %s (%s)\n\n%s\n", tsText(s.At), exact, StatusLegend)
	nr, nt, ns := s.Rows()
	type tr struct {
		t *TableView
		r *Row
	}
	collect := func(pick func(*TableView) []Row) []tr {
		var out []tr
		for _, t := range s.Tables {
			rs := pick(t)
			for i := range rs {
				out = append(out, tr{t, &rs[i]})
			}
		}
		// by key (vpn, prefix / TLOC / service), then sender, receiver
		slices.SortStableFunc(out, func(x, y tr) int {
			if c := cmpGroupKey(&x.r.r.grp.key, &y.r.r.grp.key); c != 0 {
				return c
			}
			if c := cmpName(x.t.From, y.t.From); c != 0 {
				return c
			}
			if c := cmpName(x.t.To, y.t.To); c != 0 {
				return c
			}
			return cmpRows(x.r.r, y.r.r)
		})
		return out
	}
	tw := &tabRows{w: w, width: width}
	fmt.Fprintf(w, "ROUTES (%d)\n", nr)
	if nr > 0 {
		head := "VPN\tPREFIX\tFROM PEER\tTO PEER\tPATH ID\tLABEL\tSTATUS\tORIGINATOR\tTLOC IP\tCOLOR\tENCAP\tPREFERENCE\tSITE ID\tORIGIN"
		if o.Detail {
			head += "\tLOSS REASON"
		}
		fmt.Fprintln(tw, head)
		for _, x := range collect(func(t *TableView) []Row { return t.Routes }) {
			r, at := x.r, x.r.Attrs
			tl := []string{"-", "-", "-"}
			if at.HasTLOC() {
				tl = []string{at.TLOC.SystemIP.String(), at.TLOC.Color.String(), at.TLOC.Encap.String()}
			}
			pref, site, origin, label := "-", "-", "-", "-"
			if at.Has(omp.AttrPreference) {
				pref = u32s(at.Preference)
			}
			if at.Has(omp.AttrSiteID) {
				site = u32s(at.SiteID)
			}
			if at.Has(omp.AttrOrigin) {
				origin = at.Origin.String()
			}
			if at.Has(omp.AttrLabel) {
				label = u32s(at.Label)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Key.VPN, r.Key.Prefix, x.t.From, x.t.To,
				r.Key.PathID, label, r.Status, dash(addrStr(r.Key.Originator)), tl[0], tl[1], tl[2], pref, site, origin)
			if o.Detail {
				loss := dash(r.LossReason)
				if r.LostTo != "" {
					loss += " " + r.LostTo + "/" + u32s(r.LostToPathID)
				}
				fmt.Fprintf(tw, "\t%s", loss)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nTLOCS (%d)\n", nt)
	if nt > 0 {
		fmt.Fprintln(tw, "TLOC IP\tCOLOR\tENCAP\tFROM PEER\tTO PEER\tPATH ID\tSTATUS\tPRIVATE\tPUBLIC\tPREFERENCE\tWEIGHT\tSITE ID")
		for _, x := range collect(func(t *TableView) []Row { return t.TLOCs }) {
			r, at := x.r, x.r.Attrs
			v6 := r.Family == omp.FamilyTLOCv6
			priv, pub := "-", "-"
			if p := at.Private(v6); p.IsValid() {
				priv = p.String()
			}
			if p := at.Public(v6); p.IsValid() {
				pub = p.String()
			}
			pref, weight, site := "-", "-", "-"
			if at.Has(omp.AttrPreference) {
				pref = u32s(at.Preference)
			}
			if at.Has(omp.AttrWeight) {
				weight = u32s(at.Weight)
			}
			if at.Has(omp.AttrSiteID) {
				site = u32s(at.SiteID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key.TLOC.SystemIP, r.Key.TLOC.Color,
				r.Key.TLOC.Encap, x.t.From, x.t.To, r.Key.PathID, r.Status, priv, pub, pref, weight, site)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nSERVICES (%d)\n", ns)
	if ns > 0 {
		fmt.Fprintln(tw, "VPN\tSERVICE\tORIGINATOR\tFROM PEER\tTO PEER\tPATH ID\tSTATUS\tTLOC IP\tCOLOR\tENCAP")
		for _, x := range collect(func(t *TableView) []Row { return t.Services }) {
			r := x.r
			tl := []string{"-", "-", "-"}
			if r.Attrs.HasTLOC() {
				k := r.Attrs.TLOC
				tl = []string{k.SystemIP.String(), k.Color.String(), k.Encap.String()}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Key.VPN, r.Key.Service, r.Key.Originator,
				x.t.From, x.t.To, r.Key.PathID, r.Status, tl[0], tl[1], tl[2])
		}
		tw.Flush()
	}
}

func rowLine(r *Row) string {
	switch r.Kind {
	case "route":
		return fmt.Sprintf("route vpn %d %s path %d originator %s", r.Key.VPN, r.Key.Prefix, r.Key.PathID, dash(addrStr(r.Key.Originator)))
	case "tloc":
		return fmt.Sprintf("tloc %s path %d", r.Key.TLOC, r.Key.PathID)
	}
	return fmt.Sprintf("service vpn %d %s originator %s path %d", r.Key.VPN, r.Key.Service, r.Key.Originator, r.Key.PathID)
}

// WriteDiff writes what changed between two instants: "+" added, "-"
// withdrawn, "~" changed (with the old and new attributes and status).
func WriteDiff(w io.Writer, d *Diff) { WriteDiffWidth(w, d, 0) }

// WriteDiffWidth is WriteDiff with its lines wrapped at width (0: none).
func WriteDiffWidth(w io.Writer, d *Diff, width int) {
	head := fmt.Sprintf("OMP table changes from %s to %s", tsText(d.From), tsText(d.To))
	if !d.Exact {
		head += " (inexact: history was pruned)"
	}
	para(w, width, "", head)
	fmt.Fprintf(w, "%d added, %d withdrawn, %d changed\n", len(d.Added), len(d.Withdrawn), len(d.Changed))
	for _, r := range d.Added {
		hang(w, width, "", "    ", fmt.Sprintf("+ %s → %s  %s  [%s] %s", r.From, r.To, rowLine(r.New), r.New.Status, attrsText(r.New.Attrs)))
	}
	for _, r := range d.Withdrawn {
		hang(w, width, "", "    ", fmt.Sprintf("- %s → %s  %s  [%s] %s", r.From, r.To, rowLine(r.Old), r.Old.Status, attrsText(r.Old.Attrs)))
	}
	for _, r := range d.Changed {
		hang(w, width, "", "    ", fmt.Sprintf("~ %s → %s  %s", r.From, r.To, rowLine(r.New)))
		hang(w, width, "    ", "        ", fmt.Sprintf("old [%s] %s", r.Old.Status, attrsText(r.Old.Attrs)))
		hang(w, width, "    ", "        ", fmt.Sprintf("new [%s] %s", r.New.Status, attrsText(r.New.Attrs)))
	}
}

// SummaryOptions shape the text summary for a terminal.
type SummaryOptions struct {
	// Width is the width every table fits (0: no limit): columns are
	// narrowed and long cells cut with an ellipsis.
	Width int
	// Top lists at most that many sessions, devices, and anomalies of each
	// kind (the most troubled, then the largest, first) and counts the
	// rest (0: every one, in capture order).
	Top int
	// Filter keeps the sessions, devices and anomalies about Filter.Peer,
	// and counts in the tables only the rows the filter keeps.
	Filter Filter
}

// WriteSummary writes the whole summary, without a width limit.
func (a *Analyzer) WriteSummary(w io.Writer) error { return a.WriteSummaryOpts(w, SummaryOptions{}) }

// WriteSummaryOpts writes the summary for people: capture span and
// visibility, the sessions with their states and table sizes, the fabric
// view, and the anomalies grouped by kind with their explanations; on a
// large fabric, counts and the top o.Top of each list. The first write
// error is returned.
func (a *Analyzer) WriteSummaryOpts(w io.Writer, o SummaryOptions) error {
	ew := &errWriter{w: w}
	w = ew
	peers := a.PeersFiltered(o.Filter)
	anoms := a.Anomalies()
	if f := o.Filter; f.Peer != "" {
		anoms = slices.DeleteFunc(anoms, func(an Anomaly) bool { return !a.anomalyAbout(&an, f.Peer) })
	}
	start, now := a.Start(), a.Now()
	W := o.Width
	para(w, W, "", fmt.Sprintf("Capture: %s to %s (%s)", tsText(start), tsText(now), now.Sub(start).Round(time.Millisecond)))

	// Visibility
	var full, mid, gapped, unread int
	for _, p := range peers {
		switch {
		case p.Records == 0 && p.GapRecords > 0:
			unread++
		case p.GapRecords > 0 || p.DecodeErrors > 0:
			gapped++
		case p.ObservedFromStart:
			full++
		default:
			mid++
		}
	}
	para(w, W, "", fmt.Sprintf("Sessions: %d (%d seen from their start, %d joined mid-way, %d partly unreadable, %d never readable)",
		len(peers), full, mid, gapped, unread))
	if gapped+unread > 0 {
		para(w, W, "", fmt.Sprintf("Visibility: %d record(s) could not be decrypted or decoded; the analysis says nothing about what they carried.",
			a.stats.GapRecords))
	}
	if mid > 0 {
		para(w, W, "", fmt.Sprintf("Visibility: %d session(s) began before the capture; their tables hold only what was advertised while capturing.", mid))
	}
	if n := a.stats.PathsRefused; n > 0 {
		para(w, W, "", fmt.Sprintf("Visibility: the analyzer held --max-paths (%d) paths and did not keep %d advertisement(s) of new ones; "+
			"the tables that lost them are incomplete, and the anomalies say nothing about what those paths carried (see Limits).", a.cfg.MaxPaths, n))
	}
	if l := a.limitsHit(); l != "" {
		para(w, W, "", "Limits: "+l+".")
	}
	fab := a.Fabric()
	if p := o.Filter.Peer; p != "" {
		fab = slices.DeleteFunc(fab, func(d DeviceView) bool { return d.SystemIP.String() != p && !slices.Contains(d.Peers, p) })
	}
	if o.Top > 0 && (len(peers) > o.Top || len(fab) > o.Top) {
		para(w, W, "", fmt.Sprintf("(Large fabric: each list shows its %d most troubled and largest entries; --top 0 shows all.)", o.Top))
	}

	fmt.Fprintf(w, "\nPEERS\n")
	type peerLine struct {
		p       *Peer
		trouble int
		size    int
		cells   []string
	}
	lines := make([]peerLine, len(peers))
	for k := range peers {
		p := &peers[k]
		var rt, tl, sv [2]int
		for _, t := range p.Tables {
			i := 0
			if t.From != endpointName(p.Client) {
				i = 1
			}
			rt[i], tl[i], sv[i] = t.Routes, t.TLOCs, t.Services
		}
		hold, gr := "-", "-"
		if p.HoldTime > 0 {
			hold = p.HoldTime.String()
		}
		if p.OMP != "none" {
			gr = "off"
			if p.GR {
				gr = p.GRTimer.String()
			}
		}
		note := p.DownReason
		if p.GapRecords > 0 {
			note = strings.TrimSpace(note + fmt.Sprintf(" %d unreadable record(s)", p.GapRecords))
		}
		if !p.ObservedFromStart && p.Records > 0 {
			note = strings.TrimSpace(note + " joined mid-way")
		}
		l := peerLine{p: p, size: rt[0] + rt[1] + tl[0] + tl[1] + sv[0] + sv[1]}
		// trouble: records that could not be read, then an OMP session
		// that is not up; a control connection torn down without OMP
		// (an edge done with its vBond) is ordinary
		if p.GapRecords > 0 || p.DecodeErrors > 0 {
			l.trouble += 2
		}
		if p.OMP != "up" && p.OMP != "none" {
			l.trouble++
		}
		l.cells = []string{peerName(p.Client), peerName(p.Server), dash(p.Transport), p.Control, p.OMP, hold, gr,
			fmt.Sprintf("%d/%d", rt[0], rt[1]), fmt.Sprintf("%d/%d", tl[0], tl[1]), fmt.Sprintf("%d/%d", sv[0], sv[1]), note}
		lines[k] = l
	}
	shown := lines
	if o.Top > 0 && len(lines) > o.Top {
		states := map[string]int{}
		for _, l := range lines {
			states["control "+l.p.Control+", OMP "+l.p.OMP]++
		}
		para(w, W, "", fmt.Sprintf("%d sessions: %s", len(lines), countsText(states)))
		shown = slices.Clone(lines)
		slices.SortStableFunc(shown, func(x, y peerLine) int {
			if x.trouble != y.trouble {
				return y.trouble - x.trouble
			}
			return y.size - x.size
		})
		shown = shown[:o.Top]
	}
	tt := &textTable{flex: []int{10}, keep: map[int]int{0: 15, 1: 15, 2: 9, 7: 99, 8: 99, 9: 99}}
	tt.row("CLIENT", "SERVER", "TRANSPORT", "CONTROL", "OMP", "HOLD", "GR", "ROUTES →/←", "TLOCS →/←", "SERVICES →/←", "NOTE")
	for _, l := range shown {
		tt.row(l.cells...)
	}
	tt.write(w, o.Width)
	if len(shown) < len(lines) {
		para(w, W, "", fmt.Sprintf("… and %d more sessions (--top 0 lists them all)", len(lines)-len(shown)))
	}

	if len(fab) > 0 {
		fmt.Fprintln(w)
		para(w, W, "", "FABRIC (live tables: what each device received from its peers and advertised to them)")
		devs := fab
		if o.Top > 0 && len(fab) > o.Top {
			types := map[string]int{}
			for _, d := range fab {
				types[d.DeviceType.String()]++
			}
			para(w, W, "", fmt.Sprintf("%d devices: %s", len(fab), countsText(types)))
			devs = slices.Clone(fab)
			slices.SortStableFunc(devs, func(x, y DeviceView) int {
				return y.Received.Routes + y.Advertised.Routes - x.Received.Routes - x.Advertised.Routes
			})
			devs = devs[:o.Top]
		}
		tt := &textTable{flex: []int{3}, keep: map[int]int{0: 15, 4: 99, 5: 99}}
		tt.row("SYSTEM-IP", "TYPE", "SITE", "PEERS", "RECEIVED r/t/s", "ADVERTISED r/t/s")
		for _, d := range devs {
			tt.row(d.SystemIP.String(), d.DeviceType.String(), u32s(d.SiteID), peersText(d.Peers),
				fmt.Sprintf("%d/%d/%d", d.Received.Routes, d.Received.TLOCs, d.Received.Services),
				fmt.Sprintf("%d/%d/%d", d.Advertised.Routes, d.Advertised.TLOCs, d.Advertised.Services))
		}
		tt.write(w, o.Width)
		if len(devs) < len(fab) {
			para(w, W, "", fmt.Sprintf("… and %d more devices (--top 0 lists them all)", len(fab)-len(devs)))
		}
	}

	fmt.Fprintf(w, "\nANOMALIES (%d)\n", len(anoms))
	if len(anoms) == 0 {
		if gapped+unread > 0 || a.stats.PathsRefused > 0 {
			para(w, W, "", "None in what could be read; parts of the capture could not be (see Visibility).")
		} else {
			fmt.Fprintln(w, "None.")
		}
	}
	kinds := map[Kind][]Anomaly{}
	for _, an := range anoms {
		kinds[an.Kind] = append(kinds[an.Kind], an)
	}
	for _, k := range Kinds() {
		list := kinds[k]
		if len(list) == 0 {
			continue
		}
		worst := SevInfo
		for _, an := range list {
			worst = max(worst, an.Severity)
		}
		fmt.Fprintf(w, "\n%s (%d, %s)\n", k, len(list), worst)
		if o.Top > 0 && len(list) > o.Top {
			list = slices.Clone(list)
			slices.SortStableFunc(list, func(x, y Anomaly) int { return int(y.Severity) - int(x.Severity) })
			list = list[:o.Top]
		}
		for _, an := range list {
			end := "ongoing"
			if !an.End.IsZero() {
				end = tsText(an.End)
			}
			para(w, W, "  ", an.Subject)
			para(w, W, "    ", fmt.Sprintf("%s – %s, %d frame(s)%s", tsText(an.Start), end, an.EvidenceCount, framesText(an.Evidence)))
			para(w, W, "    ", an.Explanation)
		}
		if n := len(kinds[k]) - len(list); n > 0 {
			para(w, W, "  ", fmt.Sprintf("… and %d more %s (--top 0 lists them all)", n, k))
		}
	}
	if a.dropped > 0 {
		fmt.Fprintln(w)
		para(w, W, "", fmt.Sprintf("(%d older anomalies dropped: more than %d)", a.dropped, a.cfg.MaxAnomalies))
	}
	return ew.err
}

// countsText writes counts by name, the largest first ("12 up, 3 down").
func countsText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int {
		if m[x] != m[y] {
			return m[y] - m[x]
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strconv.Itoa(m[k]) + " " + k
	}
	return strings.Join(parts, "; ")
}

// peersText lists a device's peers, or counts them when there are many.
func peersText(ps []string) string {
	if len(ps) <= 3 {
		return strings.Join(ps, ",")
	}
	return strconv.Itoa(len(ps)) + ": " + strings.Join(ps[:2], ",") + ",…"
}

// errWriter keeps the first write error and writes nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func endpointName(e Endpoint) string {
	if e.SystemIP.IsValid() {
		return e.SystemIP.String()
	}
	return "?" + e.Addr.String()
}

func peerName(e Endpoint) string {
	s := endpointName(e)
	if e.DeviceType != 0 {
		s += " (" + e.DeviceType.String()
		if e.SiteID != 0 {
			s += " site " + u32s(e.SiteID)
		}
		s += ")"
	}
	return s
}

func framesText(fr []uint64) string {
	if len(fr) == 0 {
		return ""
	}
	fs := slices.Clone(fr)
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = strconv.FormatUint(f, 10)
	}
	return ": " + strings.Join(parts, " ")
}

// limitsHit says which of the analyzer's caps the capture reached ("":
// none), for the summary: what each leaves out is counted in Stats.
func (a *Analyzer) limitsHit() string {
	lim := a.limits()
	if lim == nil {
		return ""
	}
	var l []string
	if n := lim.SaturatedVersions; n > 0 {
		l = append(l, fmt.Sprintf("%d row version(s) kept at a saturated frame number or graceful-restart count, or not kept (a table's history full)", n))
	}
	if n := lim.NotDistributedUnnoted; n > 0 {
		vpns, origs := distMaxVPNs, distMaxOrigs
		if d, ok := detectorOf[*distDet](a); ok {
			vpns, origs = d.maxVPNs, d.maxOrigs
		}
		l = append(l, fmt.Sprintf("%d path(s) whose VPN or originator not-distributed did not note (%d VPNs and %d originators per receiver): "+
			"their receivers are not judged for them", n, vpns, origs))
	}
	if n := lim.MeshUntracked; n > 0 {
		l = append(l, fmt.Sprintf("%d HANDSHAKE(s) named a vSmart past the %d vsmart-mesh-incomplete tracks: their pairs are not judged", n, maxMeshVSmarts))
	}
	if n := lim.SessionsRefused; n > 0 {
		l = append(l, fmt.Sprintf("%d input(s) of sessions new while the analyzer held %d (MaxSessions) were not analyzed", n, a.cfg.MaxSessions))
	}
	if n := lim.DevicesUntracked; n > 0 {
		l = append(l, fmt.Sprintf("%d HANDSHAKE(s) named a system-ip or address past the %d devices the analyzer records: "+
			"those are not judged for duplicate system-ips", n, a.maxDev))
	}
	if n := lim.TableSessionsOmitted; n > 0 {
		l = append(l, fmt.Sprintf("%d session(s) left out of the lists of the sessions that carried a table (the first and the last %d are kept)",
			n, maxTableSessions))
	}
	if n := lim.StaleFlushesForgotten; n > 0 {
		l = append(l, fmt.Sprintf("%d graceful-restart flush(es) forgotten by stale-after-gr (it keeps %d per prefix or TLOC): "+
			"stale paths of those are not judged", n, maxStaleFlushes))
	}
	if n := lim.GRSpansForgotten; n > 0 {
		l = append(l, fmt.Sprintf("%d graceful-restart period(s) forgotten by their tables (each keeps its last %d): "+
			"the report's history, and --at or --diff of instants inside them, show those tables out of GR and their paths not stale", n, maxGRSpans))
	}
	if n := lim.PathsRefused; n > 0 {
		l = append(l, fmt.Sprintf("%d advertisement(s) of new paths not kept: the analyzer held %d paths (--max-paths) already; "+
			"their tables are incomplete, and not-distributed, vsmart-divergence, withdraw-unknown, unresolved-route (for TLOCs) "+
			"and stale-after-gr no longer raise notices a path not kept could make false", n, a.cfg.MaxPaths))
	}
	return strings.Join(l, "; ")
}
