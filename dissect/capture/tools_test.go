package capture

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// needTools skips the test when a Wireshark command-line tool is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install tshark): cannot cross-check against Wireshark's tools", n)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, errb.String())
	}
	return out.String()
}

func writePcap(t *testing.T, path string, nanos bool, lt layers.LinkType, times []time.Time) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, ts := range times {
		d := bytes.Repeat([]byte{byte(i + 1)}, 40+i)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(d), Length: len(d) + 10}, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsharkView lists, for every frame, what tshark reads from the file.
func tsharkView(t *testing.T, path string) []string {
	out := run(t, "tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
		"-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id")
	return strings.Split(strings.TrimSpace(out), "\n")
}

func ourView(t *testing.T, path string, secrets *[]string) []string {
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.OnSecrets = func(kind uint32, data []byte) {
		*secrets = append(*secrets, fmt.Sprintf("%08x:%s", kind, data))
	}
	var lines []string
	var p Packet
	for r.Next(&p) == nil {
		lines = append(lines, fmt.Sprintf("%d\t%d.%09d\t%d\t%d\t%d", p.Frame, p.Time.Unix(), p.Time.Nanosecond(), p.CapLen, p.OrigLen, p.Iface))
	}
	return lines
}

// TestAgainstWiresharkTools makes pcapng files with mergecap and editcap
// (several interfaces of different link types and resolutions, a Decryption
// Secrets Block from --inject-secrets) and checks that every frame reads as
// tshark reads it.
func TestAgainstWiresharkTools(t *testing.T) {
	needTools(t, "tshark", "mergecap", "editcap")
	dir := t.TempDir()
	base := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	a := filepath.Join(dir, "a.pcap")
	b := filepath.Join(dir, "b.pcap")
	writePcap(t, a, false, layers.LinkTypeEthernet, []time.Time{base.Add(1 * time.Millisecond), base.Add(3 * time.Millisecond), base.Add(5 * time.Millisecond)})
	writePcap(t, b, true, layers.LinkTypeLinuxSLL2, []time.Time{base.Add(2*time.Millisecond + 7), base.Add(4*time.Millisecond + 9)})
	merged := filepath.Join(dir, "merged.pcapng")
	run(t, "mergecap", "-w", merged, a, b)
	keylog := "../testdata/illustrated-tls12/keylog.txt"
	withKeys := filepath.Join(dir, "keys.pcapng")
	run(t, "editcap", "--inject-secrets", "tls,"+keylog, merged, withKeys)
	realNG := filepath.Join(dir, "illustrated.pcapng")
	run(t, "editcap", "-F", "pcapng", "--inject-secrets", "tls,"+keylog, illustrated, realNG)

	key, err := os.ReadFile(keylog)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{merged, withKeys, realNG} {
		var secrets []string
		ours := ourView(t, f, &secrets)
		theirs := tsharkView(t, f)
		if len(ours) == 0 || strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
			t.Errorf("%s: ours\n%s\ntshark\n%s", filepath.Base(f), strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
		}
		wantSecrets := 0
		if f != merged {
			wantSecrets = 1
		}
		if len(secrets) != wantSecrets {
			t.Fatalf("%s: %d secrets blocks", filepath.Base(f), len(secrets))
		}
		if wantSecrets == 1 && secrets[0] != fmt.Sprintf("%08x:%s", SecretsTLSKeyLog, key) {
			t.Errorf("%s: secrets %q", filepath.Base(f), secrets[0])
		}
	}
	r, err := Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p Packet
	for r.Next(&p) == nil {
	}
	ifs := r.Interfaces()
	if len(ifs) != 2 || ifs[0].LinkType != layers.LinkTypeEthernet || ifs[1].LinkType != layers.LinkTypeLinuxSLL2 {
		t.Errorf("interfaces %+v", ifs)
	}
}
