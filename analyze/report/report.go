// Package report writes `ompscope report`: one self-contained HTML file,
// readable offline (no request leaves the page), that shows a capture's
// control plane at a glance: the capture summary, a zoomable plot of the
// table sizes over time per peer and for the fabric with the anomalies on
// it, a chart of the control connections, the anomalies grouped by kind
// and severity with their evidence, the tables at the end and at any
// instant picked on the plot (Cisco's status codes, sortable, filtered by
// VPN, prefix, peer and color, paged), and the fabric view.
//
// The plots use uPlot (MIT, pinned, its built file embedded: see
// assets/uplot and docs/report.md for why); the rest of the page is
// assets/app.js. The data travels compressed in the page (encode.go); the
// page rebuilds the tables at an instant from every row version the
// analyzer recorded (analyze.Config.Record) with the same rules as
// `analyze --at` (snapshot.go, bestpath.go), which the browser tests hold
// it to, sample by sample.
//
// The package knows nothing of packets: it takes the analyzer's History
// and summary, and what the caller says of the capture (Info).
package report

import (
	"bufio"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/ompscope/ompscope/analyze"
)

// Schema names the report's data format (meta.schema).
const Schema = "ompscope.report/2"

//go:embed assets/uplot/uPlot.iife.min.js
var uplotJS string

//go:embed assets/uplot/uPlot.min.css
var uplotCSS string

//go:embed assets/app.js
var appJS string

//go:embed assets/app.css
var appCSS string

// Info is what the caller knows of the capture that the analyzer does not.
type Info struct {
	Title string   `json:"title"`
	Files []string `json:"files"`
	// KeyArgs are the key flags the capture was read with, for the
	// commands the report shows (never a key itself: file names only).
	KeyArgs string `json:"key_args"`
	// Facts are label/value lines (packets, records, sessions...).
	Facts []Fact `json:"facts"`
	// Undecrypted counts the records that could not be decrypted, by
	// reason.
	Undecrypted []Fact `json:"undecrypted"`
}

// Fact is one label and its value.
type Fact struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Write writes the report of h (an analyzer's History, after Finish) and
// sum (its Summary) to w.
func Write(w io.Writer, h *analyze.History, sum *analyze.SummaryJSON, info Info) error {
	if h == nil {
		return fmt.Errorf("report: no history (the analyzer ran without Config.Record)")
	}
	meta, data, hist, err := encode(h, sum, info)
	if err != nil {
		return err
	}
	if meta, err = gz(meta); err != nil {
		return err
	}
	if data, err = gz(data); err != nil {
		return err
	}
	if hist, err = gz(hist); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	title := "ompscope report"
	if info.Title != "" {
		title += ": " + info.Title
	}
	fmt.Fprintf(bw, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ompscope">
<title>%s</title>
<style>%s</style>
<style>%s</style>
</head>
<body>
<noscript>This report draws its plots and tables with JavaScript; enable it to read the report.</noscript>
<div id="app"><p id="loading">Loading the report…</p></div>
`, html.EscapeString(title), uplotCSS, appCSS)
	// the summary first, then the scripts (the plot is drawn from the
	// summary), then the history, which the page reads once it is parsed
	writeBlob(bw, "ompscope-meta", meta)
	// uPlot's licence travels with it (MIT): its header comment says so
	fmt.Fprintf(bw, "<script>/*! uPlot 1.6.32, MIT License, Copyright (c) 2022 Leon Sorokin */\n%s</script>\n<script>%s</script>\n",
		scriptSafe(uplotJS), scriptSafe(appJS))
	writeBlob(bw, "ompscope-data", data)
	writeBlob(bw, "ompscope-hist", hist)
	bw.WriteString("</body>\n</html>\n")
	return bw.Flush()
}

// writeBlob writes b as base64 in a data script element, in lines.
func writeBlob(w *bufio.Writer, id string, b []byte) {
	fmt.Fprintf(w, `<script type="application/octet-stream" id="%s" data-bytes="%d">`, id, len(b))
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 0 {
		n := min(len(enc), 16384)
		w.WriteString(enc[:n])
		w.WriteByte('\n')
		enc = enc[n:]
	}
	w.WriteString("</script>\n")
}

// scriptSafe keeps a script's text from closing its element early.
func scriptSafe(s string) string {
	return strings.ReplaceAll(s, "</script", `<\/script`)
}

func tsNS(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
}
