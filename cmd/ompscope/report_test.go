package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The report's command line (no browser needed; report_browser_test.go
// opens the pages).

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	sample := "../../pcaps/tloc-flap.pcapng"
	if code, _, errs := runCmd(t, "", "report", "-r", sample); code != exitUsage || !strings.Contains(errs, "-o FILE is required") {
		t.Errorf("report without -o: %d %q", code, errs)
	}
	if code, _, errs := runCmd(t, "", "report", "-r", sample, "-o", filepath.Join(dir, "no", "such", "dir", "r.html")); code != exitRuntime || !strings.Contains(errs, "ompscope report: the report: open ") {
		t.Errorf("report to a missing directory: %d %q", code, errs)
	}
	if code, _, errs := runCmd(t, "", "report", "-r", sample, "-o", filepath.Join(dir, "r.html"), "--report-max-versions", "0"); code != exitUsage {
		t.Errorf("--report-max-versions 0: %d %q", code, errs)
	}
	// report writes nothing on standard output; analyze --report keeps its own output
	out1 := filepath.Join(dir, "a.html")
	code, out, errs := runCmd(t, "", "report", "-r", sample, "-o", out1)
	if code != exitOK || out != "" {
		t.Errorf("report: %d, stdout %q, stderr %q", code, out, errs)
	}
	out2 := filepath.Join(dir, "b.html")
	code, out, _ = runCmd(t, "", "analyze", "-r", sample, "-T", "json", "--report", out2, "-j", "3")
	if code != exitOK || !strings.HasPrefix(out, `{"schema":"ompscope.summary/`) {
		t.Errorf("analyze --report: %d %.80q", code, out)
	}
	a, err1 := os.ReadFile(out1)
	b, err2 := os.ReadFile(out2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// same input, same report, whatever the workers
	if !bytes.Equal(a, b) {
		t.Error("report and analyze --report (-j 3) wrote different pages")
	}
	if !bytes.HasPrefix(a, []byte("<!DOCTYPE html>")) || !bytes.HasSuffix(a, []byte("</html>\n")) {
		t.Error("the report is not a whole HTML page")
	}
	// -o - writes the page on standard output
	if code, out, errs := runCmd(t, "", "report", "-r", sample, "-o", "-"); code != exitOK || out != string(a) {
		t.Errorf("report -o -: %d, %d bytes (want the same page, %d bytes) %q", code, len(out), len(a), errs)
	}
	// a symlink is written through, not replaced
	target := filepath.Join(dir, "target.html")
	link := filepath.Join(dir, "link.html")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, "", "report", "-r", sample, "-o", link); code != exitOK {
		t.Fatalf("report -o symlink: %d %q", code, errs)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, a) {
		t.Error("the symlink's target does not hold the report")
	}
	// analyze's flags that the page does itself are refused, before
	// reading, and not offered in the help
	if _, help, _ := runCmd(t, "", "report", "--help"); strings.Contains(help, "--vpn string") || strings.Contains(help, "--at stringArray") ||
		!strings.Contains(help, "- for standard output; required") {
		t.Errorf("report --help:\n%s", help)
	}
	for _, fl := range [][]string{{"--vpn", "10"}, {"--at", "end"}, {"--peer", "1.1.1.3"}, {"--timeline", "-"}} {
		if code, _, errs := runCmd(t, "", append([]string{"report", "-r", sample, "-o", filepath.Join(dir, "x.html")}, fl...)...); code != exitUsage {
			t.Errorf("report %v: %d %q", fl, code, errs)
		}
	}
	if code, _, _ := runCmd(t, "", "analyze", "-r", sample, "--report", "-"); code != exitUsage {
		t.Errorf("analyze --report -: %d", code)
	}
	// no temporary file is left behind
	left, _ := filepath.Glob(filepath.Join(dir, ".ompscope-report-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
	// a cap of row versions is said, and counted
	code, _, errs = runCmd(t, "", "report", "-r", sample, "-o", filepath.Join(dir, "c.html"), "--report-max-versions", "10")
	if code != exitOK || !strings.Contains(errs, "row versions past --report-max-versions (or past the half of its budget their distinct attribute sets may take) are not in the report") {
		t.Errorf("capped report: %d %q", code, errs)
	}
}

func TestReportInfoNeverHoldsAKey(t *testing.T) {
	secret := "00112233445566778899aabbccddeeff"
	in := &inputFlags{read: []string{"x y.pcap"}, keylogs: []string{"k.keys"}, psks: []string{"id:" + secret}}
	code, _, errs := runCmd(t, "", "report", "-r", "../../pcaps/baseline.pcapng", "--psk", "id:"+secret, "-o", filepath.Join(t.TempDir(), "r.html"))
	if code != exitOK || strings.Contains(errs, secret) {
		t.Errorf("report --psk: %d %q", code, errs)
	}
	info := reportInfo(in, nil)
	if strings.Contains(info.KeyArgs, secret) || !strings.Contains(info.KeyArgs, "--psk KEY") || !strings.Contains(info.KeyArgs, "--keylog k.keys") {
		t.Errorf("key flags in the report: %q", info.KeyArgs)
	}
	if info.Files[0] != "x y.pcap" || info.Title != "x y.pcap" {
		t.Errorf("files %q title %q", info.Files, info.Title)
	}
}
