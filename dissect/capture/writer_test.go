package capture_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

func keyLine(i int) string {
	return fmt.Sprintf("CLIENT_RANDOM %064x %096x\n", i, i+1000)
}

func TestPcapngRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewPcapngWriterInterface(&buf, capture.PcapngInterface{LinkType: layers.LinkTypeEthernet, Name: "lo", Filter: "udp port 12346", SnapLen: 65535})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456789)
	var frames [][]byte
	for i := range 6 {
		fr := bytes.Repeat([]byte{byte(0x10 + i)}, 60+7*i)
		frames = append(frames, fr)
		if i == 2 {
			if err := w.WriteSecrets([]byte(keyLine(1) + keyLine(2))); err != nil {
				t.Fatal(err)
			}
		}
		if i == 4 {
			if err := w.WriteSecrets([]byte(strings.TrimSuffix(keyLine(3), "\n"))); err != nil { // no final newline
				t.Fatal(err)
			}
		}
		p := capture.Packet{Data: fr, Time: t0.Add(time.Duration(i) * time.Millisecond), Frame: uint64(i + 1), LinkType: layers.LinkTypeEthernet, CapLen: len(fr), OrigLen: len(fr) + i}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteSecrets(nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteStats(9, 3, t0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if np, ns := w.Counts(); np != 6 || ns != 2 {
		t.Errorf("counts %d packets, %d secrets blocks", np, ns)
	}
	if err := w.WritePacket(&capture.Packet{LinkType: layers.LinkTypeEthernet}); err == nil {
		t.Error("WritePacket after Close succeeded")
	}

	r, err := capture.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ks := tlsdec.NewKeyStore()
	type secret struct {
		beforeFrame int
		text        string
	}
	var secrets []secret
	read := 0
	r.OnSecrets = func(kind uint32, data []byte) {
		if kind != capture.SecretsTLSKeyLog {
			t.Errorf("secrets type %#x", kind)
		}
		secrets = append(secrets, secret{read + 1, string(data)})
		if n, errs := ks.LoadDSB(data); len(errs) != 0 || n == 0 {
			t.Errorf("DSB did not load: %d keys, %v", n, errs)
		}
	}
	var p capture.Packet
	for {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := read
		read++
		if !bytes.Equal(p.Data, frames[i]) || !p.Time.Equal(t0.Add(time.Duration(i)*time.Millisecond)) || p.OrigLen != len(frames[i])+i || p.LinkType != layers.LinkTypeEthernet {
			t.Errorf("packet %d: time %v origlen %d link %v, data equal %v", i, p.Time, p.OrigLen, p.LinkType, bytes.Equal(p.Data, frames[i]))
		}
	}
	if read != 6 {
		t.Fatalf("read %d packets, want 6", read)
	}
	want := []secret{{3, keyLine(1) + keyLine(2)}, {5, keyLine(3)}}
	if fmt.Sprint(secrets) != fmt.Sprint(want) {
		t.Errorf("secrets %v, want %v", secrets, want)
	}
	if c := ks.Counts(); c.MasterSecrets != 3 {
		t.Errorf("key store holds %d master secrets, want 3", c.MasterSecrets)
	}
	ifs := r.Interfaces()
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].SnapLen != 65535 || ifs[0].TSUnits != 1e9 ||
		!ifs[0].DroppedKnown || ifs[0].Dropped != 3 || !ifs[0].ReceivedKnown || ifs[0].Received != 9 {
		t.Errorf("interfaces %+v", ifs)
	}
}

func TestPcapngSecretsSplit(t *testing.T) {
	var text strings.Builder
	n := 0
	for text.Len() < 2*capture.MaxSecretsBlock+1000 {
		text.WriteString(keyLine(n))
		n++
	}
	var buf bytes.Buffer
	w, err := capture.NewPcapngWriter(&buf, layers.LinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSecrets([]byte(text.String())); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := capture.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ks := tlsdec.NewKeyStore()
	blocks := 0
	r.OnSecrets = func(kind uint32, data []byte) {
		blocks++
		if len(data) > capture.MaxSecretsBlock || data[len(data)-1] != '\n' {
			t.Errorf("block of %d bytes, ending %q", len(data), data[len(data)-1])
		}
		if _, errs := ks.LoadDSB(data); len(errs) != 0 {
			t.Errorf("block %d: %v", blocks, errs[0])
		}
	}
	if err := r.Next(&capture.Packet{}); err != io.EOF {
		t.Fatalf("Next: %v", err)
	}
	if blocks != 3 || ks.Counts().MasterSecrets != n {
		t.Errorf("%d blocks, %d keys; want 3 blocks, %d keys", blocks, ks.Counts().MasterSecrets, n)
	}
}

func TestPcapngErrors(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewPcapngWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	err = w.WritePacket(&capture.Packet{Data: []byte{1, 2, 3}, LinkType: layers.LinkTypeRaw, Frame: 9})
	if err == nil || !strings.Contains(err.Error(), "packet 9 has link type") {
		t.Errorf("link type mismatch: %v", err)
	}
	// A failing underlying writer: the error is reported and sticks.
	fw := &failWriter{after: 100}
	w2, err := capture.NewPcapngWriter(fw, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 5000) // more than the 4 KiB buffer: reaches the writer
	p := capture.Packet{Data: big, LinkType: layers.LinkTypeEthernet, OrigLen: len(big)}
	err = w2.WritePacket(&p)
	if err == nil {
		err = w2.Flush()
	}
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("write error: %v", err)
	}
	if err := w2.WriteSecrets([]byte(keyLine(1))); !errors.Is(err, errDiskFull) {
		t.Errorf("after a failed write: %v", err)
	}
}

var errDiskFull = errors.New("disk full")

type failWriter struct{ after int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDiskFull
	}
	f.after -= len(b)
	return len(b), nil
}
