package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// TestPlaintextControl: the plaintext-control scenario's clear session
// carries the vdaemon challenge exchange, HELLOs and OMP as bare UDP
// payloads; they are no records (not in the manifest's record counts, no
// key line), params["clear_messages"] counts them, ompscope's dissector
// finds exactly them in the clear, and the manifest's untunnelled-control
// anomaly names the session as the analyzer does (the sender of the first
// message, the vSmart's CHALLENGE, first) from the first clear message.
func TestPlaintextControl(t *testing.T) {
	for _, o := range []Options{
		{Scenario: "plaintext-control", Seed: 1, Edges: 4},
		{Scenario: "plaintext-control", Seed: 3, Edges: 3, TLSFraction: 1, IPv6Fraction: 1, Impair: 0.05},
	} {
		o := o
		t.Run(itoa(int(o.Seed)), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m, logs := runLogged(t, o, dir)
			ci := -1
			for i, s := range m.Sessions {
				if s.Transport == "udp" {
					if ci >= 0 {
						t.Fatalf("sessions %d and %d are both in the clear", ci, i)
					}
					ci = i
				}
			}
			if ci < 0 {
				t.Fatal("no session in the clear")
			}
			cs := m.Sessions[ci]
			if cs.Kind != "omp" || cs.Suite != "" || !strings.HasSuffix(cs.Server, ":12346") && !strings.HasSuffix(cs.Server, ":12446") {
				t.Errorf("clear session %+v", cs)
			}
			var clear [][]byte
			var first time.Time
			nRec, nDec := 0, 0
			types := map[vdaemon.MsgType]int{}
			for _, l := range logs {
				if !l.Clear {
					if l.Session == ci {
						t.Fatalf("a DTLS/TLS record on the clear session")
					}
					if !l.Dup {
						nRec++
						if l.Decryptable {
							nDec++
						}
					}
					continue
				}
				if l.Session != ci || l.Dup || l.Decryptable {
					t.Fatalf("clear message %+v", l)
				}
				msg, err := vdaemon.Decode(l.Plain)
				if err != nil {
					t.Fatalf("clear message %d: %v", len(clear), err)
				}
				types[msg.Header.Type]++
				if len(clear) == 0 {
					first = l.Time
					if msg.Header.Type != vdaemon.TypeChallenge || l.FromClient {
						t.Errorf("the first clear message is %v (from the client: %v), want the server's CHALLENGE", msg.Header.Type, l.FromClient)
					}
				}
				clear = append(clear, l.Plain)
			}
			if types[vdaemon.TypeChallengeAck] != 1 || types[vdaemon.TypeChallengeAckAck] != 1 || types[vdaemon.TypeHello] < 10 ||
				types[vdaemon.TypeData] < 4 {
				t.Errorf("clear message types %v", types)
			}
			if n, _ := m.Params["clear_messages"].(int); n != len(clear) {
				t.Errorf("params clear_messages %v, %d clear messages written", m.Params["clear_messages"], len(clear))
			}
			if nRec != m.Records || nDec != m.DecryptableRecords {
				t.Errorf("records %d (%d decryptable), the manifest says %d (%d)", nRec, nDec, m.Records, m.DecryptableRecords)
			}
			keys, err := os.ReadFile(filepath.Join(dir, o.Scenario+".keys"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(keys), "CLIENT_RANDOM "); n != len(m.Sessions)-1 {
				t.Errorf("%d key lines for %d sessions, one of them in the clear", n, len(m.Sessions))
			}
			if len(m.Anomalies) != 1 {
				t.Fatalf("anomalies %+v", m.Anomalies)
			}
			a := m.Anomalies[0]
			if a.Kind != "untunnelled-control" || a.Subject != "session "+cs.Server+" > "+cs.Client || !a.End.IsZero() {
				t.Errorf("anomaly %+v, clear session %s > %s", a, cs.Client, cs.Server)
			}
			if d := a.Start.Sub(first); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("anomaly starts at %v, the first clear message is at %v", a.Start, first)
			}
			// ompscope's dissector, no keys: exactly the clear messages,
			// in order, decode as vdaemon outside any DTLS/TLS session
			var got [][]byte
			d := dissect.New(dissect.Config{Keys: tlsdec.NewKeyStore()}, func(e *dissect.Event) {
				if e.Session == nil {
					got = append(got, append([]byte(nil), e.Plaintext...))
				}
			})
			r, err := capture.Open(filepath.Join(dir, o.Scenario+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := d.Run(r); err != nil {
				t.Fatal(err)
			}
			d.Finish()
			if len(got) != len(clear) {
				t.Fatalf("the dissector finds %d messages in the clear, the run wrote %d", len(got), len(clear))
			}
			for i := range got {
				if !bytes.Equal(got[i], clear[i]) {
					t.Fatalf("clear message %d differs", i)
				}
			}
		})
	}
}
