//go:build linux || darwin || freebsd || netbsd || openbsd

package dissect

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/ompscope/ompscope/dissect/capture"
)

// longCapture writes route-flap.pcap copies times over, each copy an
// hour after the one before: a capture past the step in which a mapped
// file's pages are given back.
func longCapture(t *testing.T, copies int) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "long.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	src, err := capture.Open("../pcaps/route-flap.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var pk []capture.Packet
	var p capture.Packet
	for src.Next(&p) == nil {
		q := p
		q.Data = slices.Clone(p.Data)
		pk = append(pk, q)
	}
	src.Close()
	if err := w.WriteFileHeader(65535, pk[0].LinkType); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < copies; c++ {
		for _, p := range pk {
			ci := gopacket.CaptureInfo{Timestamp: p.Time.Add(time.Duration(c) * time.Hour), CaptureLength: len(p.Data),
				Length: p.OrigLen}
			if err := w.WritePacket(ci, p.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// runLog dissects src with the workers given and logs what the sink saw.
func runLog(t *testing.T, src Source, workers int, between func() bool) ([]string, error) {
	t.Helper()
	var log []string
	d := New(Config{Keys: keysFrom(t, "../pcaps/route-flap.keys")}, func(e *Event) {
		sid := ""
		if e.Session != nil {
			sid = e.Session.ID
		}
		log = append(log, fmt.Sprintf("%d %s %x", e.Frame, sid, sha256.Sum256(e.Plaintext)))
	})
	err := d.RunSource(src, RunOptions{Workers: workers, Between: between})
	d.Finish()
	return log, err
}

// TestMappedRunMatchesStreamed: a capture read mapped into memory, its
// pages given back as the run goes, gives exactly what the streamed file
// gives, with any number of workers.
func TestMappedRunMatchesStreamed(t *testing.T) {
	name := longCapture(t, 60) // 21 MB: pages given back twice
	open := func(f func(string) (*capture.Reader, error)) *capture.Reader {
		r, err := f(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	want, err := runLog(t, open(capture.Open), 1, nil)
	if err != nil || len(want) < 5000 {
		t.Fatalf("streamed: %d records, %v", len(want), err)
	}
	for _, j := range []int{1, 2, 3} {
		got, err := runLog(t, open(capture.OpenMapped), j, nil)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("-j %d mapped: %d records (%v), streamed %d", j, len(got), err, len(want))
		}
	}
}

// TestMappedFileTruncatedWhileRead: another process truncating the file
// under a run ends the run with a clear error (the read faults), not a
// crash, in the loop of one goroutine and in a parallel run's reader
// (the workers read copies).
func TestMappedFileTruncatedWhileRead(t *testing.T) {
	for _, j := range []int{1, 2} {
		name := longCapture(t, 30)
		r, err := capture.OpenMapped(name)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		log, err := runLog(t, r, j, func() bool {
			if calls++; calls == 1 {
				if err := os.Truncate(name, 0); err != nil {
					t.Error(err)
				}
			}
			return false
		})
		r.Close()
		var fe *capture.FaultError
		if !errors.As(err, &fe) {
			t.Fatalf("-j %d: file truncated after the first packet: %d records, error %v", j, len(log), err)
		}
		t.Logf("-j %d: %d records, then %v", j, len(log), err)
	}
}
