package main

import (
	"bufio"
	"fmt"
	"io"
	"sync"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

func init() {
	register(&command{name: "dissect", summary: "decrypt and decode the control messages of a capture", run: cmdDissect})
}

func cmdDissect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	tuneGC()
	fs := newFlagSet("dissect", "dissect -r FILE [flags]",
		"Reads a capture, follows the DTLS and TLS control connections, decrypts them with the\n"+
			"keys given (key log files, PSKs, RSA keys, and the capture's own pcapng Decryption\n"+
			"Secrets Blocks) and prints each vdaemon/OMP message: one line each (-T text), the\n"+
			"full decode tree (-V), or one JSON object each (-T json, docs/json.md). Records that\n"+
			"cannot be decrypted are counted per session with the reason (--stats; always on\n"+
			"stderr at the end of a text run).",
		stderr)
	var in inputFlags
	addInputFlags(fs, &in)
	format := fs.StringP("format", "T", "auto", "output: text, json, or ek (Elasticsearch/OpenSearch bulk requests) (auto: text on a terminal, json otherwise)")
	verbose := fs.BoolP("verbose", "V", false, "text: print the full decode tree of each message")
	payload := fs.Bool("payload", false, "json: add the decrypted record plaintext as hex (payload)")
	stats := fs.Bool("stats", false, "print the per-session summary on stderr at the end")
	showProgress := fs.Bool("progress", false, "show the reading's progress on stderr even when it is not a terminal (never with -q)")
	yexpr := addDisplayFilter(fs, "records")
	count := fs.Uint64P("count", "c", 0, "stop after this many packets (0: no limit), as tshark -c")
	quiet := fs.BoolP("quiet", "q", false, "decrypt and decode, print no message (with --stats: only the summary)")
	export := fs.String("export-decrypted", "", "also write every record read (decrypted, or sent in the clear; those -Y keeps) to FILE as pcapng of exported PDUs: Wireshark opens it with no key and hands the plaintext to the \"ompscope\" dissector (dissect/wireshark/ompscope.lua); each packet's comment names its source frame")
	var pf publishFlags
	addPublishFlags(fs, &pf, false)
	if st, done := parseFlags(fs, args, stdout); done {
		return st
	}
	if err := pf.check(fs); err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitUsage
	}
	if pf.url != "" {
		for _, n := range []string{"format", "verbose", "payload", "display-filter", "export-decrypted", "count"} {
			if fs.Changed(n) {
				fmt.Fprintf(stderr, "ompscope dissect: --%s does not go with --publish (a sensor publishes every record)\n", n)
				return exitUsage
			}
		}
	}
	yf, err := displayFilter(*yexpr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitUsage
	}
	if err := in.files(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitUsage
	}
	if len(in.read) == 0 {
		fmt.Fprintln(stderr, "ompscope dissect: -r FILE is required (use - for standard input)")
		return exitUsage
	}
	f, err := outputFormatEK(*format, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitUsage
	}
	ks, err := in.loadKeys(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitRuntime
	}
	cfg, err := in.config(ks)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitUsage
	}
	r, err := in.open(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v\n", err)
		return exitRuntime
	}
	defer r.Close()
	bw := bufio.NewWriterSize(stdout, 256<<10)
	defer bw.Flush()
	var jout io.Writer = bw
	if f == "ek" {
		jout, f = newBulk(bw, "ompscope-dissect"), "json"
	}
	jw := dissect.NewJSONWriter(jout, *payload)
	var ybuf []byte
	var ex *exporter
	if *export != "" {
		if ex, err = newExporter(*export, in.read); err != nil {
			fmt.Fprintf(stderr, "ompscope dissect: --export-decrypted: %v\n", err)
			return exitRuntime
		}
	}
	if pf.url != "" {
		return dissectPublish(&pf, &in, cfg, r, ks, *stats, *showProgress, stderr)
	}
	d := dissect.New(cfg, func(e *dissect.Event) {
		if *quiet && ex == nil {
			return
		}
		if yf != nil {
			if ybuf = e.AppendJSON(ybuf[:0], false); !yf.MatchJSON(ybuf) {
				return
			}
		}
		if ex != nil {
			ex.write(e)
			if *quiet {
				return
			}
		}
		if f == "json" {
			jw.Write(e)
			return
		}
		fmt.Fprintln(bw, e.TextLine())
		if *verbose {
			e.Msg.WriteText(bw, "    ")
		}
	})
	opt := dissect.RunOptions{Workers: in.jobs, MaxPackets: *count}
	var prog *progress
	if !*quiet {
		prog = newProgress(stderr, in.read, *showProgress)
	}
	if prog != nil {
		opt.OnPacket, opt.Between = prog.onPacket, func() bool { prog.between(); return false }
	}
	runErr := d.RunSource(r, opt)
	prog.done()
	d.Finish()
	keyHint(stderr, "dissect", d, ks)
	if ex != nil {
		if err := ex.close(); err != nil {
			fmt.Fprintf(stderr, "ompscope dissect: --export-decrypted %s: %v\n", *export, err)
			return exitRuntime
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: writing the output: %v\n", err)
		return exitRuntime
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v (everything before it was dissected)\n", runErr)
	}
	if *stats || f == "text" && !*quiet {
		d.WriteStats(stderr)
	}
	return dissectStatus(d, runErr, stderr)
}

// dissectStatus is dissect's exit status once the capture is read: 1 when
// reading failed, 4 when not one record could be read (and some could
// not), else 0.
func dissectStatus(d *dissect.Dissector, runErr error, stderr io.Writer) int {
	if runErr != nil {
		return exitRuntime
	}
	if unreadable(d) {
		fmt.Fprintln(stderr, "ompscope dissect: no record of any control connection could be read")
		return exitUnread
	}
	return exitOK
}

// unreadable reports a capture of which not one control-connection record
// could be read, although some of it could not be read at all (exit
// status 4).
func unreadable(d *dissect.Dissector) bool {
	if d.Counters.AppRecords+d.Counters.PlainMessages > 0 {
		return false
	}
	sess, _ := d.Sessions()
	var failed uint64
	for _, s := range sess {
		failed += s.TotalFailures()
	}
	// or packets that never reached the DTLS/TLS layer (a link type not
	// decoded, packets cut short or malformed): nothing was read, and
	// some of it could not be
	st := d.FlowStats()
	for l := range st.Truncated {
		failed += st.Truncated[l] + st.Malformed[l]
	}
	return failed+st.UnsupportedLink > 0
}

// dissectPublish is dissect --publish: the capture's records, gaps,
// session ends and clock go to the stream as a sensor's envelopes.
func dissectPublish(pf *publishFlags, in *inputFlags, cfg dissect.Config, r capSource, ks *tlsdec.KeyStore,
	stats, showProgress bool, stderr io.Writer) int {
	ev := &evictions{}
	ev.hook(&cfg)
	var mu sync.Mutex
	so, err := pf.start(false, stderr, &mu)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope dissect: --publish: %v\n", err)
		return exitRuntime
	}
	d := dissect.NewWithSink(cfg, so.enc)
	prog := newProgress(stderr, in.read, showProgress)
	opt := dissect.RunOptions{Workers: in.jobs, Between: func() bool {
		if prog != nil {
			prog.between()
		}
		return so.pub.Err() != nil // the server stopped acknowledging: stop reading
	}}
	if prog != nil {
		opt.OnPacket = prog.onPacket
	}
	runErr := d.RunSource(r, opt)
	prog.done()
	d.Finish()
	keyHint(stderr, "dissect", d, ks)
	perr := so.finish(captureGapList(d, ev))
	if runErr != nil {
		fmt.Fprintf(stderr, "ompscope dissect: %v (everything before it was published)\n", runErr)
	}
	if stats {
		d.WriteStats(stderr)
	}
	if perr != nil {
		fmt.Fprintf(stderr, "ompscope dissect: --publish: %v\n", perr)
		return exitRuntime
	}
	return dissectStatus(d, runErr, stderr)
}
