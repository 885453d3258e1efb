package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/analyze/report"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

func init() {
	register(&command{name: "report", summary: "write one self-contained HTML report with plots", run: func(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
		return runAnalyze(true, args, stdin, stdout, stderr)
	}})
}

const reportHelp = "Reads a capture as analyze does (keys as for dissect) and writes one HTML file that\n" +
	"works offline (no request leaves the page): the capture summary and what could not be\n" +
	"decrypted; a zoomable plot of the route, TLOC and service table sizes over time, for\n" +
	"the fabric or one peer, with the anomalies on it; a chart of every control connection\n" +
	"(up, down, graceful restart, hold expiry, tear-down with its reason); the anomalies by\n" +
	"kind and severity with their evidence frames; the tables at the end or at any instant\n" +
	"clicked on the plot (Cisco's status codes, as analyze --at shows them; sortable,\n" +
	"filtered by VPN, prefix, peer and color, paged); the fabric view.\n" +
	"analyze --report FILE writes the same report beside analyze's own output."

// reportInfo is what the report says of the capture besides the analysis:
// the files, the key flags (file names; a pre-shared key is never
// written), the packets and records, and what could not be decrypted.
func reportInfo(in *inputFlags, d *dissect.Dissector) report.Info {
	info := report.Info{Files: in.read}
	var names []string
	for _, f := range in.read {
		names = append(names, filepath.Base(f))
	}
	info.Title = strings.Join(names, ", ")
	var keys []string
	for _, k := range in.keylogs {
		keys = append(keys, "--keylog "+shellQuote(k))
	}
	for range in.psks {
		keys = append(keys, "--psk KEY")
	}
	for _, k := range in.rsaKeys {
		keys = append(keys, "--rsa-key "+shellQuote(k))
	}
	for _, p := range in.dtlsPort {
		keys = append(keys, fmt.Sprintf("--dtls-port %d", p))
	}
	for _, p := range in.tlsPort {
		keys = append(keys, fmt.Sprintf("--tls-port %d", p))
	}
	if in.noHeur {
		keys = append(keys, "--no-heuristic")
	}
	info.KeyArgs = strings.Join(keys, " ")
	if d == nil {
		return info
	}
	fst := d.FlowStats()
	sess, _ := d.Sessions()
	info.Facts = append(info.Facts, report.Fact{Label: "Packets", Value: fmt.Sprint(fst.Packets)},
		report.Fact{Label: "DTLS/TLS sessions", Value: fmt.Sprint(len(sess))})
	for _, r := range tlsdec.Reasons() {
		var n uint64
		for _, s := range sess {
			n += s.Failures(r)
		}
		if n > 0 {
			info.Undecrypted = append(info.Undecrypted, report.Fact{Label: r.String(), Value: fmt.Sprint(n)})
		}
	}
	return info
}

func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_./:=@%+-", c)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// reportOut is where the report goes, opened before the capture is read
// (a missing directory or a read-only disk is said at once): "-" is
// standard output; a regular file (or a new one) is written through a
// temporary file in its directory renamed into place, so a failed write
// leaves no half report and the old file stands; anything else (a
// symlink, a FIFO, a device) is written in place, as a shell's > would.
type reportOut struct {
	path string
	w    io.Writer
	f    *os.File
	tmp  bool
}

func openReportOut(path string, stdout io.Writer) (*reportOut, error) {
	if path == "-" {
		return &reportOut{path: path, w: stdout}, nil
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		return &reportOut{path: path, w: f, f: f}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ompscope-report-*")
	if err != nil {
		return nil, err
	}
	return &reportOut{path: path, w: f, f: f, tmp: true}, nil
}

// abort removes the temporary file (the report was not written).
func (o *reportOut) abort() {
	if o.f != nil {
		o.f.Close()
		if o.tmp {
			os.Remove(o.f.Name())
		}
	}
}

// writeReport writes the report of a and puts it in place.
func writeReport(o *reportOut, a *analyze.Analyzer, info report.Info, stderr io.Writer) error {
	h := a.History()
	sum := a.Summary(analyze.Filter{})
	if err := report.Write(o.w, h, sum, info); err != nil {
		o.abort()
		return fmt.Errorf("writing the report %s: %w", o.path, err)
	}
	if o.f != nil {
		err := o.f.Close()
		if err == nil && o.tmp {
			if err = os.Chmod(o.f.Name(), 0o644); err == nil {
				err = os.Rename(o.f.Name(), o.path)
			}
		}
		if err != nil {
			if o.tmp {
				os.Remove(o.f.Name())
			}
			return fmt.Errorf("writing the report %s: %w", o.path, err)
		}
	}
	if h.Dropped > 0 {
		fmt.Fprintf(stderr, "ompscope report: %d row versions past --report-max-versions (or past the half of its budget their distinct attribute sets may take) are not in the report; its tables are incomplete from %s on\n",
			h.Dropped, analyzeTime(h.DroppedFrom))
	}
	if h.StatesDropped > 0 {
		fmt.Fprintf(stderr, "ompscope report: %d session state changes past the cap (--report-max-versions / 16) are not in the report; its session chart is incomplete\n",
			h.StatesDropped)
	}
	return nil
}

func analyzeTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
