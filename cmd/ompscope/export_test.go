package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
)

// TestExportDecrypted: --export-decrypted writes one exported PDU per
// decrypted record: the same frames, endpoints and plaintexts as
// `dissect -T json --payload`, a comment naming the source frame; tshark
// (when installed) opens it with no key and reads the same.
func TestExportDecrypted(t *testing.T) {
	for _, sample := range []string{"baseline", "plaintext-control"} {
		out := filepath.Join(t.TempDir(), "export.pcapng")
		in := "../../pcaps/" + sample + ".pcapng"
		code, js, errs := runCmd(t, "", "dissect", "-r", in, "-T", "json", "--payload", "--export-decrypted", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", sample, code, errs)
		}
		type rec struct {
			Frame    uint64 `json:"frame"`
			Src, Dst string
			Payload  string `json:"payload"`
		}
		var want []rec
		sc := bufio.NewScanner(strings.NewReader(js))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r rec
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		r, err := capture.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var p capture.Packet
		i := 0
		for r.Next(&p) == nil {
			if p.LinkType != dissect.LinkTypeExportedPDU {
				t.Fatalf("link type %v", p.LinkType)
			}
			frame, src, dst, payload, ok := dissect.ParseExportedPDU(p.Data)
			if !ok || i >= len(want) {
				t.Fatalf("%s packet %d: tags ok %v, %d records", sample, i+1, ok, len(want))
			}
			w := want[i]
			if frame != w.Frame || hex.EncodeToString(payload) != w.Payload || src.String() != w.Src || dst.String() != w.Dst {
				t.Errorf("%s packet %d: frame %d %v > %v %x, want %+v", sample, i+1, frame, src, dst, payload[:min(8, len(payload))], w)
			}
			i++
		}
		f.Close()
		if i != len(want) || i == 0 {
			t.Errorf("%s: %d packets exported, %d records", sample, i, len(want))
		}
		tshark, err := exec.LookPath("tshark")
		if err != nil {
			t.Log("tshark is not installed: the export is not opened with it (.ci/run installs it)")
			continue
		}
		tout, err := exec.Command(tshark, "-r", out, "-n", "-T", "fields", "-e", "exported_pdu.orig_fno",
			"-e", "exported_pdu.prot_name", "-e", "exported_pdu.exported_pdu", "-e", "frame.comment").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(tout)), "\n")
		if len(lines) != len(want) {
			t.Fatalf("%s: tshark reads %d packets, want %d", sample, len(lines), len(want))
		}
		for k, l := range lines {
			fs := strings.Split(l, "\t")
			if len(fs) < 4 || fs[0] != strconv.FormatUint(want[k].Frame, 10) || fs[1] != "ompscope" ||
				!bytes.Equal([]byte(strings.ReplaceAll(fs[2], ":", "")), []byte(want[k].Payload)) ||
				!strings.HasPrefix(fs[3], "ompscope: frame "+fs[0]+",") {
				t.Fatalf("%s: tshark line %d %.120q, want frame %d", sample, k+1, l, want[k].Frame)
			}
		}
	}
}

// TestExportDecryptedErrors: an export that cannot be written is a clear
// runtime error (exit 1) naming the flag, before anything is read.
func TestExportDecryptedErrors(t *testing.T) {
	code, _, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcapng", "-q", "--export-decrypted",
		filepath.Join(t.TempDir(), "no", "such", "dir", "x.pcapng"))
	if code != exitRuntime || !strings.Contains(errs, "--export-decrypted") || !strings.Contains(errs, "no such file") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
