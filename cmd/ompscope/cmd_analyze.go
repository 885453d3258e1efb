package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

func init() {
	register(&command{name: "analyze", summary: "rebuild OMP tables over time and report anomalies", run: cmdAnalyze})
}

// analyzeFlags are the analyzer's settings, shared with sniff: the flags
// every detector declares in its own file (analyze.Flags), so a new
// detector's setting needs no edit here.
type analyzeFlags struct{ cfg analyze.Config }

func addAnalyzeFlags(fs *pflag.FlagSet, f *analyzeFlags) {
	for _, fl := range analyze.Flags() {
		switch {
		case fl.Strs != nil:
			fs.StringArrayVar(fl.Strs(&f.cfg), fl.Name, nil, fl.Usage)
		case fl.Int != nil:
			fs.IntVar(fl.Int(&f.cfg), fl.Name, fl.DefInt, fl.Usage)
		default:
			fs.DurationVar(fl.Dur(&f.cfg), fl.Name, fl.DefDur, fl.Usage)
		}
	}
}

// config returns the settings, refusing values out of range (a count or
// window must be positive; only flags that document it take a negative).
func (f *analyzeFlags) config() (analyze.Config, error) {
	cfg := f.cfg
	for _, fl := range analyze.Flags() {
		switch {
		case fl.Int != nil && *fl.Int(&cfg) < 1:
			return cfg, fmt.Errorf("--%s %d: must be at least 1", fl.Name, *fl.Int(&cfg))
		case fl.Dur != nil && *fl.Dur(&cfg) == 0:
			return cfg, fmt.Errorf("--%s 0: must not be zero", fl.Name)
		case fl.Dur != nil && *fl.Dur(&cfg) < 0 && !fl.Negative:
			return cfg, fmt.Errorf("--%s %v: must be positive", fl.Name, *fl.Dur(&cfg))
		}
	}
	return cfg, nil
}

// filterFlags select rows of --at and --diff.
type filterFlags struct {
	vpn, prefix, peer, color string
}

func (ff *filterFlags) filter() (analyze.Filter, error) {
	var f analyze.Filter
	if ff.vpn != "" {
		v, err := strconv.ParseUint(ff.vpn, 10, 32)
		if err != nil {
			return f, fmt.Errorf("--vpn %q: not a VPN number (0 to 4294967295)", ff.vpn)
		}
		f.VPN, f.HasVPN = uint32(v), true
	}
	if ff.prefix != "" {
		p, err := netip.ParsePrefix(ff.prefix)
		if err != nil {
			a, err2 := netip.ParseAddr(ff.prefix)
			if err2 != nil {
				return f, fmt.Errorf("--prefix %q: %v", ff.prefix, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		f.Prefix = p.Masked()
	}
	f.Peer = ff.peer
	if ff.color != "" {
		c, err := sdwan.ParseColor(ff.color)
		if err != nil {
			return f, fmt.Errorf("--color: %v", err)
		}
		f.Color, f.HasColor = c, true
	}
	return f, nil
}

func cmdAnalyze(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runAnalyze(false, args, stdin, stdout, stderr)
}

// reportRefused are analyze's flags that report refuses: the page does
// what they do.
var reportRefused = []string{"at", "diff", "vpn", "prefix", "peer", "color", "detail", "top", "width", "format"}

// runAnalyze is analyze, or report (reportMode: the report is the output).
func runAnalyze(reportMode bool, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	tuneGC()
	name := "analyze"
	fs := newFlagSet("analyze", "analyze -r FILE [flags]",
		"Reads a capture, decrypts and decodes its control connections (keys as for dissect),\n"+
			"and rebuilds the OMP peer sessions and the route, TLOC and service tables each peer\n"+
			"advertised to each other one, over time. Prints a summary for people: peers and\n"+
			"their states, table sizes, anomalies grouped by kind with their explanations.\n"+
			"--timeline writes every change as NDJSON; --at shows the tables at an instant;\n"+
			"--diff shows what changed between two instants; --report writes the HTML report\n"+
			"(see ompscope report --help); --explain KIND describes a kind.",
		stderr)
	if reportMode {
		name = "report"
		fs = newFlagSet("report", "report -r FILE [keys] -o report.html [flags]", reportHelp, stderr)
	}
	var in inputFlags
	addInputFlags(fs, &in)
	var af analyzeFlags
	addAnalyzeFlags(fs, &af)
	var ff filterFlags
	format := fs.StringP("format", "T", "auto", "output of the summary, --at and --diff: text, json, ek (Elasticsearch bulk), csv (--at tables) (auto: text on a terminal, json otherwise)")
	timeline := fs.String("timeline", "", "write the NDJSON timeline to FILE (- for standard output)")
	var reportPath *string
	if reportMode {
		reportPath = fs.StringP("output", "o", "", "write the report to FILE (- for standard output; required)")
	} else {
		reportPath = fs.String("report", "", "also write the HTML report (one self-contained file: plots, sessions, anomalies, tables at any instant) to FILE")
	}
	reportMax := fs.Int("report-max-versions", analyze.DefaultRecordMax, "report: keep at most N row versions (about 20 bytes each in memory); later ones are counted and the report says from when its tables are incomplete")
	at := fs.StringArray("at", nil, "show the tables as they stood at TIME (RFC 3339, or seconds from the capture start; 'start', 'end'); may be repeated (one section, or one JSON line, per instant); snapshotted in the same pass")
	diff := fs.String("diff", "", "show what changed between T1,T2 (times as for --at)")
	fs.StringVar(&ff.vpn, "vpn", "", "summary counts, --timeline, --at, --diff: only routes and services of this VPN")
	fs.StringVar(&ff.prefix, "prefix", "", "summary counts, --timeline, --at, --diff: only routes equal to or inside this prefix")
	fs.StringVar(&ff.peer, "peer", "", "summary, --timeline, --at, --diff: only the sessions, tables and anomalies of this system-ip")
	fs.StringVar(&ff.color, "color", "", "summary counts, --timeline, --at, --diff: only rows whose TLOC has this color")
	detail := fs.Bool("detail", false, "with --at (text): a LOSS REASON column, the best-path step each route that is not chosen lost on and the path it lost to (JSON always carries them)")
	width := fs.Int("width", 0, "text: the width every table fits, long cells cut with … (default: the terminal's, 120 when not a terminal)")
	top := fs.Int("top", 20, "text summary: list at most N sessions, devices and anomalies of each kind, the most troubled and largest first, and count the rest (0: all)")
	yexpr := addDisplayFilter(fs, "timeline events")
	showProgress := fs.Bool("progress", false, "show the reading's progress on stderr even when it is not a terminal")
	failOn := fs.String("fail-on", "", "exit with status 3 when anomalies of this severity or above were found (info, warning, error)")
	explain := fs.String("explain", "", "print what an anomaly kind means, why it matters and what to check, then exit ('all' lists every kind)")
	var sf subscribeFlags
	addSubscribeFlags(fs, &sf)
	if reportMode {
		// the page filters and picks instants itself: refused below, not shown
		for _, fl := range reportRefused {
			fs.MarkHidden(fl)
		}
		fs.Lookup("timeline").Usage = "also write the NDJSON timeline to FILE"
		fs.Lookup("display-filter").Usage = "with --timeline: write only the timeline events it keeps (fields and operators: docs/dissect.md)"
	}
	if st, done := parseFlags(fs, args, stdout); done {
		return st
	}
	if *explain != "" {
		return explainKinds(*explain, stdout, stderr)
	}
	if *width < 0 || *top < 0 {
		fmt.Fprintf(stderr, "ompscope %s: --width and --top take 0 or more\n", name)
		return exitUsage
	}
	sumOpts := analyze.SummaryOptions{Width: textWidth(*width, stdout), Top: *top}
	yf, err := displayFilter(*yexpr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	failSev := analyze.Severity(255)
	if *failOn != "" {
		var err error
		if failSev, err = analyze.ParseSeverity(*failOn); err != nil {
			fmt.Fprintf(stderr, "ompscope %s: --fail-on: %v\n", name, err)
			return exitUsage
		}
	}
	if err := in.files(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	since, until, err := sf.check(fs)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	if sf.url != "" {
		if len(in.read) > 0 {
			fmt.Fprintf(stderr, "ompscope %s: -r and --subscribe: read a capture or a stream, not both\n", name)
			return exitUsage
		}
		if in.hasKeys() {
			fmt.Fprintf(stderr, "ompscope %s: --subscribe: the sensors decrypt; give the keys to them (dissect/sniff --publish), not here\n", name)
			return exitUsage
		}
	} else if len(in.read) == 0 {
		fmt.Fprintf(stderr, "ompscope %s: -r FILE is required (use - for standard input)\n", name)
		return exitUsage
	}
	if reportMode && *reportPath == "" {
		fmt.Fprintln(stderr, "ompscope report: -o FILE is required (the HTML report to write)")
		return exitUsage
	}
	if reportMode {
		// the report shows everything: its filters and instants are in the page
		for _, fl := range reportRefused {
			if fs.Changed(fl) {
				fmt.Fprintf(stderr, "ompscope report: --%s is not a report flag (the page filters and picks instants itself; use analyze for it)\n", fl)
				return exitUsage
			}
		}
		if *timeline == "-" {
			fmt.Fprintln(stderr, "ompscope report: --timeline -: the timeline goes to a file in report mode")
			return exitUsage
		}
	} else if *reportPath == "-" {
		fmt.Fprintln(stderr, "ompscope analyze: --report -: standard output holds analyze's own output; give a file (or use ompscope report -o -)")
		return exitUsage
	}
	if *reportMax < 1 {
		fmt.Fprintf(stderr, "ompscope %s: --report-max-versions %d: must be at least 1\n", name, *reportMax)
		return exitUsage
	}
	csvOut := *format == "csv"
	if csvOut {
		if len(*at) == 0 {
			fmt.Fprintf(stderr, "ompscope %s: -T csv writes the --at tables: give --at\n", name)
			return exitUsage
		}
		*format = "json"
	}
	f, err := outputFormatEK(*format, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: -T takes text, json, ek or csv, not %q\n", name, *format)
		return exitUsage
	}
	ek := f == "ek"
	if ek {
		f = "json"
	}
	filter, err := ff.filter()
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	acfg, err := af.config()
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	acfg.TimelineFilter = filter
	sumOpts.Filter = filter
	// --at and --diff are checked before the capture is read, and their
	// instants snapshotted as the capture goes past them (one pass).
	var d1, d2 analyze.Instant
	var marks, atIns []analyze.Instant
	for _, v := range *at {
		atIn, err := analyze.ParseInstant(v)
		if err != nil {
			fmt.Fprintf(stderr, "ompscope %s: --at %s: %v\n", name, v, err)
			return exitUsage
		}
		atIns = append(atIns, atIn)
		marks = append(marks, atIn)
	}
	if *diff != "" {
		parts := strings.Split(*diff, ",")
		if len(parts) != 2 {
			fmt.Fprintf(stderr, "ompscope %s: --diff takes T1,T2\n", name)
			return exitUsage
		}
		var err1, err2 error
		d1, err1 = analyze.ParseInstant(parts[0])
		d2, err2 = analyze.ParseInstant(parts[1])
		if err := firstErr(err1, err2); err != nil {
			fmt.Fprintf(stderr, "ompscope %s: --diff: %v\n", name, err)
			return exitUsage
		}
		if known, after := analyze.InstantAfter(d1, d2); known && after {
			fmt.Fprintf(stderr, "ompscope %s: --diff %s: the first instant comes after the second\n", name, *diff)
			return exitUsage
		}
		marks = append(marks, d1, d2)
	}
	ks, err := in.loadKeys(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitRuntime
	}
	cfg, err := in.config(ks)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
		return exitUsage
	}
	ev := &evictions{}
	ev.hook(&cfg)

	bw := bufio.NewWriterSize(stdout, 256<<10)
	defer bw.Flush()
	acfg.SnapshotAt = marks
	var rout *reportOut
	if *reportPath != "" {
		acfg.Record, acfg.RecordMax = true, *reportMax
		if rout, err = openReportOut(*reportPath, stdout); err != nil {
			fmt.Fprintf(stderr, "ompscope %s: the report: %v\n", name, err)
			return exitRuntime
		}
		defer rout.abort()
	}
	var tw *bufio.Writer
	var tfile *os.File
	if *timeline != "" {
		var out io.Writer = bw
		if *timeline != "-" {
			fh, err := os.Create(*timeline)
			if err != nil {
				fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
				return exitRuntime
			}
			defer fh.Close()
			out, tfile = fh, fh
		}
		if ek {
			out = newBulk(out, "ompscope-timeline")
		}
		tw = bufio.NewWriterSize(out, 256<<10)
		defer tw.Flush()
		headerDone := false
		acfg.OnEventJSON = func(t time.Time, line []byte) {
			if !headerDone {
				headerDone = true
				tw.Write(analyze.TimelineHeader(t))
				tw.WriteByte('\n')
			}
			if yf != nil && !yf.MatchJSON(line) {
				return
			}
			tw.Write(line)
			tw.WriteByte('\n')
		}

	}
	a := analyze.New(acfg)
	var d *dissect.Dissector
	var runErr error
	if sf.url != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		fd := newRelayFeeder(a, since, until)
		runErr = sf.run(ctx, name, fd, stderr)
		stop()
		a.Finish(fd.last)
	} else {
		fd := newFeeder(a)
		r, err := in.open(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "ompscope %s: %v\n", name, err)
			return exitRuntime
		}
		defer r.Close()
		d = dissect.NewWithSink(cfg, fd)
		opt := dissect.RunOptions{Workers: in.jobs}
		prog := newProgress(stderr, in.read, *showProgress)
		if prog != nil {
			opt.OnPacket, opt.Between = prog.onPacket, func() bool { prog.between(); return false }
		}
		runErr = d.RunSource(r, opt)
		prog.done()
		d.Finish()
		keyHint(stderr, name, d, ks)
		last := fd.last
		captureGaps(a, d, ev)
		a.Finish(last)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v (the analysis covers everything before it)\n", name, runErr)
	}
	if filter.Peer != "" && len(a.PeersFiltered(analyze.Filter{Peer: filter.Peer})) == 0 {
		fmt.Fprintf(stderr, "ompscope %s: --peer %s: no session of the capture has that end (a system-ip, or ?ADDRESS for an end whose system-ip was not seen)\n", name, filter.Peer)
	}
	// -T ek: each JSON document goes to its index
	newEnc := func(index string) *json.Encoder {
		var w io.Writer = bw
		if ek {
			w = newBulk(bw, index)
		}
		e := json.NewEncoder(w)
		e.SetEscapeHTML(false)
		return e
	}
	// --at (each instant) and --diff are both printed when both are given;
	// the summary when neither is, unless the timeline is the output
	for i, atIn := range atIns {
		t := a.InstantTime(atIn)
		s := a.Snapshot(t, filter)
		outside(stderr, "--at", a, t, s)
		if csvOut {
			analyze.WriteTablesCSV(bw, s, i == 0) // one header for every instant
		} else if f == "json" {
			newEnc("ompscope-snapshot").Encode(s)
		} else {
			if i > 0 {
				fmt.Fprintln(bw)
			}
			analyze.WriteTablesOpts(bw, s, analyze.TablesOptions{Width: sumOpts.Width, Detail: *detail})
		}
	}
	if *diff != "" {
		t1, t2 := a.InstantTime(d1), a.InstantTime(d2)
		if t1.After(t2) {
			fmt.Fprintf(stderr, "ompscope %s: --diff %s: the first instant (%s) comes after the second (%s)\n", name, *diff,
				t1.Format(time.RFC3339Nano), t2.Format(time.RFC3339Nano))
			return exitUsage
		}
		outside(stderr, "--diff", a, t1, a.Snapshot(t1, analyze.Filter{}))
		outside(stderr, "--diff", a, t2, a.Snapshot(t2, analyze.Filter{}))
		df := a.Diff(t1, t2, filter)
		if f == "json" {
			newEnc("ompscope-diff").Encode(df)
		} else {
			if len(atIns) > 0 {
				fmt.Fprintln(bw)
			}
			analyze.WriteDiffWidth(bw, df, sumOpts.Width)
		}
	}
	var rerr error
	if *reportPath != "" {
		info := reportInfo(&in, d)
		if sf.url != "" {
			info.Title = "stream " + sf.stream + " (" + sf.sensors + ")"
		}
		rerr = writeReport(rout, a, info, stderr)
	}
	// every write error surfaces (a full disk, a closed pipe)
	var werr error
	if len(atIns) == 0 && *diff == "" && *timeline != "-" && !reportMode {
		if f == "json" {
			var w io.Writer = bw
			if ek {
				w = newBulk(bw, "ompscope-summary")
			}
			werr = a.Summary(filter).WriteJSON(w)
		} else {
			a.WriteSummaryOpts(bw, sumOpts)
		}
	}
	if tw != nil {
		if err := tw.Flush(); werr == nil {
			werr = err
		}
	}
	if err := bw.Flush(); werr == nil {
		werr = err
	}
	if tfile != nil {
		if err := tfile.Close(); werr == nil {
			werr = err
		}
	}
	if werr != nil {
		fmt.Fprintf(stderr, "ompscope %s: writing the output: %v\n", name, werr)
		return exitRuntime
	}
	if rerr != nil {
		fmt.Fprintf(stderr, "ompscope %s: %v\n", name, rerr)
		return exitRuntime
	}
	if runErr != nil {
		return exitRuntime
	}
	st := a.Stats()
	if st.Inputs == 0 && (st.GapRecords > 0 || len(a.CaptureGaps()) > 0) {
		fmt.Fprintf(stderr, "ompscope %s: no record of any control connection could be read\n", name)
		return exitUnread
	}
	for _, an := range a.Anomalies() {
		if an.Severity >= failSev {
			return exitAnomalies
		}
	}
	return exitOK
}

// outside warns when an instant asked for lies outside the capture.
func outside(stderr io.Writer, flag string, a *analyze.Analyzer, t time.Time, s *analyze.Snapshot) {
	switch {
	case s.AfterEnd:
		fmt.Fprintf(stderr, "ompscope analyze: %s %s is after the capture's end (%s): the tables shown are those at the end\n",
			flag, t.Format(time.RFC3339Nano), a.Now().Format(time.RFC3339Nano))
	case t.Before(a.Start()):
		fmt.Fprintf(stderr, "ompscope analyze: %s %s is before the capture's start (%s): there are no tables yet\n",
			flag, t.Format(time.RFC3339Nano), a.Start().Format(time.RFC3339Nano))
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func explainKinds(k string, stdout, stderr io.Writer) int {
	if k == "all" {
		for _, kind := range analyze.Kinds() {
			txt, _ := analyze.Explain(kind)
			fmt.Fprintf(stdout, "%s\n\n", txt)
		}
		return exitOK
	}
	txt, ok := analyze.Explain(analyze.Kind(k))
	if !ok {
		names := make([]string, 0)
		for _, kind := range analyze.Kinds() {
			names = append(names, string(kind))
		}
		fmt.Fprintf(stderr, "ompscope analyze: unknown kind %q; kinds: %s\n", k, strings.Join(names, ", "))
		return exitUsage
	}
	fmt.Fprintln(stdout, txt)
	return exitOK
}
