package dissect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

const illustrated = "testdata/illustrated-tls12/"

type collected struct {
	events []Event
	plain  [][]byte
}

func runFile(t *testing.T, path string, ks *tlsdec.KeyStore, cfg Config) (*Dissector, *collected, error) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg.Keys = ks
	c := &collected{}
	d := New(cfg, func(e *Event) {
		c.events = append(c.events, *e)
		c.plain = append(c.plain, append([]byte(nil), e.Plaintext...))
	})
	err = d.Run(r)
	d.Finish()
	return d, c, err
}

func keysFrom(t *testing.T, path string) *tlsdec.KeyStore {
	t.Helper()
	ks := tlsdec.NewKeyStore()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, errs := ks.LoadKeyLog(f, path); n == 0 || len(errs) > 0 {
		t.Fatalf("key log %s: %d keys, %v", path, n, errs)
	}
	return ks
}

// The capture nobody here wrote: a TLS 1.2 ping/pong over IPv6 loopback
// (BSD Null link), ECDHE-RSA-AES128-CBC-SHA, port 8443.
func TestIllustratedTLS12(t *testing.T) {
	if _, err := os.Stat(illustrated + "capture.pcap"); err != nil {
		t.Fatalf("test vector missing from testdata: %v", err)
	}
	d, c, err := runFile(t, illustrated+"capture.pcap", keysFrom(t, illustrated+"keylog.txt"), Config{ExtraTLSPorts: []uint16{8443}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.plain) != 2 || string(c.plain[0]) != "ping" || string(c.plain[1]) != "pong" {
		t.Fatalf("plaintexts %q, want ping, pong", c.plain)
	}
	if c.events[0].Dir != tlsdec.FromClient || c.events[1].Dir != tlsdec.FromServer {
		t.Errorf("directions %v %v", c.events[0].Dir, c.events[1].Dir)
	}
	if c.events[0].Frame != 13 || c.events[1].Frame != 15 {
		t.Errorf("frames %d %d, want 13 15 (as tshark numbers them)", c.events[0].Frame, c.events[1].Frame)
	}
	// "ping" is not a vdaemon message: the record still gets its event,
	// with the decode error, never dropped.
	if c.events[0].Msg.Err == nil || !strings.Contains(c.events[0].Msg.Err.Error(), "vdaemon header") {
		t.Errorf("decode error %v", c.events[0].Msg.Err)
	}
	sess, _ := d.Sessions()
	if len(sess) != 1 || sess[0].CipherSuiteName() != "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" || !strings.HasPrefix(sess[0].KeySource, "keylog:") {
		t.Fatalf("sessions %+v", sess)
	}
	var st bytes.Buffer
	d.WriteStats(&st)
	for _, want := range []string{"1 sessions", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "undecodable 2"} {
		if !strings.Contains(st.String(), want) {
			t.Errorf("stats lack %q:\n%s", want, st.String())
		}
	}
	// Without --tls-port 8443 nothing is taken as TLS.
	_, c2, _ := runFile(t, illustrated+"capture.pcap", keysFrom(t, illustrated+"keylog.txt"), Config{})
	if len(c2.events) != 0 {
		t.Errorf("%d events on a non-controller TCP port", len(c2.events))
	}
}

func TestIllustratedNoKeyAndWrongKey(t *testing.T) {
	if _, err := os.Stat(illustrated + "capture.pcap"); err != nil {
		t.Fatalf("test vector missing from testdata: %v", err)
	}
	// No key at all.
	d, c, _ := runFile(t, illustrated+"capture.pcap", tlsdec.NewKeyStore(), Config{ExtraTLSPorts: []uint16{8443}})
	if len(c.events) != 0 {
		t.Fatalf("%d events decrypted without a key", len(c.events))
	}
	sess, _ := d.Sessions()
	if len(sess) != 1 || sess[0].Failures(tlsdec.ReasonNoKey) == 0 {
		t.Fatalf("no-key not counted: %+v", sess)
	}
	// A key for another session only.
	ks := tlsdec.NewKeyStore()
	ks.LoadKeyLog(strings.NewReader("CLIENT_RANDOM "+strings.Repeat("ab", 32)+" "+strings.Repeat("cd", 48)+"\n"), "other")
	d, c, _ = runFile(t, illustrated+"capture.pcap", ks, Config{ExtraTLSPorts: []uint16{8443}})
	sess, _ = d.Sessions()
	if len(c.events) != 0 || sess[0].Failures(tlsdec.ReasonNoKey) == 0 {
		t.Fatalf("keys for another session: %d events, %d no-key", len(c.events), sess[0].Failures(tlsdec.ReasonNoKey))
	}
	// The right client random with a wrong master secret: auth-failed.
	kl, _ := os.ReadFile(illustrated + "keylog.txt")
	f := strings.Fields(string(kl))
	bad := "CLIENT_RANDOM " + f[1] + " " + strings.Repeat("00", 48) + "\n"
	ks = tlsdec.NewKeyStore()
	ks.LoadKeyLog(strings.NewReader(bad), "bad")
	d, c, _ = runFile(t, illustrated+"capture.pcap", ks, Config{ExtraTLSPorts: []uint16{8443}})
	sess, _ = d.Sessions()
	if len(c.events) != 0 || sess[0].Failures(tlsdec.ReasonAuthFailed) == 0 {
		t.Fatalf("wrong key: %d events, %d auth-failed", len(c.events), sess[0].Failures(tlsdec.ReasonAuthFailed))
	}
}

// A capture cut in the middle of a packet: the error says where, and what
// came before is dissected.
func TestTruncatedCapture(t *testing.T) {
	if _, err := os.Stat(illustrated + "capture.pcap"); err != nil {
		t.Fatalf("test vector missing from testdata: %v", err)
	}
	b, _ := os.ReadFile(illustrated + "capture.pcap")
	dir := t.TempDir()
	// Cut inside the last packet (the server's close-notify/FIN area):
	// ping and pong come before it.
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, b[:len(b)-30], 0o644)
	_, c, err := runFile(t, cut, keysFrom(t, illustrated+"keylog.txt"), Config{ExtraTLSPorts: []uint16{8443}})
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("error %v, want a truncation error", err)
	}
	if len(c.plain) != 2 {
		t.Fatalf("%d records before the cut, want 2", len(c.plain))
	}
	// Not a capture at all.
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("this is not a capture file at all"), 0o644)
	if _, err := capture.Open(junk); err == nil {
		t.Fatal("garbage opened as a capture")
	}
}

func TestControllerPorts(t *testing.T) {
	ps := ControllerDTLSPorts()
	want := map[uint16]bool{12346: true, 12347: true, 12365: true, 12366: true, 12386: true, 12406: true, 12426: true,
		12445: true, 12446: true, 13046: true, 13126: true, 13145: true}
	got := map[uint16]bool{}
	for _, p := range ps {
		got[p] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("port %d missing", p)
		}
	}
	if len(ps) != 800 || got[12345] || got[13146] {
		t.Errorf("%d ports, want 800 (12346-13145)", len(ps))
	}
}

// The hand-written JSON writer gives exactly what encoding/json gives for
// the documented struct form.
func TestEventJSONMatchesStructForm(t *testing.T) {
	if _, err := os.Stat("../pcaps/baseline.pcapng"); err != nil {
		t.Skip("no baseline sample")
	}
	r, err := capture.Open("../pcaps/baseline.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	d := New(Config{}, func(e *Event) {
		n++
		a := e.AppendJSON(nil, true)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(e.JSON(true)); err != nil {
			t.Fatal(err)
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if string(a) != string(b) {
			t.Fatalf("frame %d:\n %s\n %s", e.Frame, a, b)
		}
		var v map[string]any
		if err := json.Unmarshal(a, &v); err != nil {
			t.Fatal(err)
		}
	})
	if err := d.Run(r); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	if n < 100 {
		t.Fatalf("only %d events", n)
	}
}

// Stats report what the layers below skipped (here: an unknown link type).
func TestStatsReportUnknownLinkType(t *testing.T) {
	d := New(Config{}, func(*Event) {})
	d.Packet(&capture.Packet{Data: []byte{1, 2, 3, 4}, LinkType: 147, Frame: 1})
	var b bytes.Buffer
	d.WriteStats(&b)
	if !strings.Contains(b.String(), "unsupported link type: 1") {
		t.Errorf("stats:\n%s", b.String())
	}
}
