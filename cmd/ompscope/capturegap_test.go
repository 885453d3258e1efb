package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// No false clean bill of health (issue 18, item 2): a capture whose
// packets never reach the control connections says so, and how much.

type gapJSON struct {
	Anomalies []struct {
		Kind, Severity, Subject, Explanation string
		EvidenceCount                        int `json:"evidence_count"`
	}
	Peers []struct {
		Records int
	}
}

func analyzeJSON(t *testing.T, args ...string) (int, gapJSON, string) {
	t.Helper()
	code, out, errs := runCmd(t, "", append([]string{"analyze", "-T", "json"}, args...)...)
	var g gapJSON
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("analyze %v: %v (%q)", args, err, errs)
	}
	return code, g, errs
}

func gapsOf(g gapJSON) map[string]string {
	m := map[string]string{}
	for _, a := range g.Anomalies {
		if a.Kind == "capture-gap" {
			m[a.Subject] = a.Severity + ": " + a.Explanation
		}
	}
	return m
}

// rewritePcap copies a pcap (gopacket's pcapgo both ways), with another
// link type when link is not 0 and every packet cut to cut bytes when cut
// is not 0 (the snap length set to it).
func rewritePcap(t *testing.T, in, out string, link layers.LinkType, cut int) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var o bytes.Buffer
	w := pcapgo.NewWriterNanos(&o)
	if link == 0 {
		link = r.LinkType()
	}
	snap := uint32(65535)
	if cut > 0 {
		snap = uint32(cut)
	}
	if err := w.WriteFileHeader(snap, link); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if cut > 0 && len(data) > cut {
			data, ci.CaptureLength = data[:cut], cut
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(out, o.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCaptureGapNoCleanBill(t *testing.T) {
	dir := t.TempDir()
	base := "../../pcaps/baseline"
	// the sample itself: no capture gap
	code, g, _ := analyzeJSON(t, "-r", base+".pcapng")
	if len(gapsOf(g)) != 0 || code != exitOK {
		t.Fatalf("baseline: exit %d, capture gaps %v", code, gapsOf(g))
	}
	// a link type ompscope does not decode: nothing read, exit 4, said
	bad := filepath.Join(dir, "link.pcap")
	rewritePcap(t, base+".pcap", bad, 0xffff, 0)
	code, g, errs := analyzeJSON(t, "-r", bad, "--keylog", base+".keys")
	if gl := gapsOf(g)["unsupported-link"]; code != exitUnread || !strings.HasPrefix(gl, "error: ") || !strings.Contains(gl, "(100.0%)") ||
		!strings.Contains(errs, "no record of any control connection could be read") {
		t.Errorf("link type 0xffff: exit %d, gap %q, stderr %q", code, gl, errs)
	}
	if code, _, errs := runCmd(t, "", "dissect", "-r", bad, "-q"); code != exitUnread {
		t.Errorf("dissect of link type 0xffff: exit %d %q", code, errs)
	}
	// every packet cut at 60 bytes (a small snap length): exit 4, said
	cut := filepath.Join(dir, "cut.pcap")
	rewritePcap(t, base+".pcap", cut, 0, 60)
	code, g, _ = analyzeJSON(t, "-r", cut, "--keylog", base+".keys")
	if gl := gapsOf(g)["truncated"]; code != exitUnread || gl == "" || !strings.Contains(gl, "the first at frame") {
		t.Errorf("snap length 60: exit %d, gaps %v", code, gapsOf(g))
	}
}

// A flood of one-packet DTLS flows (a ClientHello each, from many
// addresses) spliced into the baseline sample: the session table evicts
// the strangers, not the control connections that decrypt; the evictions
// are counted and reported; the analysis of the real sessions is the
// clean one's.
func TestFloodEvictsStrangersNotSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 000-flow capture: not in -short")
	}
	dir := t.TempDir()
	if d := os.Getenv("OMPSCOPE_KEEP"); d != "" {
		dir = d
	}
	base := "../../pcaps/baseline"
	f, err := os.Open(base + ".pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames []struct {
		ci   gopacket.CaptureInfo
		data []byte
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		frames = append(frames, struct {
			ci   gopacket.CaptureInfo
			data []byte
		}{ci, data})
	}
	if len(frames) < 100 {
		t.Fatalf("%d frames in the sample", len(frames))
	}
	out := filepath.Join(dir, "flood.pcap")
	fo, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(fo)
	if err := w.WriteFileHeader(65535, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	const flows = 20000
	span := frames[len(frames)-1].ci.Timestamp.Sub(frames[0].ci.Timestamp)
	next := 0
	for i, fr := range frames {
		// the strangers, spread over the capture between the real frames
		for ; next < flows && time.Duration(int64(span)*int64(next)/flows) <= fr.ci.Timestamp.Sub(frames[0].ci.Timestamp); next++ {
			pkt := clientHello(t, next)
			ci := gopacket.CaptureInfo{Timestamp: fr.ci.Timestamp, CaptureLength: len(pkt), Length: len(pkt)}
			if err := w.WritePacket(ci, pkt); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WritePacket(fr.ci, fr.data); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	if err := fo.Close(); err != nil {
		t.Fatal(err)
	}
	_, clean, _ := analyzeJSON(t, "-r", base+".pcap", "--keylog", base+".keys", "-j", "1")
	// a table of 2 000 sessions, ten times fewer than the strangers
	code, g, errs := analyzeJSON(t, "-r", out, "--keylog", base+".keys", "-j", "1", "--max-sessions", "2000")
	if code != exitOK && code != exitAnomalies {
		t.Fatalf("flood: exit %d %q", code, errs)
	}
	ev := gapsOf(g)["sessions-evicted"]
	if ev == "" || !strings.Contains(ev, ": 0 of them had decrypted records") {
		t.Errorf("flood: the evictions are not reported, or real sessions were evicted: %q", ev)
	}
	// what the full table evicts does not depend on the workers: the
	// summary and the timeline are the same bytes with 1, 2 and 3
	outs := map[int]string{}
	for _, j := range []int{1, 2, 3} {
		tl := filepath.Join(dir, fmt.Sprintf("flood-j%d.ndjson", j))
		code, sum, errs := runCmd(t, "", "analyze", "-r", out, "--keylog", base+".keys", "-j", strconv.Itoa(j),
			"--max-sessions", "2000", "-T", "json", "--timeline", tl)
		if code != exitOK && code != exitAnomalies {
			t.Fatalf("flood, -j %d: exit %d %q", j, code, errs)
		}
		b, err := os.ReadFile(tl)
		if err != nil {
			t.Fatal(err)
		}
		outs[j] = sum + string(b)
		if j > 1 && outs[j] != outs[1] {
			t.Errorf("flood: -j %d gives another summary or timeline than -j 1 (%d and %d bytes)", j, len(outs[j]), len(outs[1]))
		}
	}
	recs := func(g gapJSON) (n int) {
		for _, p := range g.Peers {
			n += p.Records
		}
		return
	}
	if recs(g) != recs(clean) {
		t.Errorf("flood: %d records read, %d without it", recs(g), recs(clean))
	}
	for _, a := range g.Anomalies {
		if a.Kind != "capture-gap" && a.Kind != "decryption-gap" {
			found := false
			for _, c := range clean.Anomalies {
				found = found || (c.Kind == a.Kind && c.Subject == a.Subject)
			}
			if !found {
				t.Errorf("flood: a false %s %q", a.Kind, a.Subject)
			}
		}
	}
}

// clientHello is an Ethernet/IPv4/UDP frame to a controller's DTLS port
// carrying a DTLS 1.2 ClientHello, from address and port n; every fourth
// comes from one address (its ports differ), so that one part of the
// session table fills more than the others.
func clientHello(t *testing.T, n int) []byte {
	t.Helper()
	body := []byte{0xfe, 0xfd}                                // client version DTLS 1.2
	body = append(body, bytes.Repeat([]byte{byte(n)}, 32)...) // random
	body = append(body, 0, 0)                                 // session id, cookie
	body = append(body, 0, 2, 0xc0, 0x2b)                     // one cipher suite
	body = append(body, 1, 0)                                 // null compression
	hs := []byte{1, 0, 0, byte(len(body)), 0, 0, 0, 0, 0, 0, 0, byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(hs) >> 8), byte(len(hs))}
	rec = append(rec, hs...)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(100, 64, byte(n>>8), byte(n)), DstIP: net.IPv4(203, 0, 113, 13)}
	if n%4 == 0 {
		ip.SrcIP = net.IPv4(100, 65, 0, 1)
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + n%30000), DstPort: 12346}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(rec)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
