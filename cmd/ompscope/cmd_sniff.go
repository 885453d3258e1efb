package main

import (
	"bufio"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/live"
)

func init() {
	register(&command{name: "sniff", summary: "capture live, decrypt, decode and analyze as it happens", run: cmdSniff})
}

func cmdSniff(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	tuneGC()
	fs := newFlagSet("sniff", "sniff -i IFACE [flags]",
		"Captures on a network interface (Linux AF_PACKET, no libpcap needed; root or\n"+
			"CAP_NET_RAW), decrypts the control connections with the keys given (--keylog files\n"+
			"are re-read as they grow), and prints the analyzer's events and anomalies as they\n"+
			"happen (--view events, the default) or each decoded message (--view dissect). A\n"+
			"status line goes to stderr every few seconds when it is a terminal. SIGINT or\n"+
			"SIGTERM stops the capture, finishes what is buffered, prints the summary and exits 0.\n"+
			"The default kernel filter admits only the controller ports (and IP fragments).",
		stderr)
	var in inputFlags
	addInputFlags(fs, &in)
	fs.Lookup("read").Hidden = true
	var af analyzeFlags
	addAnalyzeFlags(fs, &af)
	iface := fs.StringP("interface", "i", "", "interface to capture on (required)")
	filterExpr := fs.StringP("filter", "f", "", "capture filter instead of the controller ports: udp port N, tcp port N, port N, host A, src/dst, and/or/not, ( )")
	write := fs.StringP("write", "w", "", "also write what was captured to FILE as pcapng, with the keys used in Decryption Secrets Blocks (moved to the front of the file when the capture ends, so that Wireshark decrypts every record)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	count := fs.Uint64P("count", "c", 0, "stop after this many packets (0: no limit)")
	yexpr := addDisplayFilter(fs, "events or records")
	view := fs.String("view", "events", "what to print: events (analyzer events and anomalies) or dissect (each message)")
	format := fs.StringP("format", "T", "auto", "text, json, or ek (Elasticsearch/OpenSearch bulk requests) (auto: text on a terminal, json otherwise)")
	snaplen := fs.Int("snaplen", 0, "bytes captured per packet (default 262144)")
	promisc := fs.Bool("promisc", false, "put the interface in promiscuous mode")
	retention := fs.Duration("retention", time.Hour, "keep table history this long in capture time, so memory stays bounded on a long capture (at least the longest detector window, 1m by default; 0: keep all)")
	var pf publishFlags
	addPublishFlags(fs, &pf, true)
	statusEvery := fs.Duration("status", 5*time.Second, "interval of the status line on stderr (0: never; only on a terminal unless --status is given)")
	if st, done := parseFlags(fs, args, stdout); done {
		return st
	}
	if *iface == "" {
		fmt.Fprintln(stderr, "ompscope sniff: -i IFACE is required")
		return exitUsage
	}
	if err := pf.check(fs); err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitUsage
	}
	if *view != "events" && *view != "dissect" {
		fmt.Fprintf(stderr, "ompscope sniff: --view takes events or dissect, not %q\n", *view)
		return exitUsage
	}
	f, err := outputFormatEK(*format, stdout)
	ek := f == "ek"
	if ek {
		f = "json"
	}
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitUsage
	}
	// The key logs are followed (read now and as they grow), not loaded once.
	keylogs := in.keylogs
	in.keylogs = nil
	ks, err := in.loadKeys(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitRuntime
	}
	cfg, err := in.config(ks)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitUsage
	}
	var flt *filter.Filter
	if *filterExpr != "" {
		flt, err = filter.Parse(*filterExpr)
		if err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: -f: %v\n", err)
			return exitUsage
		}
		flt = flt.WithFragments()
	} else {
		tls := []uint16{dissect.DefaultTLSPort}
		tls = append(tls, cfg.ExtraTLSPorts...)
		flt = filter.Default(append(dissect.ControllerDTLSPorts(), cfg.ExtraDTLSPorts...), tls)
	}
	src, err := live.Open(*iface, live.Options{SnapLen: *snaplen, Promiscuous: *promisc, Filter: flt, Timeout: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitRuntime
	}
	defer src.Close()

	var pw *capture.PcapngWriter
	var pfile *os.File
	if *write != "" {
		pfile, err = os.Create(*write)
		if err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
			return exitRuntime
		}
		pw, err = capture.NewPcapngWriterInterface(pfile, capture.PcapngInterface{LinkType: src.LinkType(), Name: src.Interface(),
			Filter: flt.String(), SnapLen: src.SnapLen()})
		if err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
			return exitRuntime
		}
	}

	var errMu sync.Mutex
	var newKeys atomic.Bool
	var followers []*tlsdec.KeyLogFollower
	for _, path := range keylogs {
		followers = append(followers, tlsdec.FollowKeyLog(path, ks, 0, func(u *tlsdec.KeyLogUpdate) {
			errMu.Lock()
			for _, e := range u.Errors {
				fmt.Fprintf(stderr, "ompscope sniff: %v\n", e)
			}
			errMu.Unlock()
			if pw != nil && len(u.Lines) > 0 {
				pw.WriteSecrets(u.Lines)
			}
			if u.Added > 0 {
				newKeys.Store(true)
				src.Wake()
			}
		}))
	}

	bw := bufio.NewWriterSize(stdout, 64<<10)
	defer bw.Flush()
	var anomalies, events uint64
	acfg, err := af.config()
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitUsage
	}
	acfg.Retention = *retention
	if *retention == 0 {
		acfg.Retention = -1 // keep all
	}
	yf, err := displayFilter(*yexpr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", err)
		return exitUsage
	}
	var jout io.Writer = bw // JSON lines; -T ek: as bulk requests
	if ek {
		index := "ompscope-timeline"
		if *view == "dissect" {
			index = "ompscope-dissect"
		}
		jout = newBulk(bw, index)
	}
	var buf []byte
	acfg.OnEvent = func(e *analyze.Event) {
		events++
		if e.Type == analyze.EvAnomalyStart {
			anomalies++
		}
		if *view != "events" {
			return
		}
		buf = e.AppendJSON(buf[:0])
		if yf != nil && !yf.MatchJSON(buf) {
			return
		}
		if f == "json" {
			buf = append(buf, '\n')
			jout.Write(buf)
		} else {
			fmt.Fprintln(bw, eventLine(e))
		}
		bw.Flush()
	}
	a := analyze.New(acfg)
	jw := dissect.NewJSONWriter(jout, false)
	sink := &sniffSink{feeder: newFeeder(a)}
	if *view == "dissect" {
		var ybuf []byte
		sink.print = func(e *dissect.Event) {
			if yf != nil {
				if ybuf = e.AppendJSON(ybuf[:0], false); !yf.MatchJSON(ybuf) {
					return
				}
			}
			if f == "json" {
				jw.Write(e)
			} else {
				fmt.Fprintln(bw, e.TextLine())
			}
			bw.Flush()
		}
	}
	ev := &evictions{}
	ev.hook(&cfg)
	var out dissect.InfoSink = sink
	var so *sensorOut
	if pf.url != "" {
		// a sensor: what it decodes goes to the stream as well
		if so, err = pf.start(true, stderr, &errMu); err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: --publish: %v\n", err)
			return exitRuntime
		}
		out = teeSink{sink, so.enc}
	}
	d := dissect.NewWithSink(cfg, out)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			src.Stop()
		}
	}()
	if *duration > 0 {
		t := time.AfterFunc(*duration, src.Stop)
		defer t.Stop()
	}
	showStatus := *statusEvery > 0 && (isTerminal(stderr) || fs.Changed("status"))
	start, lastStatus := time.Now(), time.Now()
	runErr := d.RunSource(src, dissect.RunOptions{
		Workers: in.jobs,
		OnPacket: func(p *capture.Packet) {
			if pw != nil {
				pw.WritePacket(p)
			}
		},
		MaxPackets: *count,
		Between: func() bool {
			if newKeys.Swap(false) {
				d.Retry()
			}
			if so != nil {
				so.pub.FlushOlder(50 * time.Millisecond) // a live sensor's batch waits at most this
			}
			if showStatus && time.Since(lastStatus) >= *statusEvery {
				lastStatus = time.Now()
				st, _ := src.Stats()
				sess, _ := d.Sessions()
				var dec, fail uint64
				for _, s := range sess {
					dec += s.Decrypted
					fail += s.TotalFailures()
				}
				errMu.Lock()
				fmt.Fprintf(stderr, "\r%s: %d packets, %d kernel drops, %d sessions, %d records decrypted, %d undecryptable, %d anomalies   ",
					time.Since(start).Round(time.Second), st.Packets, st.KernelDropped, len(sess), dec, fail, anomalies)
				errMu.Unlock()
				if pw != nil {
					pw.Flush()
				}
			}
			return false
		},
	})
	for _, fl := range followers {
		fl.Stop()
	}
	d.Retry()
	d.Finish()
	keyHint(stderr, "sniff", d, ks)
	gaps := captureGapList(d, ev)
	for _, g := range gaps {
		a.CaptureGap(g)
	}
	a.Finish(time.Now())
	if so != nil {
		if err := so.finish(gaps); err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: --publish: %v\n", err)
			if runErr == nil {
				runErr = err
			}
		}
	}
	if showStatus {
		fmt.Fprintln(stderr)
	}
	st, _ := src.Stats()
	if pw != nil {
		pw.WriteStats(st.KernelReceived, st.KernelDropped, start, time.Now())
		if err := pw.Close(); err != nil {
			fmt.Fprintf(stderr, "ompscope sniff: writing %s: %v\n", *write, err)
			runErr = err
		}
		if err := pfile.Close(); err != nil && runErr == nil {
			fmt.Fprintf(stderr, "ompscope sniff: writing %s: %v\n", *write, err)
			runErr = err
		}
		// keys arrive as the key log grows, after packets they unlock:
		// Wireshark reads secrets as it meets them, so they go to the front
		if _, ns := pw.Counts(); runErr == nil && ns > 0 {
			if _, err := capture.SecretsFirstFile(*write); err != nil {
				fmt.Fprintf(stderr, "ompscope sniff: %v (the file is complete; `editcap --inject-secrets tls,KEYS` puts the keys first)\n", err)
				runErr = err
			}
		}
	}
	if f == "json" {
		// the summary ends the JSON output (its own schema), as analyze's
		index := "ompscope-summary"
		var w io.Writer = bw
		if ek {
			w = newBulk(bw, index)
		}
		if err := a.Summary(analyze.Filter{}).WriteJSON(w); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the output: %w", err)
		}
	}
	if err := bw.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing the output: %w", err)
	}
	fmt.Fprintf(stderr, "captured %d packets on %s (%d dropped by the kernel) in %s\n", st.Packets, *iface, st.KernelDropped,
		time.Since(start).Round(time.Millisecond))
	if f == "text" {
		a.WriteSummaryOpts(stderr, analyze.SummaryOptions{Width: textWidth(0, stderr), Top: 20})
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "ompscope sniff: %v\n", runErr)
		return exitRuntime
	}
	return exitOK
}

// sniffSink is the analyzer's feeder, and the dissect view's printer.
type sniffSink struct {
	*feeder
	print func(*dissect.Event)
}

func (s *sniffSink) Record(e *dissect.Event) {
	s.feeder.Record(e)
	if s.print != nil {
		s.print(e)
	}
}

// eventLine is the one-line text form of an analyzer event.
func eventLine(e *analyze.Event) string {
	ts := e.Time.UTC().Format("15:04:05.000000")
	switch {
	case e.Anomaly != nil:
		return fmt.Sprintf("%s %s %s %s [%s] %s", ts, e.Type, e.Anomaly.Kind, e.Anomaly.Subject, e.Anomaly.Severity, e.Anomaly.Explanation)
	case e.State != nil:
		name := func(sys string, ap netip.AddrPort) string {
			if sys != "" {
				return sys
			}
			return "?" + ap.String()
		}
		return fmt.Sprintf("%s %s %s > %s %s: %s → %s (%s)", ts, e.Type, name(e.State.ClientSystemIP, e.State.Client),
			name(e.State.ServerSystemIP, e.State.Server), e.State.Layer, e.State.Old, e.State.New, e.State.Reason)
	}
	k := &e.Row
	var row string
	switch {
	case e.Family.IsRoute():
		row = fmt.Sprintf("vpn %d %s path %d originator %s", k.VPN, k.Prefix, k.PathID, k.Originator)
	case e.Family.IsTLOC():
		row = fmt.Sprintf("tloc %s path %d", k.TLOC, k.PathID)
	default:
		row = fmt.Sprintf("vpn %d service %s originator %s path %d", k.VPN, k.Service, k.Originator, k.PathID)
	}
	if e.Reason != "" && e.Reason != analyze.ReasonUpdate {
		row += " (" + e.Reason + ")"
	}
	return fmt.Sprintf("%s %s %s→%s %s", ts, e.Type, e.From, e.To, row)
}
