package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect/live"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/relay/natstest"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// eventKey reduces a timeline line to what must be the same live and
// offline: the type, the peers (by system-ip), the row, the attributes,
// the state change, the anomaly kind and subject. Times, frames, session
// ids and addresses differ by nature (the live run uses loopback
// addresses and wall-clock times).
func eventKey(t *testing.T, line []byte) string {
	var e map[string]any
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if e["type"] == "timeline.start" || e["schema"] == "ompscope.summary/3" {
		return "" // the start, and the summary that ends sniff's JSON output
	}
	for _, k := range []string{"time", "frame", "session", "client_addr", "server_addr"} {
		delete(e, k)
	}
	if a, ok := e["anomaly"].(map[string]any); ok {
		e["anomaly"] = a["kind"].(string) + " " + a["subject"].(string)
	}
	b, _ := json.Marshal(e)
	// a peer known only by address is named "?ADDR:PORT" in texts
	return unnamedPeer.ReplaceAllString(string(b), "?ADDR")
}

var unnamedPeer = regexp.MustCompile(`\?(\[[0-9a-f:]+\]|[0-9.]+):[0-9]+`)

func eventKeys(t *testing.T, data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if k := eventKey(t, sc.Bytes()); k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func diffKeys(t *testing.T, what string, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return
	}
	w := map[string]int{}
	for _, k := range want {
		w[k]++
	}
	for _, k := range got {
		w[k]--
	}
	n := 0
	for k, c := range w {
		if c != 0 && n < 8 {
			n++
			t.Errorf("%s: %+d × %.300s", what, -c, k)
		}
	}
	t.Errorf("%s: %d events, want %d", what, len(got), len(want))
}

// liveTest skips unless lo can be captured on (and not with -short), and
// builds the binary the live tests run, in dir.
func liveTest(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	src, err := live.Open("lo", live.Options{Timeout: 10 * time.Millisecond})
	if err != nil {
		t.Skipf("cannot capture on lo here (%v): the live integration test needs root or CAP_NET_RAW", err)
	}
	src.Close()
	dir = t.TempDir()
	bin = filepath.Join(dir, "ompscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir, bin
}

// TestSniffLoopback: sniff on lo while the simulator replays a scenario
// over real sockets, stop it with SIGINT; the events and anomalies equal
// those of the same run analysed offline, and the -w file re-analyses to
// the same result. Needs root (AF_PACKET on lo).
func TestSniffLoopback(t *testing.T) {
	dir, bin := liveTest(t)
	keys := filepath.Join(dir, "k.keys")
	os.WriteFile(keys, nil, 0o644)
	wfile := filepath.Join(dir, "live.pcapng")

	args := []string{"sniff", "-i", "lo", "-f", "(udp or tcp) and net 127.97.0.0/16", "--keylog", keys,
		"-w", wfile, "-T", "json", "--view", "events"}
	// a live sensor too, when nats-server is here (.ci/run installs it):
	// the central analysis of what it published is checked below
	natsURL := ""
	if _, err := exec.LookPath("nats-server"); err == nil {
		natsURL = natstest.Start(t).URL()
		args = append(args, "--publish", natsURL, "--sensor", "lo-sensor", "--stream", "LIVE")
	} else {
		t.Log("nats-server is not installed: sniff --publish is not checked")
	}
	sniff := exec.Command(bin, args...)
	var sout, serr bytes.Buffer
	sniff.Stdout, sniff.Stderr = &sout, &serr
	if err := sniff.Start(); err != nil {
		t.Fatal(err)
	}
	defer sniff.Process.Kill()
	time.Sleep(700 * time.Millisecond) // the socket is open and filtered

	synthCmd := exec.Command(bin, "synth", "--live", "--to", "127.97.0.1", "--speed", "60", "--key-lead", "1s", "-q",
		"-s", "alert-teardown", "--edges", "4", "--seed", "3", "--keylog", keys, "-o", filepath.Join(dir, "out"))
	if out, err := synthCmd.CombinedOutput(); err != nil {
		t.Fatalf("synth --live: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond) // the last packets reach the capture
	sniff.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- sniff.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("sniff exit: %v\n%s", err, serr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("sniff did not stop on SIGINT\n%s", serr.String())
	}
	if !strings.Contains(serr.String(), "captured") || strings.Contains(serr.String(), " 0 packets") {
		t.Errorf("sniff summary: %s", serr.String())
	}
	if lines := bytes.Split(bytes.TrimSpace(sout.Bytes()), []byte("\n")); !bytes.Contains(lines[len(lines)-1], []byte(`"schema":"ompscope.summary/3"`)) {
		t.Errorf("sniff -T json does not end with its summary: %.200s", lines[len(lines)-1])
	}

	offline := exec.Command(bin, "analyze", "-r", filepath.Join(dir, "out", "alert-teardown.pcapng"), "--timeline", "-")
	offOut, err := offline.Output()
	if err != nil {
		t.Fatalf("offline analyze: %v", err)
	}
	want := eventKeys(t, offOut)
	got := eventKeys(t, sout.Bytes())
	if len(want) < 50 {
		t.Fatalf("offline analysis has only %d events", len(want))
	}
	anomalies := 0
	for _, k := range want {
		if strings.Contains(k, `"anomaly.start"`) {
			anomalies++
		}
	}
	if anomalies == 0 {
		t.Fatal("the scenario's offline analysis has no anomaly: the comparison would prove little")
	}
	// The live replay closes its TCP connections at the end: the FINs
	// reach the analyzer as session ends (peer.state, reason "TCP FIN"),
	// which the simulator's own capture, written before the sockets
	// close, does not hold. They must be there, and are set apart.
	got = sessionEnds(t, "sniff", got)
	diffKeys(t, "sniff vs offline", want, got)

	reana := exec.Command(bin, "analyze", "-r", wfile, "--timeline", "-")
	reOut, err := reana.Output()
	if err != nil {
		t.Fatalf("analyze -r live.pcapng: %v", err)
	}
	diffKeys(t, "-w file vs offline", want, sessionEnds(t, "-w file", eventKeys(t, reOut)))
	if natsURL != "" {
		if !strings.Contains(serr.String(), "to stream LIVE as sensor lo-sensor") {
			t.Errorf("sniff --publish did not report what it published: %s", serr.String())
		}
		var cout, cerr bytes.Buffer
		central := exec.Command(bin, "analyze", "--subscribe", natsURL, "--stream", "LIVE", "--idle-exit", "1s", "--timeline", "-")
		central.Stdout, central.Stderr = &cout, &cerr
		if err := central.Run(); err != nil {
			t.Fatalf("analyze --subscribe: %v\n%s", err, cerr.String())
		}
		diffKeys(t, "analyze --subscribe (sniff --publish) vs offline", want, sessionEnds(t, "central", eventKeys(t, cout.Bytes())))
	}
	checkSecretsFirst(t, bin, wfile, filepath.Join(dir, "out", "alert-teardown.manifest.json"))
}

// checkSecretsFirst: the -w file has every Decryption Secrets Block before
// its first packet, and tshark, with no other key than those, decrypts as
// many records as ompscope (skipped without tshark).
func checkSecretsFirst(t *testing.T, bin, wfile, manifestPath string) {
	t.Helper()
	b, err := os.ReadFile(wfile)
	if err != nil {
		t.Fatal(err)
	}
	sawPacket, dsbs := false, 0
	for off := 0; off+12 <= len(b); {
		typ, n := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		switch typ {
		case 6:
			sawPacket = true
		case 0x0A:
			dsbs++
			if sawPacket {
				t.Fatalf("-w file: a Decryption Secrets Block at offset %d follows packets", off)
			}
		}
		if n < 12 {
			t.Fatalf("-w file: block length %d at %d", n, off)
		}
		off += n
	}
	if dsbs == 0 {
		t.Fatal("-w file: no Decryption Secrets Block")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: the -w file's decryption by tshark is not checked (.ci/run installs it)")
		return
	}
	m, err := manifest.Read(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-r", wfile, "-n"}
	if k := m.PSKKey(); k != "" {
		args = append(args, "-o", "dtls.psk:"+k)
	}
	args = append(args, m.TsharkDecodeAs()...)
	args = append(args, "-Y", "dtls.app_data || tls.app_data", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
		"-e", "data.data")
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	theirs := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			theirs += len(strings.Split(line, "|"))
		}
	}
	// ompscope's count: the application records it decrypted, and the
	// DTLS repeats it dropped (tshark shows a repeated datagram again)
	var serr bytes.Buffer
	st := exec.Command(bin, "dissect", "-r", wfile, "-q", "--stats")
	st.Stderr = &serr
	if err := st.Run(); err != nil {
		t.Fatalf("dissect --stats: %v\n%s", err, serr.String())
	}
	js, err := exec.Command(bin, "dissect", "-r", wfile, "-T", "json").Output()
	if err != nil {
		t.Fatalf("dissect: %v", err)
	}
	ours, dups := bytes.Count(js, []byte("\n")), 0 // one line per application record
	for _, m := range regexp.MustCompile(`(\d+) duplicates dropped`).FindAllStringSubmatch(serr.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		dups += n
	}
	if theirs != ours+dups || ours == 0 {
		t.Errorf("tshark decrypts %d records of the -w file, ompscope %d (and %d repeats dropped)", theirs, ours, dups)
	}
}

// sessionEnds checks that the TLS sessions' TCP FINs were seen as session
// ends, and returns the keys without them.
func sessionEnds(t *testing.T, what string, keys []string) []string {
	t.Helper()
	var out []string
	ends := 0
	for _, k := range keys {
		if strings.Contains(k, `"reason":"TCP FIN"`) && strings.Contains(k, `"type":"peer.state"`) {
			ends++
			continue
		}
		out = append(out, k)
	}
	if ends == 0 {
		t.Errorf("%s: no session ended with a TCP FIN, although the replay closed its TLS connections", what)
	}
	return out
}

func TestEventLine(t *testing.T) {
	tm := time.Date(2026, 1, 1, 10, 0, 1, 500000000, time.UTC)
	e := &analyze.Event{Time: tm, Type: analyze.EvRouteWithdraw, From: "10.255.0.1", To: "1.1.1.3", Family: omp.FamilyRouteV4,
		Row:    analyze.RowKey{VPN: 10, Prefix: netip.MustParsePrefix("10.1.0.0/24"), PathID: 2, Originator: netip.MustParseAddr("10.255.0.1")},
		Reason: analyze.ReasonSessionDown}
	if got, want := eventLine(e), "10:00:01.500000 route.withdraw 10.255.0.1→1.1.1.3 vpn 10 10.1.0.0/24 path 2 originator 10.255.0.1 (session-down)"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
	st := &analyze.Event{Time: tm, Type: analyze.EvPeerState, State: &analyze.StateChange{Layer: "omp", Old: "handshake", New: "up",
		Reason: "HANDSHAKE", Client: netip.MustParseAddrPort("192.0.2.1:12346"), Server: netip.MustParseAddrPort("192.0.2.2:12346"),
		ServerSystemIP: "1.1.1.3"}}
	if got, want := eventLine(st), "10:00:01.500000 peer.state ?192.0.2.1:12346 > 1.1.1.3 omp: handshake → up (HANDSHAKE)"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
	e = &analyze.Event{Time: tm, Type: analyze.EvTLOCAdd, From: "a", To: "b", Family: omp.FamilyTLOCv4,
		Row:    analyze.RowKey{TLOC: omp.TLOCKey{SystemIP: netip.MustParseAddr("10.255.0.1"), Color: sdwan.ColorMPLS, Encap: sdwan.EncapIPsec}, PathID: 1},
		Reason: analyze.ReasonUpdate}
	if got, want := eventLine(e), "10:00:01.500000 tloc.add a→b tloc 10.255.0.1/mpls/ipsec path 1"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
}

// TestSniffPublishDrops: a live sensor whose link to the server is cut
// while it captures fills its publishing buffer, drops events (it says
// when it starts and stops), counts them, and tells the central analyzer
// once it can publish again: a capture-gap anomaly (sensor-dropped)
// naming the sensor and the count.
func TestSniffPublishDrops(t *testing.T) {
	dir, bin := liveTest(t)
	srv := natstest.Start(t)
	px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	keys := filepath.Join(dir, "k.keys")
	os.WriteFile(keys, nil, 0o644)
	sniff := exec.Command(bin, "sniff", "-i", "lo", "-f", "(udp or tcp) and net 127.98.0.0/16", "--keylog", keys, "-T", "json",
		"--publish", px.url(), "--sensor", "lossy-lo", "--stream", "DROPS", "--publish-buffer", "64", "--publish-ack-wait", "500ms")
	var serr bytes.Buffer
	sniff.Stdout, sniff.Stderr = io.Discard, &serr
	if err := sniff.Start(); err != nil {
		t.Fatal(err)
	}
	defer sniff.Process.Kill()
	time.Sleep(700 * time.Millisecond)
	px.setCut(true) // the sensor's link goes away while traffic flows
	synthCmd := exec.Command(bin, "synth", "--live", "--to", "127.98.0.1", "--speed", "60", "--key-lead", "1s", "-q",
		"-s", "route-flap", "--seed", "5", "--keylog", keys, "-o", filepath.Join(dir, "out"))
	if out, err := synthCmd.CombinedOutput(); err != nil {
		t.Fatalf("synth --live: %v\n%s", err, out)
	}
	px.setCut(false)
	time.Sleep(2 * time.Second) // reconnected; what waited is acknowledged
	sniff.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- sniff.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sniff exit: %v\n%s", err, serr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("sniff did not stop on SIGINT\n%s", serr.String())
	}
	m := regexp.MustCompile(`; (\d+) events dropped while the server could not take them`).FindStringSubmatch(serr.String())
	if m == nil || !strings.Contains(serr.String(), "dropping events, counted") || !strings.Contains(serr.String(), "publishing again:") {
		t.Fatalf("the sensor did not say it dropped events:\n%s", serr.String())
	}
	var cout, cerr bytes.Buffer
	central := exec.Command(bin, "analyze", "--subscribe", srv.URL(), "--stream", "DROPS", "--idle-exit", "1s", "-T", "json")
	central.Stdout, central.Stderr = &cout, &cerr
	if err := central.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitAnomalies {
			t.Fatalf("analyze --subscribe: %v\n%s", err, cerr.String())
		}
	}
	var sum struct {
		Anomalies []struct{ Kind, Subject, Explanation string }
	}
	if err := json.Unmarshal(cout.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	// one gap per time the sensor dropped (the link can come and go
	// more than once while it is cut): together, every event it counted
	n, gaps := 0, 0
	dropped := regexp.MustCompile(`^(\d+) event\(s\) were dropped by sensor lossy-lo `)
	for _, a := range sum.Anomalies {
		if d := dropped.FindStringSubmatch(a.Explanation); a.Kind == "capture-gap" && a.Subject == "sensor-dropped" && d != nil {
			k, _ := strconv.Atoi(d[1])
			n += k
			gaps++
		}
	}
	if want, _ := strconv.Atoi(m[1]); gaps == 0 || n != want {
		t.Errorf("sensor-dropped capture gaps for %d events (%d gaps), the sensor counted %s: %+v\nsensor: %s\ncentral: %s",
			n, gaps, m[1], sum.Anomalies, serr.String(), cerr.String())
	}
}
