package analyze

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/ompscope/ompscope/dissect/omp"
)

// csvHeader is the header row of WriteTablesCSV: one row a path, the
// columns of `show omp routes`/`tlocs`/`services` in one table.
var csvHeader = []string{"at", "kind", "from", "to", "vpn", "prefix", "tloc", "service", "path_id", "originator",
	"status", "color", "encap", "preference", "site_id", "tag", "label", "private", "public", "first_seen", "last_change"}

// WriteTablesCSV writes a snapshot as CSV (RFC 4180), one row a path of
// every table, for spreadsheets and scripts; empty cells where a column does
// not apply to the kind of path. header starts with the header row (leave
// it out for the next instants of one file: the at column tells them apart).
func WriteTablesCSV(w io.Writer, s *Snapshot, header bool) error {
	cw := csv.NewWriter(w)
	at := string(appendTime(nil, s.At))
	if header {
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
	}
	num := func(has bool, v uint32) string {
		if !has {
			return ""
		}
		return strconv.FormatUint(uint64(v), 10)
	}
	for i := range s.Tables {
		t := s.Tables[i]
		for _, rows := range [][]Row{t.Routes, t.TLOCs, t.Services} {
			for j := range rows {
				r := &rows[j]
				a := r.Attrs
				rec := make([]string, len(csvHeader))
				rec[0], rec[1], rec[2], rec[3] = at, r.Kind, t.From, t.To
				k := &r.Key
				switch r.Kind {
				case "route":
					rec[4], rec[5] = strconv.FormatUint(uint64(k.VPN), 10), k.Prefix.String()
				case "tloc":
					rec[6] = k.TLOC.String()
				default:
					rec[4], rec[7] = strconv.FormatUint(uint64(k.VPN), 10), k.Service.String()
				}
				rec[8] = strconv.FormatUint(uint64(k.PathID), 10)
				if k.Originator.IsValid() {
					rec[9] = k.Originator.String()
				}
				rec[10] = r.Status
				if a != nil {
					tl := a.TLOC
					if r.Kind == "tloc" {
						tl = k.TLOC
					}
					if r.Kind == "tloc" || a.HasTLOC() {
						rec[11], rec[12] = tl.Color.String(), tl.Encap.String()
						if r.Kind != "tloc" {
							rec[6] = a.TLOC.String()
						}
					}
					rec[13] = num(a.Has(omp.AttrPreference), a.Preference)
					rec[14] = num(a.Has(omp.AttrSiteID), a.SiteID)
					rec[15] = num(a.Has(omp.AttrTag), a.Tag)
					rec[16] = num(a.Has(omp.AttrLabel), a.Label)
					if a.PrivateV4.IsValid() {
						rec[17] = a.PrivateV4.String()
					}
					if a.PublicV4.IsValid() {
						rec[18] = a.PublicV4.String()
					}
				}
				rec[19] = string(appendTime(nil, r.FirstSeen))
				rec[20] = string(appendTime(nil, r.LastChange))
				if err := cw.Write(rec); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
