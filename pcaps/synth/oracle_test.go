package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/pcaps/manifest"
)

// tsharkFrame is what tshark decrypted in one frame.
type tsharkFrame struct {
	frame int
	app   int      // application data records seen (dtls.app_data / tls.app_data)
	data  []string // decrypted payloads (hex), as the data dissector shows them
	src   string
	seq   []string // DTLS record sequence numbers
	epoch []string
}

func needTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the oracle tests need it (.ci/run installs it; apt-get install tshark)")
	}
	return p
}

// tsharkDecrypt runs tshark over capture with the key log keys (empty:
// rely on the capture's own Decryption Secrets Block) and returns, frame
// by frame, the application data it decrypted.
func tsharkDecrypt(t *testing.T, tshark, capture, keys string, m *manifest.Manifest) map[int]*tsharkFrame {
	t.Helper()
	ports := map[string]bool{}
	args := []string{"-r", capture, "-n"}
	if keys != "" {
		args = append(args, "-o", "tls.keylog_file:"+keys)
	} else {
		args = append(args, "-o", "tls.keylog_file:"+os.DevNull)
	}
	for _, s := range m.Sessions {
		i := strings.LastIndexByte(s.Server, ':')
		proto := "udp"
		dis := "dtls"
		if s.Transport == "tls" {
			proto, dis = "tcp", "tls"
		}
		k := proto + ".port==" + s.Server[i+1:] + "," + dis
		if !ports[k] {
			ports[k] = true
			args = append(args, "-d", k)
		}
	}
	args = append(args, "--disable-protocol", "rdpmt", "--disable-protocol", "udt", "--disable-protocol", "reload-framing",
		"-Y", "dtls.app_data || tls.app_data", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "dtls.app_data", "-e", "tls.app_data", "-e", "data.data",
		"-e", "ip.src", "-e", "ipv6.src", "-e", "dtls.record.sequence_number", "-e", "dtls.record.epoch",
		"-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "udp.dstport")
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	frames := map[int]*tsharkFrame{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		for len(f) < 12 {
			f = append(f, "")
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("tshark line %q: %v", line, err)
		}
		tf := &tsharkFrame{frame: n, src: f[4] + f[5] + ":" + f[10] + ">" + f[8] + f[9] + ":" + f[11]}
		for _, col := range f[1:3] {
			if col != "" {
				tf.app += len(strings.Split(col, "|"))
			}
		}
		if f[3] != "" {
			tf.data = strings.Split(f[3], "|")
		}
		if f[6] != "" {
			tf.seq = strings.Split(f[6], "|")
			tf.epoch = strings.Split(f[7], "|")
		}
		frames[n] = tf
	}
	return frames
}

// checkOracle compares what tshark decrypted with the record log of the
// run: every decryptable record decrypts, in its frame, to exactly the
// plaintext the simulator wrote; the others do not decrypt.
func checkOracle(t *testing.T, frames map[int]*tsharkFrame, logs []RecordLog) {
	t.Helper()
	byFrame := map[int][]RecordLog{}
	for _, l := range logs {
		if l.Clear {
			continue // no DTLS/TLS record (plaintext-control)
		}
		byFrame[l.Frame] = append(byFrame[l.Frame], l)
	}
	bad := 0
	report := func(format string, a ...any) {
		bad++
		if bad <= 10 {
			t.Errorf(format, a...)
		}
	}
	for fn, ls := range byFrame {
		tf := frames[fn]
		if tf == nil {
			report("frame %d: the simulator wrote %d application record(s) there, tshark saw none", fn, len(ls))
			continue
		}
		if tf.app != len(ls) {
			report("frame %d: %d application records, tshark saw %d", fn, len(ls), tf.app)
		}
		var want []string
		for _, l := range ls {
			if l.Decryptable {
				want = append(want, hex.EncodeToString(l.Plain))
			}
		}
		if strings.Join(want, "|") != strings.Join(tf.data, "|") {
			report("frame %d: tshark decrypted %q, the simulator wrote %q", fn, tf.data, want)
		}
	}
	for fn, tf := range frames {
		if byFrame[fn] == nil {
			report("frame %d: tshark saw %d application record(s) the simulator did not write", fn, tf.app)
		}
	}
	if bad > 0 {
		t.Fatalf("%d frames disagree", bad)
	}
}

// plaintextHash recomputes params["plaintext_sha256"] from what tshark
// decrypted: the decryptable records in capture order, a duplicate
// datagram counted once, each as a 4-byte big-endian length and the bytes.
func plaintextHash(t *testing.T, frames map[int]*tsharkFrame) (string, int) {
	t.Helper()
	nums := make([]int, 0, len(frames))
	for n := range frames {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	h := sha256.New()
	seen := map[string]bool{}
	n := 0
	for _, fn := range nums {
		tf := frames[fn]
		for i, d := range tf.data {
			if len(tf.seq) == len(tf.data) {
				// DTLS: a repeated record (same source, epoch, sequence
				// number) is a duplicated datagram
				k := tf.src + "/" + tf.epoch[i] + "/" + tf.seq[i] + "/" + d
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			b, err := hex.DecodeString(d)
			if err != nil {
				t.Fatalf("frame %d: %v", fn, err)
			}
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(b)))
			h.Write(l[:])
			h.Write(b)
			n++
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// runLogged runs opts into dir and returns the manifest and record log.
func runLogged(t *testing.T, opts Options, dir string) (*manifest.Manifest, []RecordLog) {
	t.Helper()
	var logs []RecordLog
	base := filepath.Join(dir, opts.Scenario)
	ng, err := os.Create(base + ".pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	pc, err := os.Create(base + ".pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	keys, err := os.Create(base + ".keys")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	m, _, err := Run(opts, Writers{PcapNG: ng, Pcap: pc, Keys: keys, OnRecord: func(r RecordLog) { logs = append(logs, r) }})
	if err != nil {
		t.Fatalf("%s: %v", opts.Scenario, err)
	}
	return m, logs
}

// TestOracle runs every sample's settings, and checks with tshark that
// every application record of the pcapng (keys from its own DSB) and of
// the pcap (keys from the .keys file) decrypts to exactly what the
// simulator wrote, and that the plaintext hash of the manifest is the one
// of what tshark decrypted.
func TestOracle(t *testing.T) {
	tshark := needTshark(t)
	for _, o := range Samples() {
		o := o
		t.Run(o.Scenario, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m, logs := runLogged(t, o, dir)
			if len(logs) < 500 || m.DecryptableRecords < 500 {
				t.Fatalf("only %d records logged, %d decryptable", len(logs), m.DecryptableRecords)
			}
			base := filepath.Join(dir, o.Scenario)
			for _, c := range []struct{ file, keys string }{{base + ".pcapng", ""}, {base + ".pcap", base + ".keys"}} {
				frames := tsharkDecrypt(t, tshark, c.file, c.keys, m)
				checkOracle(t, frames, logs)
				h, n := plaintextHash(t, frames)
				if h != m.Params["plaintext_sha256"] || n != m.DecryptableRecords {
					t.Errorf("%s: tshark decrypts %d records hashing to %s; the manifest says %d, %s", c.file, n, h, m.DecryptableRecords, m.Params["plaintext_sha256"])
				}
			}
		})
	}
}
