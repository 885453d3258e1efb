package report

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

const start = int64(1767265051050040000) // 2026-01-01T10:57:31.05004Z

// history builds a small History by hand: two tables (an edge to a vSmart
// and back), two prefixes, a TLOC, changes and a withdrawal.
func history() *analyze.History {
	sys := netip.MustParseAddr("10.255.0.1")
	tl := omp.TLOCKey{SystemIP: sys, Color: sdwan.ColorBizInternet, Encap: sdwan.EncapIPsec}
	a1 := &analyze.Attrs{Originator: sys, TLOC: tl, Preference: 100}
	a2 := &analyze.Attrs{Originator: sys, TLOC: tl, Preference: 200}
	at := &analyze.Attrs{Preference: 5}
	h := &analyze.History{Start: start, End: start + int64(40*time.Second), DistributionWindow: 30 * time.Second,
		Tables: []analyze.HistTable{
			{ID: 2, From: "1.1.1.3", To: "10.255.0.1", FromType: sdwan.DeviceVSmart, ToType: sdwan.DeviceVEdge,
				FromSys: netip.MustParseAddr("1.1.1.3"), ToSys: sys, Session: "s1", Sessions: []string{"s1"}, Created: start + 1e9, Limit: 4, Edge: true, Order: 0, FromRank: 0},
			{ID: 1, From: "10.255.0.1", To: "1.1.1.3", FromType: sdwan.DeviceVEdge, ToType: sdwan.DeviceVSmart,
				FromSys: sys, ToSys: netip.MustParseAddr("1.1.1.3"), Session: "s1", Sessions: []string{"s1"}, Created: start + 1e9, Limit: 4,
				GR: []analyze.HistSpan{{Start: start + 30e9, N: 1}}, Order: 1, FromRank: 1},
		},
		Sessions: map[string]*analyze.HistSession{"s1": {OMP: []analyze.HistOMP{{T: start + 1e9, State: "up"}}, Now: "up", Full: true}},
		Groups: []analyze.HistGroup{
			{Kind: "route", VPN: 10, Prefix: netip.MustParsePrefix("10.0.0.0/24")},
			{Kind: "route", VPN: 10, Prefix: netip.MustParsePrefix("2001:db8::/48")},
			{Kind: "tloc", TLOC: tl},
		},
		Rows: []analyze.HistRow{
			{Table: 1, Group: 0, Family: omp.FamilyRouteV4, PathID: 1},
			{Table: 1, Group: 1, Family: omp.FamilyRouteV6, PathID: 1},
			{Table: 1, Group: 2, Family: omp.FamilyTLOCv4, PathID: 1},
			{Table: 2, Group: 0, Family: omp.FamilyRouteV4, PathID: 7},
		},
		Attrs: []analyze.HistAttrs{
			{Attrs: a1, HasTLOC: true, HasOriginator: true, OriginRank: 8, TLOCSys: 0x0aff0001, TLOCColor: uint32(tl.Color), TLOCEncap: uint8(tl.Encap)},
			{Attrs: a2, HasTLOC: true, HasOriginator: true, OriginRank: 8, TLOCSys: 0x0aff0001, TLOCColor: uint32(tl.Color), TLOCEncap: uint8(tl.Encap)},
			{Attrs: at, HasAddress: true, OriginRank: 8},
		},
		VerTime:    []int64{start + 2e9, start + 2e9, start + 2e9, start + 3e9, start + 10e9, start + 20e9, start + 25e9},
		VerRow:     []uint32{2, 0, 1, 3, 0, 1, 0},
		VerAttr:    []uint32{3, 1, 1, 1, 2, 0, 2},
		VerGR:      []uint32{0, 0, 0, 0, 0, 0, 0},
		VerRefresh: []bool{false, false, false, false, false, false, true},
		States: []analyze.HistState{{T: start + 1e9, Frame: 3, Session: "s1", Layer: "control", Old: "connect", New: "up"},
			{T: start + 30e9, Frame: 90, Session: "s1", Layer: "omp", Old: "up", New: "down-in-gr", Reason: "TEAR_DOWN"}},
	}
	return h
}

// blobs reads the page's three data elements back.
func blobs(t *testing.T, page string) (meta, data map[string]any, hist []byte) {
	t.Helper()
	get := func(id string) []byte {
		m := regexp.MustCompile(`<script type="application/octet-stream" id="` + id + `" data-bytes="(\d+)">([^<]*)</script>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s in the page", id)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(m[2], "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		if want := m[1]; want != itoa(len(raw)) {
			t.Fatalf("%s: data-bytes %s, holds %d", id, want, len(raw))
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := json.Unmarshal(get("ompscope-meta"), &meta); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(get("ompscope-data"), &data); err != nil {
		t.Fatal(err)
	}
	return meta, data, get("ompscope-hist")
}

func itoa(n int) string { return strconv.Itoa(n) }

// decodeHist decodes the binary history as app.js does.
type decoded struct {
	groups                    int
	rowTab, rowGrp, rowPath   []int64
	verT, verRow, verAttr, gr []int64
}

func decodeHist(t *testing.T, b []byte) decoded {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(histMagic)) {
		t.Fatalf("magic %q", b[:5])
	}
	r := bytes.NewReader(b[len(histMagic):])
	uv := func() int64 {
		v, err := binary.ReadUvarint(r)
		if err != nil {
			t.Fatal(err)
		}
		return int64(v)
	}
	sv := func() int64 {
		v, err := binary.ReadVarint(r)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	skip := func(n int) { r.Seek(int64(n), io.SeekCurrent) }
	var d decoded
	d.groups = int(uv())
	for i := 0; i < d.groups; i++ {
		k, _ := r.ReadByte()
		switch k {
		case 0:
			uv()
			ver, _ := r.ReadByte()
			r.ReadByte()
			if ver == 4 {
				skip(4)
			} else {
				skip(16)
			}
		case 1:
			uv()
		default:
			uv()
			uv()
			skip(4)
		}
	}
	var pt, pg int64
	for n := uv(); n > 0; n-- {
		pt += sv()
		pg += sv()
		r.ReadByte()
		d.rowTab, d.rowGrp, d.rowPath = append(d.rowTab, pt), append(d.rowGrp, pg), append(d.rowPath, uv())
	}
	var tt, rr, aa int64
	for n := uv(); n > 0; n-- {
		tt += uv()
		rr += sv()
		aa += sv()
		d.verT, d.verRow, d.verAttr, d.gr = append(d.verT, tt), append(d.verRow, rr), append(d.verAttr, aa), append(d.gr, uv())
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left over", r.Len())
	}
	return d
}

func TestWriteRoundTrip(t *testing.T) {
	h := history()
	var buf bytes.Buffer
	info := Info{Title: "x</script><script>alert(1)</script>", Files: []string{"a.pcapng"}, KeyArgs: "--keylog k.keys",
		Undecrypted: []Fact{{Label: "no-key", Value: "3"}}}
	if err := Write(&buf, h, &analyze.SummaryJSON{}, info); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the title's markup reached the page")
	}
	if !strings.Contains(page, `Content-Security-Policy" content="default-src 'none'`) {
		t.Error("no Content-Security-Policy forbidding requests")
	}
	for _, s := range []string{"uPlot", "MIT License", "ompscope report"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	meta, data, hb := blobs(t, page)
	if meta["schema"] != Schema || meta["start"] != "2026-01-01T10:57:31.050040000Z" || meta["end"] != float64(40e9) {
		t.Errorf("meta: schema %v start %v end %v", meta["schema"], meta["start"], meta["end"])
	}
	tables := data["tables"].([]any)
	if len(tables) != 2 {
		t.Fatalf("%d tables", len(tables))
	}
	// h.Tables[0] (ID 2, from 1.1.1.3) lists first in snapshot order
	if o := tables[0].(map[string]any)["order"]; o != float64(0) {
		t.Errorf("table 1.1.1.3→10.255.0.1 has order %v; want 0", o)
	}
	d := decodeHist(t, hb)
	if d.groups != 3 || len(d.rowTab) != 4 || len(d.verT) != 7 {
		t.Fatalf("decoded %d groups, %d rows, %d versions", d.groups, len(d.rowTab), len(d.verT))
	}
	// rows in snapshot order: table index 0 (ID 2) first, then by group
	wantRows := [][3]int64{{0, 0, 7}, {1, 0, 1}, {1, 1, 1}, {1, 2, 1}}
	for i, w := range wantRows {
		if got := [3]int64{d.rowTab[i], d.rowGrp[i], d.rowPath[i]}; got != w {
			t.Errorf("row %d: (table, group, path) %v, want %v", i, got, w)
		}
	}
	// versions: times from the start, rows renumbered, attributes + 1
	old2new := map[uint32]int64{0: 1, 1: 2, 2: 3, 3: 0}
	for i := range h.VerTime {
		if d.verT[i] != h.VerTime[i]-start || d.verRow[i] != old2new[h.VerRow[i]] || d.verAttr[i] != int64(h.VerAttr[i]) ||
			d.gr[i] != map[bool]int64{false: 0, true: 1}[h.VerRefresh[i]] {
			t.Errorf("version %d: %d %d %d %d", i, d.verT[i], d.verRow[i], d.verAttr[i], d.gr[i])
		}
	}
	// the fabric's sizes: 3 rows at 2 s, 4 at 3 s, 3 at 20 s (a withdrawal)
	s := meta["series"].(map[string]any)
	if s["exact"] != true || s["changes"] != float64(3) {
		t.Errorf("series: %v", s)
	}
	routes := s["sizes"].([]any)[0].([]any)
	if got := []any{float64(0), float64(2), float64(3), float64(2), float64(2)}; !jsonEqual(routes, got) {
		t.Errorf("route sizes %v, want %v", routes, got)
	}
	// the GR span and the owners travel with the tables
	t1 := tables[1].(map[string]any)
	if gr := t1["gr"].([]any); len(gr) != 1 || gr[0].([]any)[1] != nil {
		t.Errorf("GR spans %v", t1["gr"])
	}
	if _, ok := data["omp"].(map[string]any)["s1"]; !ok {
		t.Error("no OMP history for session s1")
	}
	// same input, same bytes
	var again bytes.Buffer
	if err := Write(&again, h, &analyze.SummaryJSON{}, info); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("two reports of one history differ")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestFabricSeriesDownsamples(t *testing.T) {
	h := history()
	h.VerTime, h.VerRow, h.VerAttr, h.VerGR, h.VerRefresh = nil, nil, nil, nil, nil
	// 4 000 changes, each at its own instant: the row comes and goes
	for i := 0; i < 4000; i++ {
		h.VerTime = append(h.VerTime, start+int64(i)*int64(time.Millisecond))
		h.VerRow = append(h.VerRow, 0)
		h.VerAttr = append(h.VerAttr, uint32(1-i%2))
		h.VerGR = append(h.VerGR, 0)
		h.VerRefresh = append(h.VerRefresh, false)
	}
	s := fabricSeries(h)
	if s.Exact || s.Changes != 4000 || len(s.Times) > MaxPoints+2 {
		t.Fatalf("series of 4 000 changes: exact %v, %d changes, %d points", s.Exact, s.Changes, len(s.Times))
	}
	// each slice keeps its largest size, 1, and its smallest, 0, while
	// the row flips
	if len(s.Mins[0]) != len(s.Sizes[0]) {
		t.Fatalf("%d minima for %d points", len(s.Mins[0]), len(s.Sizes[0]))
	}
	for i, v := range s.Sizes[0][1:] {
		if s.Times[i+1] <= int64(4*time.Second) && (v != 1 || s.Mins[0][i+1] != 0) {
			t.Fatalf("point %d at %d: %d..%d routes, want 0..1", i+1, s.Times[i+1], s.Mins[0][i+1], v)
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		n := f.after
		f.after = 0
		return n, errors.New("no space left on device")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	if err := Write(io.Discard, nil, nil, Info{}); err == nil || !strings.Contains(err.Error(), "Config.Record") {
		t.Errorf("no history: %v", err)
	}
	for _, after := range []int{0, 100_000} {
		if err := Write(&failWriter{after: after}, history(), &analyze.SummaryJSON{}, Info{}); err == nil {
			t.Errorf("a writer failing after %d bytes: no error", after)
		}
	}
	// an empty capture still makes a page
	var buf bytes.Buffer
	if err := Write(&buf, &analyze.History{Sessions: map[string]*analyze.HistSession{}}, nil, Info{}); err != nil {
		t.Fatal(err)
	}
	meta, data, hb := blobs(t, buf.String())
	if meta["schema"] != Schema || len(data["tables"].([]any)) != 0 || d0(decodeHist(t, hb)) {
		t.Error("empty history: unexpected page data")
	}
}

func d0(d decoded) bool { return d.groups != 0 || len(d.rowTab) != 0 || len(d.verT) != 0 }
