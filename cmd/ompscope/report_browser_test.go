package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The report's browser tests open reports of the samples in Debian's
// chromium, headless (.ci/run installs it), and hold the page to what
// analyze says: no JavaScript error, no request leaving the page, plots
// drawn, the anomaly list, the tables at the end and at instants picked
// on the page equal to analyze --at. Screenshots go to $OMPSCOPE_ARTIFACTS
// (default: a temporary directory, logged).

func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("OMPSCOPE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("chromium is not installed: the report's browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

func artifactsDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("OMPSCOPE_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "ompscope-artifacts")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// browser starts one headless chromium for a test.
func browser(t testing.TB) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("allow-file-access-from-files", true), chromedp.WindowSize(1280, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// page is one report open in a tab, with what went wrong on it.
type page struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	errs   []string
	reqs   int
}

// close closes the tab.
func (p *page) close() { p.cancel() }

func (p *page) problem(s string) {
	p.mu.Lock()
	p.errs = append(p.errs, s)
	p.mu.Unlock()
}

func openReport(t testing.TB, bctx context.Context, file string) *page {
	t.Helper()
	p := &page{}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithListener(p.listen))
	t.Cleanup(cancel)
	p.cancel = cancel
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	p.ctx = ctx
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	abs, _ := filepath.Abs(file)
	tctx, tcancel := context.WithTimeout(ctx, 120*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("%s: opening the report: %v", file, err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`!!(window.ompscope && (window.ompscope.ready || window.ompscope.error !== null))`,
		chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		var st string
		p.eval(t, `JSON.stringify({ready: window.ompscope && window.ompscope.ready, error: window.ompscope && window.ompscope.error, app: document.getElementById('app').textContent.slice(0, 300)})`, &st)
		p.check(t, file)
		t.Fatalf("%s: the report did not finish loading: %v (%s)", file, err, st)
	}
	var ready bool
	var perr string
	p.eval(t, `window.ompscope.ready`, &ready)
	p.eval(t, `String(window.ompscope.error)`, &perr)
	if !ready {
		t.Fatalf("%s: the page failed: %s", file, perr)
	}
	return p
}

func (p *page) listen(ev any) {
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		p.problem(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.problem("console." + string(e.Type) + ": " + strings.Join(parts, " "))
		}
	case *network.EventRequestWillBeSent:
		p.mu.Lock()
		p.reqs++
		p.mu.Unlock()
		u := e.Request.URL
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			p.problem("request leaving the page: " + u)
		}
	case *network.EventLoadingFailed:
		p.problem("failed request: " + e.ErrorText)
	}
}

// eval evaluates expr in the page and decodes its value into out.
func (p *page) eval(t testing.TB, expr string, out any) {
	t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		t.Fatalf("evaluating %s: %v (%.200s)", expr, err, v)
	}
}

func (p *page) check(t testing.TB, name string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		t.Errorf("%s: %s", name, e)
	}
}

// atJSON runs analyze --at at the instants and returns the snapshots.
func atJSON(t *testing.T, file string, instants []string) []map[string]any {
	t.Helper()
	args := []string{"analyze", "-r", file, "-T", "json"}
	for _, in := range instants {
		args = append(args, "--at", in)
	}
	code, out, errs := runCmd(t, "", args...)
	if code != 0 && code != exitAnomalies {
		t.Fatalf("analyze --at: %d %s", code, errs)
	}
	var snaps []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, m)
	}
	if len(snaps) != len(instants) {
		t.Fatalf("analyze --at: %d snapshots for %d instants", len(snaps), len(instants))
	}
	return snaps
}

// sameTables compares the page's snapshot with analyze --at's, table by
// table and row by row (every member but the attributes, which the page
// shows in its own columns).
func sameTables(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	wt, _ := want["tables"].([]any)
	gt, _ := got["tables"].([]any)
	if len(wt) != len(gt) {
		t.Errorf("%s: %d tables, analyze --at has %d", what, len(gt), len(wt))
		return
	}
	bad := 0
	for i := range wt {
		w, g := wt[i].(map[string]any), gt[i].(map[string]any)
		for _, k := range []string{"id", "from", "to", "from_type", "to_type", "session", "omp_state", "graceful_restart", "complete"} {
			if !reflect.DeepEqual(w[k], g[k]) {
				t.Errorf("%s: table %v→%v: %s %v, analyze --at has %v", what, w["from"], w["to"], k, g[k], w[k])
			}
		}
		for _, kind := range []string{"routes", "tlocs", "services"} {
			wr, _ := w[kind].([]any)
			gr, _ := g[kind].([]any)
			if len(wr) != len(gr) {
				t.Errorf("%s: table %v→%v: %d %s, analyze --at has %d", what, w["from"], w["to"], len(gr), kind, len(wr))
				continue
			}
			for j := range wr {
				wm := wr[j].(map[string]any)
				delete(wm, "attrs")
				if !reflect.DeepEqual(wm, gr[j]) && bad < 5 {
					bad++
					wb, _ := json.Marshal(wm)
					gb, _ := json.Marshal(gr[j])
					t.Errorf("%s: table %v→%v %s row %d:\n page    %s\n analyze %s", what, w["from"], w["to"], kind, j, gb, wb)
				}
			}
		}
	}
}

func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests: not in -short")
	}
	bctx := browser(t)
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) == 0 {
		t.Fatal("no sample")
	}
	art := artifactsDir(t)
	t.Logf("screenshots in %s", art)
	dir := t.TempDir()
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".pcapng")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".html")
			code, _, errs := runCmd(t, "", "report", "-r", file, "-o", out)
			if code != 0 && code != exitAnomalies {
				t.Fatalf("report: %d %s", code, errs)
			}
			var sum struct {
				Capture struct {
					Start, End string
				}
				Peers     []json.RawMessage
				Anomalies []struct {
					ID             int
					Kind, Severity string
					Subject, Start string
				}
				Fabric []struct {
					SystemIP      string   `json:"system_ip"`
					PeerSystemIPs []string `json:"peer_system_ips"`
					Received      struct {
						Routes   int `json:"route_count"`
						TLOCs    int `json:"tloc_count"`
						Services int `json:"service_count"`
					}
					Advertised struct {
						Routes int `json:"route_count"`
					}
				}
			}
			_, js, _ := runCmd(t, "", "analyze", "-r", file, "-T", "json")
			if err := json.Unmarshal([]byte(js), &sum); err != nil {
				t.Fatal(err)
			}
			p := openReport(t, bctx, out)

			// the plot drew: a canvas with pixels on it
			var painted int
			p.eval(t, `(() => { const c = document.querySelector('#plot canvas'); if (!c) return -1;
				const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
				for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++; return n; })()`, &painted)
			if painted < 1000 {
				t.Errorf("the plot's canvas has %d painted pixels", painted)
			}
			// the session chart: one row per session (first page), segments drawn
			var segs, labels int
			p.eval(t, `document.querySelectorAll('#sessions-chart rect.seg').length`, &segs)
			p.eval(t, `document.querySelectorAll('#sessions-chart text.label').length`, &labels)
			if want := min(len(sum.Peers), 150); labels != want || (want > 0 && segs < want) {
				t.Errorf("session chart: %d rows and %d segments for %d sessions", labels, segs, len(sum.Peers))
			}
			// the fabric table: every device as analyze -T json has it
			// (peers and counts, no "undefined")
			var fab []string
			p.eval(t, `[...document.querySelectorAll('#fabric-table tbody tr')].map(r => [...r.children].map(c => c.textContent).join('|'))`, &fab)
			var wantFab []string
			for i, d := range sum.Fabric {
				if i == 500 {
					break
				}
				peers := strings.Join(d.PeerSystemIPs, ", ")
				if len(d.PeerSystemIPs) > 6 {
					peers = strings.Join(d.PeerSystemIPs[:6], ", ") + fmt.Sprintf(" … (%d)", len(d.PeerSystemIPs))
				}
				wantFab = append(wantFab, fmt.Sprintf("%s|%s|%d|%d|%d|%d", d.SystemIP, peers, d.Received.Routes, d.Received.TLOCs, d.Received.Services, d.Advertised.Routes))
			}
			var gotFab []string
			for _, r := range fab {
				c := strings.Split(r, "|") // device, type, site, peers, holds routes, TLOCs, services, advertises routes, ...
				if len(c) < 8 {
					t.Fatalf("fabric row %q", r)
				}
				gotFab = append(gotFab, strings.Join([]string{c[0], c[3], c[4], c[5], c[6], c[7]}, "|"))
			}
			if !slices.Equal(gotFab, wantFab) || strings.Contains(strings.Join(fab, ""), "undefined") {
				t.Errorf("fabric table on the page:\n %q\nanalyze -T json:\n %q", gotFab, wantFab)
			}
			// the anomalies: the same as analyze's, each with its kind
			var got []string
			p.eval(t, `[...document.querySelectorAll('li.anomaly')].map(e => e.dataset.id + ' ' + e.dataset.kind + ' ' + e.querySelector('strong').textContent)`, &got)
			var want []string
			for _, a := range sum.Anomalies {
				want = append(want, fmt.Sprintf("%d %s %s", a.ID, a.Kind, a.Subject))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("anomalies on the page:\n %q\nanalyze -T json:\n %q", got, want)
			}

			// the tables at the end, and at instants picked on the page
			var end float64
			p.eval(t, `ompscope.end()`, &end)
			instants := []string{"end"}
			var fracs = []float64{0.2, 0.5, 0.8}
			var rels []float64
			for _, f := range fracs {
				rel := float64(int64(end * f))
				var ts string
				p.eval(t, fmt.Sprintf(`ompscope.fmtTS(%f)`, rel), &ts)
				instants = append(instants, ts)
				rels = append(rels, rel)
			}
			for _, a := range sum.Anomalies {
				if len(instants) >= 8 {
					break
				}
				instants = append(instants, a.Start)
			}
			snaps := atJSON(t, file, instants)
			for i, in := range instants {
				expr := `JSON.stringify(ompscope.snapshotJSON(ompscope.end()))`
				if in != "end" {
					expr = fmt.Sprintf(`JSON.stringify(ompscope.snapshotJSON(ompscope.parseTS(%q)))`, in)
				}
				var s string
				p.eval(t, expr, &s)
				var g map[string]any
				if err := json.Unmarshal([]byte(s), &g); err != nil {
					t.Fatal(err)
				}
				sameTables(t, name+" --at "+in, snaps[i], g)
			}
			// picking an instant in the page shows the --at tables: type
			// it, click Show, read the count and the rows shown
			if len(instants) > 2 {
				in := instants[2]
				var info string
				var first []string
				if err := chromedp.Do(p.ctx, chromedp.SetValue("#at", in), chromedp.Click("#at-go")); err != nil {
					t.Fatal(err)
				}
				p.eval(t, `document.getElementById('tables-info').textContent`, &info)
				p.eval(t, `[...document.querySelectorAll('#rows tbody tr')].map(r => [...r.children].slice(0, 5).map(c => c.textContent).join(' '))`, &first)
				var routes []string
				for _, tv := range snaps[2]["tables"].([]any) {
					tm := tv.(map[string]any)
					for _, r := range tm["routes"].([]any) {
						rm := r.(map[string]any)
						routes = append(routes, fmt.Sprintf("%v %v %v %v %v", tm["from"], tm["to"], rm["vpn"], rm["prefix"], rm["path_id"]))
					}
				}
				if !strings.Contains(info, "At "+in) || !strings.Contains(info, fmt.Sprintf(": %s route row(s)", commas(len(routes)))) {
					t.Errorf("picking %s: the page says %q; analyze --at has %d routes", in, info, len(routes))
				}
				if n := min(len(routes), 100); len(first) != n || (n > 0 && !slices.Equal(first, routes[:n])) {
					t.Errorf("picking %s: the first page shows %d rows, analyze --at's first %d differ:\n page %q\n want %q", in, len(first), n, first[:min(3, len(first))], routes[:min(3, n)])
				}
			}
			_ = rels
			if name == "tloc-flap" || name == "edge-reboot-gr" || name == "vsmart-divergence" {
				uiChecks(t, p, file)
			}

			// a screenshot of the whole page
			png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(art, "report-"+name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
			p.check(t, name)
		})
	}
}

// commas writes n as the page does (en-US grouping).
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// BenchmarkReportOpen opens the report $OMPSCOPE_REPORT in headless
// chromium, as a reader would, and reports when its plots were drawn and
// its tables shown, in milliseconds from the start of navigation
// (pcaps/bench/report-scale.sh makes the 2 000-edge report and runs it).
func BenchmarkReportOpen(b *testing.B) {
	file := os.Getenv("OMPSCOPE_REPORT")
	if file == "" {
		b.Skip("set OMPSCOPE_REPORT to a report to open (pcaps/bench/report-scale.sh does)")
	}
	bctx := browser(b)
	var plot, tables float64
	for i := 0; i < b.N; i++ {
		p := openReport(b, bctx, file)
		var ms [2]float64
		p.eval(b, `[window.ompscope.plotMS, window.ompscope.tablesMS]`, &ms)
		var marks [][2]any
		p.eval(b, `window.ompscope.marks`, &marks)
		if i == 0 {
			b.Logf("%s: milliseconds from navigation: %v", file, marks)
		}
		plot += ms[0]
		tables += ms[1]
		p.check(b, file)
		p.close()
	}
	b.ReportMetric(plot/float64(b.N), "plot-ms")
	b.ReportMetric(tables/float64(b.N), "tables-ms")
}

// routeCount is the number of route rows in an analyze --at snapshot.
func routeCount(snap map[string]any) (n int, vpns []float64, prefixes, peers []string, maxPath float64) {
	for _, tv := range snap["tables"].([]any) {
		tm := tv.(map[string]any)
		peers = append(peers, tm["from"].(string))
		for _, r := range tm["routes"].([]any) {
			rm := r.(map[string]any)
			n++
			vpns = append(vpns, rm["vpn"].(float64))
			prefixes = append(prefixes, rm["prefix"].(string))
			maxPath = max(maxPath, rm["path_id"].(float64))
		}
	}
	return
}

// uiChecks drives the tables as a reader would: a click on the plot, the
// filters, a sort, each checked against analyze.
func uiChecks(t *testing.T, p *page, file string) {
	t.Helper()
	info := func() string {
		var s string
		p.eval(t, `document.getElementById('tables-info').textContent`, &s)
		return s
	}
	// a click on the plot, 70% of the way across: the tables at that instant
	p.eval(t, `(() => { const a = document.getElementById('at'); a.value = 'end'; document.getElementById('at-go').click(); return true; })()`, new(bool))
	var box [4]float64
	p.eval(t, `(() => { const r = document.querySelector('#plot .u-over').getBoundingClientRect(); window.scrollTo(0, 0);
		const q = document.querySelector('#plot .u-over').getBoundingClientRect(); return [q.left, q.top, q.width, q.height]; })()`, &box)
	if err := chromedp.Do(p.ctx, chromedp.MouseClickXY(box[0]+0.7*box[2], box[1]+box[3]/2)); err != nil {
		t.Fatal(err)
	}
	// the pick waits out the double-click time
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](`document.getElementById('at').value !== 'end'`,
		chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("a click on the plot picked no instant: %v", err)
	}
	var picked string
	p.eval(t, `document.getElementById('at').value`, &picked)
	var startTS string
	p.eval(t, `ompscope.fmtTS(0)`, &startTS)
	if !strings.HasPrefix(picked, "20") || picked == startTS {
		t.Fatalf("a click 70%% across the plot: the instant shown is %q (the capture starts at %s)", picked, startTS)
	}
	snap := atJSON(t, file, []string{picked})[0]
	var got string
	p.eval(t, fmt.Sprintf(`JSON.stringify(ompscope.snapshotJSON(ompscope.parseTS(%q)))`, picked), &got)
	var g map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatal(err)
	}
	sameTables(t, "clicked "+picked, snap, g)
	t.Logf("a click on the plot picked %s", picked)
	n, _, _, _, _ := routeCount(snap)
	if s := info(); !strings.Contains(s, fmt.Sprintf(": %s route row(s)", commas(n))) {
		t.Errorf("clicked %s: the page says %q; analyze --at has %d routes", picked, s, n)
	}

	// back to the end; the filters, one at a time, against analyze --at end with the flag
	p.eval(t, `(() => { const a = document.getElementById('at'); a.value = 'end'; document.getElementById('at-go').click(); return true; })()`, new(bool))
	end := atJSON(t, file, []string{"end"})[0]
	_, vpns, prefixes, peers, maxPath := routeCount(end)
	if len(vpns) == 0 {
		return
	}
	set := func(id, v string) {
		ev := "input"
		if strings.HasPrefix(id, "f-peer") || strings.HasPrefix(id, "f-color") {
			ev = "change"
		}
		p.eval(t, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event(%q)); return true; })()`, id, v, ev), new(bool))
	}
	for _, c := range []struct{ id, flag, value string }{
		{"f-vpn", "--vpn", fmt.Sprint(vpns[len(vpns)-1])},
		{"f-prefix", "--prefix", prefixes[len(prefixes)/2]},
		{"f-peer", "--peer", peers[len(peers)-1]},
		{"f-color", "--color", "biz-internet"},
	} {
		set(c.id, c.value)
		code, out, errs := runCmd(t, "", "analyze", "-r", file, "-T", "json", "--at", "end", c.flag, c.value)
		if code != exitOK && code != exitAnomalies {
			t.Fatalf("analyze %s %s: %d %s", c.flag, c.value, code, errs)
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(out), &want); err != nil {
			t.Fatal(err)
		}
		n, _, _, _, _ := routeCount(want)
		t.Logf("filter %s %s: %d routes", c.flag, c.value, n)
		if s := info(); !strings.Contains(s, fmt.Sprintf(": %s route row(s)", commas(n))) {
			t.Errorf("filter %s %s: the page says %q; analyze --at end %s %s has %d routes", c.id, c.value, s, c.flag, c.value, n)
		}
		set(c.id, "")
	}
	// a sort: path-id, descending (two clicks on its header)
	if err := chromedp.Do(p.ctx, chromedp.Click(`th[data-col="path_id"]`), chromedp.Click(`th[data-col="path_id"]`)); err != nil {
		t.Fatal(err)
	}
	var first string
	p.eval(t, `document.querySelector('#rows tbody tr td.c-path_id').textContent`, &first)
	if first != fmt.Sprint(maxPath) {
		t.Errorf("sorted by path-id, descending: the first row has %s, the largest is %v", first, maxPath)
	}
}
