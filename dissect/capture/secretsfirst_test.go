package capture_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
)

// blockTypes lists the block types of a little-endian pcapng file.
func blockTypes(t *testing.T, b []byte) []uint32 {
	t.Helper()
	var out []uint32
	for len(b) >= 12 {
		n := binary.LittleEndian.Uint32(b[4:])
		if n < 12 || int(n) > len(b) {
			t.Fatalf("bad block length %d", n)
		}
		out = append(out, binary.LittleEndian.Uint32(b))
		b = b[n:]
	}
	return out
}

// TestSecretsFirst: keys written after the packets they unlock (as sniff -w
// writes them) come out at the front, each block otherwise in place, and
// the file reads the same.
func TestSecretsFirst(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewPcapngWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	for i := range 8 {
		if i == 3 || i == 6 {
			w.WriteSecrets([]byte(keyLine(i)))
		}
		fr := bytes.Repeat([]byte{byte(i)}, 60+i)
		if err := w.WritePacket(&capture.Packet{Data: fr, Time: t0.Add(time.Duration(i) * time.Second), Frame: uint64(i + 1),
			LinkType: layers.LinkTypeEthernet, CapLen: len(fr), OrigLen: len(fr)}); err != nil {
			t.Fatal(err)
		}
	}
	w.WriteSecrets([]byte(keyLine(9)))
	w.WriteStats(8, 0, t0, t0.Add(8*time.Second))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := buf.Bytes()
	var out bytes.Buffer
	n, err := capture.SecretsFirst(bytes.NewReader(before), &out)
	if err != nil || n != 3 {
		t.Fatalf("moved %d, %v", n, err)
	}
	got := blockTypes(t, out.Bytes())
	want := []uint32{0x0A0D0D0A, 1, 0x0A, 0x0A, 0x0A, 6, 6, 6, 6, 6, 6, 6, 6, 5}
	if len(got) != len(want) {
		t.Fatalf("blocks %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("blocks %x, want %x", got, want)
		}
	}
	if out.Len() != len(before) {
		t.Errorf("%d bytes out, %d in", out.Len(), len(before))
	}
	// the same packets, and every key before the first packet
	r, err := capture.NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	packets := 0
	r.OnSecrets = func(kind uint32, data []byte) {
		if packets != 0 {
			t.Errorf("secrets after packet %d", packets)
		}
		keys = append(keys, string(data))
	}
	var p capture.Packet
	for r.Next(&p) == nil {
		if p.Data[0] != byte(packets) {
			t.Errorf("packet %d holds %x", packets, p.Data[0])
		}
		packets++
	}
	if packets != 8 || strings.Join(keys, "") != keyLine(3)+keyLine(6)+keyLine(9) {
		t.Errorf("%d packets, keys %q", packets, keys)
	}
	// in place on a file
	path := filepath.Join(t.TempDir(), "live.pcapng")
	os.WriteFile(path, before, 0o640)
	if n, err := capture.SecretsFirstFile(path); err != nil || n != 3 {
		t.Fatalf("file: moved %d, %v", n, err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, out.Bytes()) {
		t.Error("the file differs from the stream rewrite")
	}
	// bad input: an error, the file untouched
	bad := filepath.Join(t.TempDir(), "bad.pcapng")
	os.WriteFile(bad, before[:len(before)-7], 0o640)
	if _, err := capture.SecretsFirstFile(bad); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
	if b, _ := os.ReadFile(bad); len(b) != len(before)-7 {
		t.Error("a failed rewrite changed the file")
	}
	if _, err := capture.SecretsFirst(bytes.NewReader([]byte("not a capture at all")), &out); err == nil {
		t.Error("garbage rewritten")
	}
}
