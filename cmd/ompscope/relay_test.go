package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/flow"
	"github.com/ompscope/ompscope/dissect/relay"
	"github.com/ompscope/ompscope/dissect/relay/natstest"
	"github.com/ompscope/ompscope/pcaps/linediff"
)

// The scale-out tests run real nats-server processes (natstest): one
// JetStream server, or a three-node cluster, on loopback.

// splitCapture writes the sample's packets into two pcapng files by flow
// (as two sensors on two links would see them).
func splitCapture(t *testing.T, src string) [2]string {
	t.Helper()
	r, err := capture.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	var out [2]string
	var ws [2]*capture.PcapngWriter
	var fs [2]*os.File
	var p capture.Packet
	if err := r.Next(&p); err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		out[i] = filepath.Join(dir, fmt.Sprintf("half%d.pcapng", i))
		if fs[i], err = os.Create(out[i]); err != nil {
			t.Fatal(err)
		}
		if ws[i], err = capture.NewPcapngWriter(fs[i], p.LinkType); err != nil {
			t.Fatal(err)
		}
	}
	var n [2]int
	for {
		i := int(flow.ShardKey(p.Data, p.LinkType) % 2)
		n[i]++
		if err := ws[i].WritePacket(&p); err != nil {
			t.Fatal(err)
		}
		if err := r.Next(&p); err != nil {
			break
		}
	}
	for i := range ws {
		if err := ws[i].Close(); err != nil {
			t.Fatal(err)
		}
		fs[i].Close()
	}
	if n[0] == 0 || n[1] == 0 {
		t.Fatalf("the split put %v packets in each half", n)
	}
	return out
}

// publishFile runs a sensor on a capture file.
func publishFile(t *testing.T, url, stream, sensor, file, keys string, extra ...string) string {
	t.Helper()
	errs, err := publishFileErr(url, stream, sensor, file, keys, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// publishFileErr is publishFile for another goroutine than the test's.
func publishFileErr(url, stream, sensor, file, keys string, extra ...string) (string, error) {
	args := append([]string{"dissect", "-r", file, "--keylog", keys, "--publish", url, "--stream", stream, "--sensor", sensor}, extra...)
	var out, errb bytes.Buffer
	if code := run(args, strings.NewReader(""), &out, &errb); code != 0 {
		return errb.String(), fmt.Errorf("%v: exit %d: %s", args, code, errb.String())
	}
	return errb.String(), nil
}

// central runs analyze --subscribe and returns its JSON summary, its
// timeline and its stderr.
func central(t *testing.T, url, stream string, extra ...string) (string, string, string) {
	t.Helper()
	tl := filepath.Join(t.TempDir(), "timeline.ndjson")
	args := append([]string{"analyze", "--subscribe", url, "--stream", stream, "--idle-exit", "1s", "-T", "json", "--timeline", tl}, extra...)
	code, out, errs := runCmd(t, "", args...)
	if code != 0 && code != exitAnomalies {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	b, err := os.ReadFile(tl)
	if err != nil {
		t.Fatal(err)
	}
	return out, string(b), errs
}

// offline is analyze -r on the files, merged.
func offline(t *testing.T, keys string, files ...string) (string, string) {
	t.Helper()
	tl := filepath.Join(t.TempDir(), "timeline.ndjson")
	args := []string{"analyze", "--keylog", keys, "-T", "json", "--timeline", tl}
	for _, f := range files {
		args = append(args, "-r", f)
	}
	code, out, errs := runCmd(t, "", args...)
	if code != 0 && code != exitAnomalies {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	b, err := os.ReadFile(tl)
	if err != nil {
		t.Fatal(err)
	}
	return out, string(b)
}

// sameAsOffline checks the central analysis (summary and timeline)
// against analyze -r on the capture, byte for byte; it returns the
// offline summary. logs are shown on a difference.
func sameAsOffline(t *testing.T, sum, tl, keys, pc string, logs ...string) string {
	t.Helper()
	osum, otl := offline(t, keys, pc)
	if sum != osum {
		t.Errorf("the summary from the stream differs from analyze -r's:\n%s\n%s", lineDiff(sum, osum), strings.Join(logs, "\n"))
	}
	if tl != otl {
		t.Errorf("the timeline from the stream differs from analyze -r's:\n%s", lineDiff(tl, otl))
	}
	return osum
}

// TestRelayOneSensorIdentical: a sample published by one sensor and
// analyzed from the stream gives byte for byte the summary and timeline
// of analyze -r on the sample (frames are the sensor's, which are the
// capture's).
func TestRelayOneSensorIdentical(t *testing.T) {
	srv := natstest.Start(t)
	for _, name := range []string{"baseline", "missing-keys", "attack-cve-2026-20182", "edge-reboot-gr", "plaintext-control"} {
		t.Run(name, func(t *testing.T) {
			stream := "T" + strings.ReplaceAll(name, "-", "_")
			pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
			errs := publishFile(t, srv.URL(), stream, "edge-dc1", pc, keys)
			if !strings.Contains(errs, "to stream "+stream+" as sensor edge-dc1") || strings.Contains(errs, " 0 acknowledged") {
				t.Errorf("the sensor's report: %s", errs)
			}
			sum, tl, cerr := central(t, srv.URL(), stream)
			osum := sameAsOffline(t, sum, tl, keys, pc)
			if !strings.Contains(cerr, "from 1 sensor(s): edge-dc1") {
				t.Errorf("the central's report: %s", cerr)
			}
			if name != "baseline" {
				return
			}
			// publishing the same capture again is idempotent: the stream
			// keeps one copy of each message (its duplicate window), and
			// the analysis is the same
			before := streamMsgs(srv.URL(), stream)
			again := publishFile(t, srv.URL(), stream, "edge-dc1", pc, keys)
			if m := regexp.MustCompile(`in (\d+) messages .*: (\d+) acknowledged \((\d+) the stream already had\)`).FindStringSubmatch(again); m == nil ||
				m[1] != m[3] || fmt.Sprint(before) != m[1] || streamMsgs(srv.URL(), stream) != before {
				t.Errorf("publishing again: the stream held %d messages, now %d: %s", before, streamMsgs(srv.URL(), stream), again)
			}
			if sum2, _, _ := central(t, srv.URL(), stream); sum2 != osum {
				t.Errorf("the summary after publishing again differs:\n%s", lineDiff(sum2, osum))
			}
			// --at and --diff (snapshotted in the one pass), and the report
			_, at, _ := runCmd(t, "", "analyze", "--subscribe", srv.URL(), "--stream", stream, "--idle-exit", "500ms",
				"--at", "30", "--at", "end", "--diff", "10,40", "-T", "json")
			_, oat, _ := runCmd(t, "", "analyze", "-r", pc, "--keylog", keys, "--at", "30", "--at", "end", "--diff", "10,40", "-T", "json")
			if at != oat || len(at) < 1000 {
				t.Errorf("--at/--diff from the stream differ from analyze -r's:\n%s", lineDiff(at, oat))
			}
			// --since: what was captured before it is skipped and counted
			_, ssum, serr := runCmd(t, "", "analyze", "--subscribe", srv.URL(), "--stream", stream, "--idle-exit", "500ms",
				"--since", "2026-01-01T10:57:50Z", "--until", "2026-01-01T10:58:00Z", "-T", "json")
			var sv struct {
				Capture struct{ Start, End time.Time }
			}
			json.Unmarshal([]byte(ssum), &sv)
			if !strings.Contains(serr, " before --since") || !strings.Contains(serr, " after --until") ||
				sv.Capture.Start.Before(time.Date(2026, 1, 1, 10, 57, 50, 0, time.UTC)) ||
				sv.Capture.End.After(time.Date(2026, 1, 1, 10, 58, 0, 0, time.UTC)) || !sv.Capture.Start.Before(sv.Capture.End) {
				t.Errorf("--since/--until: capture %v to %v: %s", sv.Capture.Start, sv.Capture.End, serr)
			}
			if code, _, e := runCmd(t, "", "analyze", "--subscribe", srv.URL(), "--since", "2026-01-01T10:58:00Z", "--until", "2026-01-01T10:57:00Z"); code != exitUsage || !strings.Contains(e, "is not before") {
				t.Errorf("--since after --until: exit %d: %s", code, e)
			}
			html := filepath.Join(t.TempDir(), "r.html")
			code, _, rerr := runCmd(t, "", "report", "--subscribe", srv.URL(), "--stream", stream, "--idle-exit", "500ms", "-o", html)
			b, _ := os.ReadFile(html)
			if code != 0 && code != exitAnomalies || !bytes.Contains(b, []byte("stream "+stream+" (edge-dc1")) ||
				!strings.Contains(rerr, "ompscope report: --subscribe:") {
				t.Errorf("report --subscribe: exit %d, %d bytes: %s", code, len(b), rerr)
			}
		})
	}
}

// lineDiff shows the first line that differs.
func lineDiff(got, want string) string {
	i, w, g, differ := linediff.First(strings.Split(want, "\n"), strings.Split(got, "\n"))
	if !differ {
		return "(same lines)"
	}
	return fmt.Sprintf("line %d:\n  got  %.400s\n  want %.400s", i+1, g, w)
}

var (
	frameRE   = regexp.MustCompile(`"(frame|first_frame|last_frame)":\d+`)
	evidRE    = regexp.MustCompile(`"evidence":\[[0-9,]*\]`)
	sessIDRE  = regexp.MustCompile(`#\d+"`)
	frameTxRE = regexp.MustCompile(`frame \d+`)
)

// normalize drops what differs between two sensors' frames and one merged
// capture's: frame numbers (each sensor numbers its own capture's) and
// the frame in session IDs.
func normalize(s string) string {
	s = frameRE.ReplaceAllString(s, `"$1":0`)
	s = evidRE.ReplaceAllString(s, `"evidence":[]`)
	s = sessIDRE.ReplaceAllString(s, `#"`)
	return frameTxRE.ReplaceAllString(s, "frame N")
}

// TestRelayTwoSensors: two sensors replaying the two halves of a fabric
// capture at once; the central analysis equals the offline analysis of
// the merged halves (tables, anomalies, timeline), frame numbers aside.
func TestRelayTwoSensors(t *testing.T) {
	srv := natstest.Start(t)
	for _, name := range []string{"baseline", "vsmart-divergence", "tloc-flap"} {
		t.Run(name, func(t *testing.T) {
			halves := splitCapture(t, "../../pcaps/"+name+".pcapng")
			keys := "../../pcaps/" + name + ".keys"
			stream := "TWO_" + strings.ReplaceAll(name, "-", "_")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, h := range halves {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = publishFileErr(srv.URL(), stream, fmt.Sprintf("sensor%d", i+1), h, keys)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			sum, tl, cerr := central(t, srv.URL(), stream)
			osum, otl := offline(t, keys, halves[0], halves[1])
			if !strings.Contains(cerr, "from 2 sensor(s): sensor1") || !strings.Contains(cerr, " 0 late") {
				t.Errorf("the central's report: %s", cerr)
			}
			if normalize(sum) != normalize(osum) {
				t.Errorf("the summary differs from analyze -r HALF1 -r HALF2:\n%s", lineDiff(normalize(sum), normalize(osum)))
			}
			if normalize(tl) != normalize(otl) {
				t.Errorf("the timeline differs from analyze -r HALF1 -r HALF2:\n%s", lineDiff(normalize(tl), normalize(otl)))
			}
		})
	}
}

// pipeSensor is a sensor reading a capture from a pipe the test feeds.
type pipeSensor struct {
	w    *io.PipeWriter
	data []byte
	off  int
	done chan struct{}
	code int
	errs bytes.Buffer
	mu   sync.Mutex
}

func startPipeSensor(t *testing.T, url, stream, sensor, file, keys string, extra ...string) *pipeSensor {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ps := &pipeSensor{w: pw, data: data, done: make(chan struct{})}
	args := append([]string{"dissect", "-j", "1", "-r", "-", "--keylog", keys, "--publish", url, "--stream", stream, "--sensor", sensor}, extra...)
	go func() {
		defer close(ps.done)
		ps.code = run(args, pr, io.Discard, &natstest.LockedWriter{Mu: &ps.mu, W: &ps.errs})
		pr.Close()
	}()
	return ps
}

// feed writes the capture up to the fraction f of its bytes.
func (ps *pipeSensor) feed(t *testing.T, f float64) {
	t.Helper()
	end := int(float64(len(ps.data)) * f)
	if end > ps.off {
		if _, err := ps.w.Write(ps.data[ps.off:end]); err != nil {
			t.Fatal(err)
		}
		ps.off = end
	}
}

// finish writes the rest, closes the pipe and waits for the sensor.
func (ps *pipeSensor) finish(t *testing.T) string {
	t.Helper()
	ps.feed(t, 1)
	ps.w.Close()
	select {
	case <-ps.done:
	case <-time.After(90 * time.Second):
		t.Fatal("the sensor did not finish")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.code != 0 {
		t.Fatalf("the sensor: exit %d: %s", ps.code, ps.errs.String())
	}
	return ps.errs.String()
}

// streamMsgs is the number of messages the stream holds (0 if it cannot
// be asked).
func streamMsgs(url, stream string) uint64 {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return 0
	}
	defer nc.Close()
	m, err := nc.Request("$JS.API.STREAM.INFO."+stream, nil, time.Second)
	if err != nil {
		return 0
	}
	var info struct {
		State struct {
			Msgs uint64 `json:"messages"`
		} `json:"state"`
	}
	if json.Unmarshal(m.Data, &info) != nil {
		return 0
	}
	return info.State.Msgs
}

// streamLeader is the name of the node leading the stream.
func streamLeader(t *testing.T, url, stream string) string {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := nc.Request("$JS.API.STREAM.INFO."+stream, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Cluster struct {
			Leader string `json:"leader"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal(m.Data, &info); err != nil {
		t.Fatal(err)
	}
	return info.Cluster.Leader
}

func (ps *pipeSensor) waitStream(t *testing.T, url, stream string, atLeast uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for streamMsgs(url, stream) < atLeast {
		if time.Now().After(deadline) {
			ps.mu.Lock()
			defer ps.mu.Unlock()
			t.Fatalf("the stream %s never held %d messages; the sensor said: %s", stream, atLeast, ps.errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// centralAsync runs the central side in the background.
func centralAsync(t *testing.T, url, stream string, extra ...string) func() (string, string, string) {
	type res struct{ sum, tl, errs string }
	ch := make(chan res, 1)
	tl := filepath.Join(t.TempDir(), "timeline.ndjson")
	args := append([]string{"analyze", "--subscribe", url, "--stream", stream, "-T", "json", "--timeline", tl}, extra...)
	go func() {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(""), &out, &errb)
		if code != 0 && code != exitAnomalies {
			fmt.Fprintf(&errb, "\nexit %d", code)
		}
		b, _ := os.ReadFile(tl)
		ch <- res{out.String(), string(b), errb.String()}
	}()
	return func() (string, string, string) {
		select {
		case r := <-ch:
			return r.sum, r.tl, r.errs
		case <-time.After(120 * time.Second):
			t.Fatal("the central analyzer did not stop")
		}
		return "", "", ""
	}
}

// TestRelayServerRestart: the server is killed (SIGKILL) in the middle of
// a sensor's stream and started again on its store: the sensor resends
// what was not acknowledged, the central analyzer (running throughout)
// reconnects, and the analysis equals analyze -r's byte for byte: nothing
// lost, nothing doubled.
func TestRelayServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	const name, stream = "edge-reboot-gr", "RESTART"
	pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
	ps := startPipeSensor(t, srv.URL(), stream, "dc1", pc, keys, "--publish-wait", "60s")
	ps.feed(t, 0.3)
	ps.waitStream(t, srv.URL(), stream, 2)
	wait := centralAsync(t, srv.URL(), stream, "--idle-exit", "5s")
	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	ps.feed(t, 0.7) // published while the server is away
	time.Sleep(time.Second)
	srv.Restart()
	serr := ps.finish(t)
	sum, tl, cerr := wait()
	sameAsOffline(t, sum, tl, keys, pc, "central: "+cerr)
	if !strings.Contains(serr, "disconnected from the server") || !strings.Contains(serr, "reconnected") {
		t.Errorf("the sensor did not report the disconnection: %s", serr)
	}
	if !strings.Contains(cerr, "reconnected") || !strings.Contains(cerr, " 0 missing") {
		t.Errorf("the central's report: %s", cerr)
	}
	t.Logf("sensor: %s\ncentral: %s", serr, cerr)
}

// proxy is a TCP relay between clients and a server that the test can
// cut (every connection closed, new ones refused) and restore: a
// sensor's link going away for a while.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) url() string { return "nats://" + p.l.Addr().String() }

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestRelaySensorDisconnected: a sensor's link is cut for three seconds
// while it publishes; it keeps what was not acknowledged, sends it again
// once back (the stream drops the copies it has), and says so; the
// analysis equals analyze -r's.
func TestRelaySensorDisconnected(t *testing.T) {
	srv := natstest.Start(t)
	px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	const name, stream = "route-flap", "CUT"
	pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
	ps := startPipeSensor(t, px.url(), stream, "branch7", pc, keys, "--publish-ack-wait", "500ms", "--publish-wait", "60s")
	ps.feed(t, 0.3)
	ps.waitStream(t, srv.URL(), stream, 2)
	before := streamMsgs(srv.URL(), stream)
	px.setCut(true)
	ps.feed(t, 0.8)
	time.Sleep(3 * time.Second)
	if n := streamMsgs(srv.URL(), stream); n != before {
		t.Errorf("the stream grew from %d to %d messages while the sensor was cut off", before, n)
	}
	px.setCut(false)
	serr := ps.finish(t)
	sum, tl, cerr := central(t, srv.URL(), stream)
	sameAsOffline(t, sum, tl, keys, pc, "central: "+cerr)
	var pub, acked, dup, resent int
	if _, err := fmt.Sscanf(serr[strings.Index(serr, "published "):], "published %d envelopes", &pub); err != nil {
		t.Fatalf("the sensor's report: %s", serr)
	}
	msgs := regexp.MustCompile(`in (\d+) messages`).FindStringSubmatch(serr)
	if msgs == nil {
		t.Fatalf("the sensor's report: %s", serr)
	}
	fmt.Sscan(msgs[1], &pub)
	re := regexp.MustCompile(`(\d+) acknowledged \((\d+) the stream already had\), (\d+) sent again`)
	m := re.FindStringSubmatch(serr)
	if m == nil {
		t.Fatalf("the sensor's report: %s", serr)
	}
	fmt.Sscan(m[1], &acked)
	fmt.Sscan(m[2], &dup)
	fmt.Sscan(m[3], &resent)
	if acked != pub || resent == 0 || !strings.Contains(serr, "reconnected") {
		t.Errorf("the sensor's counts do not show the outage: %s", serr)
	}
	if got := streamMsgs(srv.URL(), stream); got != uint64(pub) {
		t.Errorf("the stream holds %d messages, the sensor published %d messages (a resend stored twice?)", got, pub)
	}
	t.Logf("sensor: %s\ncentral: %s", serr, cerr)
}

// TestRelayBadMessages: messages that are not envelopes, on a sensor's
// subject and on a foreign one, are counted and skipped with a clear log
// line; the analysis is otherwise that of analyze -r, with a capture-gap
// anomaly saying how many were skipped.
func TestRelayBadMessages(t *testing.T) {
	srv := natstest.Start(t)
	const name, stream = "tloc-flap", "BAD"
	pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
	publishFile(t, srv.URL(), stream, "good", pc, keys)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, m := range []struct{ subj, data string }{
		{"ompscope.bad.good", "hello"},                      // not an envelope, on the sensor's subject
		{"ompscope.bad.foreign", `{"json":"not for us"}`},   // another publisher
		{"ompscope.bad.foreign", "OS\x09\x02"},              // a future version
		{"ompscope.bad.good", "OS\x01\x02\xff\xff\xff\xff"}, // truncated
	} {
		if _, err := nc.Request(m.subj, []byte(m.data), 2*time.Second); err != nil {
			t.Fatalf("publishing to %s: %v", m.subj, err)
		}
	}
	// a sensor that dropped events (its server away while it captured
	// live) says so: a capture gap on the central side
	p, err := relay.Dial(context.Background(), relay.PublishConfig{URL: srv.URL(), Stream: stream, Sensor: "lossy", Block: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(&relay.Envelope{Kind: relay.KindLoss, Run: 5, Seq: 1, Time: time.Unix(1767265060, 0), Count: 42, Start: time.Unix(1767265055, 0)})
	p.Publish(&relay.Envelope{Kind: relay.KindFinish, Run: 5, Seq: 2, Time: time.Unix(1767265060, 0)})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, _, cerr := central(t, srv.URL(), stream)
	if !strings.Contains(cerr, "4 bad") || !strings.Contains(cerr, "skipped a bad message: relay envelope: version at offset 2: version 9") ||
		!strings.Contains(cerr, "sensor foreign: skipped a bad message: relay envelope: magic at offset 0: not an ompscope envelope") {
		t.Errorf("the central's report: %s", cerr)
	}
	var got struct {
		Anomalies []struct{ Kind, Subject, Explanation string }
	}
	if err := json.Unmarshal([]byte(sum), &got); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, a := range got.Anomalies {
		if a.Kind == "capture-gap" && a.Subject == "relay-bad" && strings.Contains(a.Explanation, "4 message(s)") ||
			a.Kind == "capture-gap" && a.Subject == "sensor-dropped" && strings.Contains(a.Explanation, "42 event(s)") &&
				strings.Contains(a.Explanation, "sensor lossy") {
			found[a.Subject] = true
		}
	}
	if len(found) != 2 {
		t.Errorf("no capture-gap anomaly for the bad messages or the sensor's loss: %+v", got.Anomalies)
	}
	osum, _ := offline(t, keys, pc)
	var a, b struct{ Sessions, Peers, Fabric json.RawMessage }
	json.Unmarshal([]byte(sum), &a)
	json.Unmarshal([]byte(osum), &b)
	if len(a.Fabric) < 10 || !bytes.Equal(a.Sessions, b.Sessions) || !bytes.Equal(a.Peers, b.Peers) || !bytes.Equal(a.Fabric, b.Fabric) {
		t.Errorf("the sessions, peers or fabric tables differ from analyze -r's")
	}
}

// TestRelayCluster: a three-node JetStream cluster on loopback, a stream
// with three replicas; one node is killed while a sensor publishes and
// the central analyzer reads: the analysis goes on and equals analyze
// -r's.
func TestRelayCluster(t *testing.T) {
	nodes := natstest.Cluster(t)
	urls := natstest.URLs(nodes)
	const name, stream = "vsmart-divergence", "CLUSTER"
	pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
	ps := startPipeSensor(t, urls, stream, "dc2", pc, keys, "--replicas", "3", "--publish-ack-wait", "1s", "--publish-wait", "60s")
	ps.feed(t, 0.3)
	ps.waitStream(t, nodes[1].URL(), stream, 2)
	wait := centralAsync(t, urls, stream, "--idle-exit", "8s")
	time.Sleep(300 * time.Millisecond)
	// kill the stream's leader: a new one is elected mid-stream
	leader := streamLeader(t, nodes[1].URL(), stream)
	killed := false
	for _, n := range nodes {
		if n.Name == leader {
			n.Kill()
			killed = true
		}
	}
	if !killed {
		t.Fatalf("the stream's leader %q is none of the nodes", leader)
	}
	ps.feed(t, 0.7)
	serr := ps.finish(t)
	sum, tl, cerr := wait()
	sameAsOffline(t, sum, tl, keys, pc, "central: "+cerr, "sensor: "+serr)
	// everything the stream holds was read (a consumer on the dead node
	// is noticed and made again; idle-exit waits for it)
	if !strings.Contains(cerr, " 0 missing") || regexp.MustCompile(`\d+ messages not read`).MatchString(cerr) {
		t.Errorf("the central's report: %s", cerr)
	}
	t.Logf("sensor: %s\ncentral: %s", serr, cerr)
}

// TestRelaySIGTERM: analyze --subscribe with no --idle-exit runs until
// SIGTERM, then prints its summary as analyze -r does.
func TestRelaySIGTERM(t *testing.T) {
	srv := natstest.Start(t)
	const name, stream = "hold-expiry", "TERM"
	pc, keys := "../../pcaps/"+name+".pcapng", "../../pcaps/"+name+".keys"
	publishFile(t, srv.URL(), stream, "s", pc, keys)
	bin := filepath.Join(t.TempDir(), "ompscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "analyze", "--subscribe", srv.URL(), "--stream", stream, "-T", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != exitAnomalies || err != nil && !ok {
			t.Fatalf("exit: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("analyze --subscribe did not stop on SIGTERM")
	}
	osum, _ := offline(t, keys, pc)
	if out.String() != osum {
		t.Errorf("the summary after SIGTERM differs from analyze -r's:\n%s", lineDiff(out.String(), osum))
	}
}

// TestRelayFlags: the scale-out flags are checked before anything is
// read or connected, each refusal saying what is wrong (exit 2), and a
// server that is not there is a clear runtime error (exit 1) that never
// shows a password.
func TestRelayFlags(t *testing.T) {
	pc, keys := "../../pcaps/baseline.pcapng", "../../pcaps/baseline.keys"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dissect", "-r", pc, "--sensor", "x"}, "--sensor goes with --publish"},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "--sensor", "a.b"}, `--sensor "a.b": use 1 to 64 letters`},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "--stream", "x y"}, "--stream"},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "--replicas", "9"}, "--replicas 9: JetStream takes 1 to 5"},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "--publish-buffer", "10"}, "--publish-buffer 10: must be 64 to 16384"},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "--publish-ack-wait", "0s"}, "must be more than 0"},
		{[]string{"dissect", "-r", pc, "--publish", "nats://127.0.0.1:1", "-T", "json"}, "--format does not go with --publish"},
		{[]string{"analyze", "--idle-exit", "1s", "-r", pc}, "--idle-exit goes with --subscribe"},
		{[]string{"analyze", "--subscribe", "nats://127.0.0.1:1", "-r", pc}, "read a capture or a stream, not both"},
		{[]string{"analyze", "--subscribe", "nats://127.0.0.1:1", "--keylog", keys}, "the sensors decrypt"},
		{[]string{"analyze", "--subscribe", "nats://127.0.0.1:1", "--since", "yesterday"}, "--since yesterday: not an RFC 3339 time"},
		{[]string{"analyze", "--subscribe", "nats://127.0.0.1:1", "--lateness", "-1s"}, "take 0 or more"},
	} {
		code, _, errs := runCmd(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", c.args, code, errs, c.want)
		}
	}
	for _, args := range [][]string{
		{"dissect", "-r", pc, "--keylog", keys, "--publish", "nats://u:hunter2@127.0.0.1:1"},
		{"analyze", "--subscribe", "nats://u:hunter2@127.0.0.1:1", "--idle-exit", "1s"},
	} {
		code, _, errs := runCmd(t, "", args...)
		if code != exitRuntime || !strings.Contains(errs, "connecting to nats://…@127.0.0.1:1") || strings.Contains(errs, "hunter2") {
			t.Errorf("%v: exit %d: %s", args[0], code, errs)
		}
	}
}
