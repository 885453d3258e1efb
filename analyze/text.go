package analyze

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
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
func WriteTables(w io.Writer, s *Snapshot) {
	exact := "exact"
	if !s.Exact {
		exact = fmt.Sprintf("inexact: %d row(s) unknown, history pruned before %s", s.Unknown, ts(s.Horizon))
	}
	fmt.Fprintf(w, "OMP tables at %s (%s)\n\n%s\n", ts(s.At), exact, StatusLegend)
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "ROUTES (%d)\n", nr)
	if nr > 0 {
		fmt.Fprintln(tw, "VPN\tPREFIX\tFROM PEER\tTO PEER\tPATH ID\tLABEL\tSTATUS\tORIGINATOR\tTLOC IP\tCOLOR\tENCAP\tPREFERENCE\tSITE ID\tORIGIN")
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
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key.VPN, r.Key.Prefix, x.t.From, x.t.To,
				r.Key.PathID, label, r.Status, dash(addrStr(r.Key.Originator)), tl[0], tl[1], tl[2], pref, site, origin)
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
func WriteDiff(w io.Writer, d *Diff) {
	fmt.Fprintf(w, "OMP table changes from %s to %s", ts(d.From), ts(d.To))
	if !d.Exact {
		fmt.Fprint(w, " (inexact: history was pruned)")
	}
	fmt.Fprintf(w, "\n%d added, %d withdrawn, %d changed\n", len(d.Added), len(d.Withdrawn), len(d.Changed))
	for _, r := range d.Added {
		fmt.Fprintf(w, "+ %s → %s  %s  [%s] %s\n", r.From, r.To, rowLine(r.New), r.New.Status, attrsText(r.New.Attrs))
	}
	for _, r := range d.Withdrawn {
		fmt.Fprintf(w, "- %s → %s  %s  [%s] %s\n", r.From, r.To, rowLine(r.Old), r.Old.Status, attrsText(r.Old.Attrs))
	}
	for _, r := range d.Changed {
		fmt.Fprintf(w, "~ %s → %s  %s\n    old [%s] %s\n    new [%s] %s\n", r.From, r.To, rowLine(r.New),
			r.Old.Status, attrsText(r.Old.Attrs), r.New.Status, attrsText(r.New.Attrs))
	}
}

// WriteSummary writes the summary for people: capture span and visibility,
// every session with its states and table sizes, the fabric view, and the
// anomalies grouped by kind with their explanations.
func (a *Analyzer) WriteSummary(w io.Writer) {
	peers := a.Peers()
	anoms := a.Anomalies()
	start, now := a.Start(), a.Now()
	fmt.Fprintf(w, "Capture: %s to %s (%s)\n", ts(start), ts(now), now.Sub(start).Round(time.Millisecond))

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
	fmt.Fprintf(w, "Sessions: %d (%d seen from their start, %d joined mid-way, %d partly unreadable, %d never readable)\n",
		len(peers), full, mid, gapped, unread)
	if gapped+unread > 0 {
		fmt.Fprintf(w, "Visibility: %d record(s) could not be decrypted or decoded; the analysis says nothing about what they carried.\n",
			a.stats.GapRecords)
	}
	if mid > 0 {
		fmt.Fprintf(w, "Visibility: %d session(s) began before the capture; their tables hold only what was advertised while capturing.\n", mid)
	}

	fmt.Fprintf(w, "\nPEERS\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tTRANSPORT\tCONTROL\tOMP\tHOLD\tGR\tROUTES →/←\tTLOCS →/←\tSERVICES →/←\tNOTE")
	for _, p := range peers {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%d/%d\t%s\n", peerName(p.Client), peerName(p.Server),
			dash(p.Transport), p.Control, p.OMP, hold, gr, rt[0], rt[1], tl[0], tl[1], sv[0], sv[1], note)
	}
	tw.Flush()

	if fab := a.Fabric(); len(fab) > 0 {
		fmt.Fprintf(w, "\nFABRIC (live tables: what each device received from its peers and advertised to them)\n")
		fmt.Fprintln(tw, "SYSTEM-IP\tTYPE\tSITE\tPEERS\tRECEIVED r/t/s\tADVERTISED r/t/s")
		for _, d := range fab {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d/%d\t%d/%d/%d\n", d.SystemIP, d.DeviceType, d.SiteID, strings.Join(d.Peers, ","),
				d.Received.Routes, d.Received.TLOCs, d.Received.Services, d.Advertised.Routes, d.Advertised.TLOCs, d.Advertised.Services)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nANOMALIES (%d)\n", len(anoms))
	if len(anoms) == 0 {
		if gapped+unread > 0 {
			fmt.Fprintln(w, "None in what could be read; parts of the capture could not be (see Visibility).")
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
		for _, an := range list {
			end := "ongoing"
			if !an.End.IsZero() {
				end = ts(an.End)
			}
			fmt.Fprintf(w, "  %s\n    %s – %s, %d frame(s)%s\n    %s\n", an.Subject, ts(an.Start), end, an.EvidenceCount,
				framesText(an.Evidence), an.Explanation)
		}
	}
	if a.dropped > 0 {
		fmt.Fprintf(w, "\n(%d older anomalies dropped: more than %d)\n", a.dropped, a.cfg.MaxAnomalies)
	}
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
