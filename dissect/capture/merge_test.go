package capture

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestMerger: two files are read in time order, frames renumbered with
// their file and frame there; an error of one file (truncated) ends the
// merge naming that file, after everything before it.
func TestMerger(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	file := func(ms []int, cut int) *Reader {
		var b bytes.Buffer
		w, err := NewPcapngWriter(&b, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			p := Packet{Data: []byte{byte(m), 1, 2, 3}, Time: t0.Add(time.Duration(m) * time.Millisecond), LinkType: layers.LinkTypeEthernet}
			p.CapLen, p.OrigLen = len(p.Data), len(p.Data)
			if err := w.WritePacket(&p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data := b.Bytes()
		if cut > 0 {
			data = data[:len(data)-cut]
		}
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	read := func(m *Merger) (got []string, err error) {
		var p Packet
		for {
			if err = m.Next(&p); err != nil {
				return got, err
			}
			got = append(got, string(rune('0'+p.Data[0]))+"@"+string(rune('a'+p.File))+string(rune('0'+p.FileFrame))+"#"+string(rune('0'+p.Frame)))
		}
	}
	got, err := read(NewMerger([]*Reader{file([]int{1, 4, 5}, 0), file([]int{2, 3, 6}, 0)}, []string{"a", "b"}))
	if err != io.EOF || strings.Join(got, " ") != "1@a1#1 2@b1#2 3@b2#3 4@a2#4 5@a3#5 6@b3#6" {
		t.Errorf("merged %v, %v", got, err)
	}
	got, err = read(NewMerger([]*Reader{file([]int{1, 4}, 0), file([]int{2, 3, 6}, 10)}, []string{"a.pcapng", "b.pcapng"}))
	if err == nil || errors.Is(err, io.EOF) || !strings.HasPrefix(err.Error(), "b.pcapng: ") {
		t.Fatalf("a truncated file: %v", err)
	}
	if strings.Join(got, " ") != "1@a1#1 2@b1#2 3@b2#3" {
		t.Errorf("before the error: %v", got)
	}
}
