package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/relay/natstest"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

var t0 = time.Unix(1767265051, 50040000)

// samples has one envelope of each kind with every field set.
func samples() []Envelope {
	cert := &Cert{Time: t0, Frame: 7, Subject: "CN=vsmart-1,O=Acme", Issuer: "CN=Acme Root", SelfSigned: true,
		SHA256: [32]byte{1, 2, 3, 31: 9}, ParseError: ""}
	return []Envelope{
		{Kind: KindSession, Run: 1767265051050040000, Seq: 1, Time: t0, Frame: 3, Session: 1, Announce: true,
			Info: &SessionFacts{ID: "dtls:198.18.0.9:51800>203.0.113.11:12346#3", Client: netip.MustParseAddrPort("198.18.0.9:51800"),
				Server: netip.MustParseAddrPort("[2001:db8::1]:12346"), Transport: "dtls", Suite: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
				Version: "DTLS 1.2", KeySource: "keylog", NullCipher: true, ClientCert: cert,
				ServerCert: &Cert{Time: t0, Frame: 5, Empty: true, SubjectEmpty: true, ParseError: "x509: malformed"}}},
		{Kind: KindSession, Run: 9, Seq: 2, Time: t0, Session: 2, Info: &SessionFacts{ID: "plain:a>b", Transport: "udp"}},
		{Kind: KindRecord, Run: 9, Seq: 3, Time: t0.Add(time.Millisecond), Frame: 12, Session: 1, FromServer: true, Plaintext: []byte{0x20, 1, 2, 3}},
		{Kind: KindRecord, Run: 9, Seq: 4, Time: t0, Frame: 13, Session: 1, Plaintext: []byte{}},
		{Kind: KindGap, Run: 9, Seq: 5, Time: t0, Frame: 14, Session: 1, Reason: "no-key", Records: 7, Start: t0.Add(-time.Hour)},
		{Kind: KindEnd, Run: 9, Seq: 6, Time: t0, Frame: 15, Session: 1, Why: "close_notify"},
		{Kind: KindTick, Run: 9, Seq: 7, Time: t0.Add(time.Second)},
		{Kind: KindLoss, Run: 9, Seq: 8, Time: t0, Count: 1234, Start: t0.Add(-time.Minute)},
		{Kind: KindFinish, Run: 9, Seq: 9, Time: t0, Gaps: []CaptureGap{{Reason: "truncated", Count: 3, Of: 100, Unit: "packet",
			What: "were cut short", Detail: "the first at frame 4", Frames: []uint64{4, 8, 1 << 40}, First: t0, Last: t0.Add(time.Second)}}},
		{Kind: KindFinish, Run: 9, Seq: 10, Time: time.Unix(0, 0)},
		{Kind: KindTick, Run: 9, Seq: 11, Time: time.Unix(-5, 0)}, // before 1970
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range samples() {
		b := e.Append(nil)
		var got Envelope
		if err := got.Decode(b); err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		if e.Plaintext != nil && len(e.Plaintext) == 0 {
			e.Plaintext = nil // an empty record decodes to an empty slice or nil alike
			if len(got.Plaintext) == 0 {
				got.Plaintext = nil
			}
		}
		if !reflect.DeepEqual(norm(got), norm(e)) {
			t.Errorf("%s: round trip\n got  %+v\n want %+v", e.Kind, got, e)
		}
		// every cut is an error naming a field, never a panic
		for n := range len(b) {
			var x Envelope
			err := x.Decode(b[:n])
			if e.Kind == KindRecord && n >= len(b)-len(e.Plaintext) {
				continue // a shorter plaintext is still a record
			}
			var de *Error
			if !errors.As(err, &de) || de.Field == "" {
				t.Errorf("%s cut to %d bytes: %v", e.Kind, n, err)
			}
		}
		// trailing bytes are refused (but a record's plaintext is the rest)
		if e.Kind != KindRecord {
			var x Envelope
			if err := x.Decode(append(b, 0)); err == nil || !strings.Contains(err.Error(), "left over") {
				t.Errorf("%s with a trailing byte: %v", e.Kind, err)
			}
		}
	}
}

// norm makes times comparable (the same instant, whatever the zone).
func norm(e Envelope) Envelope {
	fix := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	fix(&e.Time)
	fix(&e.Start)
	if e.Info != nil {
		f := *e.Info
		for _, c := range []**Cert{&f.ClientCert, &f.ServerCert} {
			if *c != nil {
				cc := **c
				fix(&cc.Time)
				*c = &cc
			}
		}
		e.Info = &f
	}
	gaps := append([]CaptureGap(nil), e.Gaps...)
	for i := range gaps {
		fix(&gaps[i].First)
		fix(&gaps[i].Last)
	}
	e.Gaps = gaps
	if len(e.Gaps) == 0 {
		e.Gaps = nil
	}
	return e
}

func TestDecodeRefuses(t *testing.T) {
	good := (&Envelope{Kind: KindTick, Run: 1, Seq: 1, Time: t0}).Append(nil)
	for _, c := range []struct {
		name, want string
		b          []byte
	}{
		{"empty", "magic at offset 0", nil},
		{"json", "magic at offset 0", []byte(`{"a":1}`)},
		{"version", "version at offset 2: version 2", append([]byte{'O', 'S', 2}, good[3:]...)},
		{"kind 0", "kind at offset 3: unknown kind 0", append([]byte{'O', 'S', 1, 0}, good[4:]...)},
		{"kind 99", "kind at offset 3: unknown kind 99", append([]byte{'O', 'S', 1, 99}, good[4:]...)},
		{"huge", "more than", make([]byte, MaxEnvelope+1)},
		{"overlong varint", "run at offset 4", append([]byte{'O', 'S', 1, 5}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"string past the end", "length", func() []byte {
			b := (&Envelope{Kind: KindEnd, Run: 1, Seq: 1, Why: "x"}).Append(nil)
			b[len(b)-2] = 0x7f
			return b
		}()},
		{"bad flag", "not 0 or 1", func() []byte {
			b := (&Envelope{Kind: KindRecord, Run: 1, Seq: 1}).Append(nil)
			b[len(b)-1] = 7
			return b
		}()},
		{"too many gaps", "more than 64", func() []byte {
			b := (&Envelope{Kind: KindFinish, Run: 1, Seq: 1}).Append(nil)
			return append(b[:len(b)-1], 0x80, 0x08) // 1024 gaps
		}()},
	} {
		var e Envelope
		err := e.Decode(c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestBatch: envelopes in a batch come out as they went in; a damaged
// batch gives the envelopes before the damage and an error naming it.
func TestBatch(t *testing.T) {
	in := samples()
	big := Envelope{Kind: KindRecord, Run: 9, Seq: 99, Plaintext: bytes.Repeat([]byte{7}, 20000)} // a 3-byte length
	small := Envelope{Kind: KindTick, Run: 9, Seq: 100}                                           // a 1-byte length
	in = append(in, big, small)
	b := AppendBatchHeader(nil)
	for i := range in {
		b = AppendToBatch(b, &in[i])
	}
	var out []Envelope
	if err := SplitBatch(b, func(e *Envelope) { out = append(out, *e) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d envelopes out of %d", len(out), len(in))
	}
	for i := range in {
		if in[i].Kind == KindRecord && len(in[i].Plaintext) == 0 {
			continue
		}
		if !reflect.DeepEqual(norm(out[i]), norm(in[i])) {
			t.Errorf("envelope %d: got %+v want %+v", i, out[i], in[i])
		}
	}
	n := 0
	err := SplitBatch(b[:len(b)-1], func(*Envelope) { n++ })
	if err == nil || n != len(in)-1 || !strings.Contains(err.Error(), "past the batch") {
		t.Errorf("a cut batch: %d envelopes, %v", n, err)
	}
	if err := SplitBatch(AppendBatchHeader(nil), func(*Envelope) {}); err == nil || !strings.Contains(err.Error(), "no envelope") {
		t.Errorf("an empty batch: %v", err)
	}
	many := AppendBatchHeader(nil)
	for i := range BatchMax + 1 {
		many = AppendToBatch(many, &Envelope{Kind: KindTick, Run: 1, Seq: uint64(i + 1)})
	}
	if err := SplitBatch(many, func(*Envelope) {}); err == nil || !strings.Contains(err.Error(), "more than 64") {
		t.Errorf("a batch of %d: %v", BatchMax+1, err)
	}
	b[len(b)-1] = 0x80 // the last envelope's last byte (its session number) left unfinished
	if err := SplitBatch(b, func(*Envelope) {}); err == nil {
		t.Error("a damaged envelope in a batch was taken")
	}
}

// FuzzDecode: any bytes decode to an envelope or a batch or an error,
// never a panic; what decodes encodes back to bytes that decode to the
// same.
func FuzzDecode(f *testing.F) {
	bt := AppendBatchHeader(nil)
	for _, e := range samples() {
		f.Add(e.Append(nil))
		bt = AppendToBatch(bt, &e)
	}
	f.Add(bt)
	f.Add([]byte("OS\x01\x07\x01\x01\x00\x00\x00\x7f"))
	f.Add([]byte("OB\x01\x05OS\x01\x05"))
	f.Add([]byte("OB\x01"))                    // a batch of nothing
	f.Add(append([]byte("OB\x01\xff\x7f"), 0)) // a length past the end
	f.Fuzz(func(t *testing.T, b []byte) {
		if IsBatch(b) {
			var got []Envelope
			err := SplitBatch(b, func(e *Envelope) { got = append(got, *e) })
			if len(got) > BatchMax {
				t.Fatalf("%d envelopes in a batch", len(got))
			}
			if err == nil {
				b2 := AppendBatchHeader(nil)
				for i := range got {
					b2 = AppendToBatch(b2, &got[i])
				}
				n := 0
				if err := SplitBatch(b2, func(*Envelope) { n++ }); err != nil || n != len(got) {
					t.Fatalf("re-encoded batch: %d envelopes, %v", n, err)
				}
			}
			return
		}
		var e Envelope
		if err := e.Decode(b); err != nil {
			return
		}
		b2 := e.Append(nil)
		var e2 Envelope
		if err := e2.Decode(b2); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if !reflect.DeepEqual(norm(e), norm(e2)) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", e, e2)
		}
	})
}

// TestEncoderLoss: while the publisher is full the encoder drops events,
// counts them, and then says so in a loss envelope; Seq has no hole and
// the sessions' facts are sent again before their next event.
func TestEncoderLoss(t *testing.T) {
	var got []Envelope
	var drops []string
	full := false
	enc := &Encoder{Out: func(e *Envelope) {
		c := *e
		if c.Info != nil {
			f := *c.Info
			c.Info = &f
		}
		got = append(got, c)
	}, Full: func() bool { return full }, Dropping: func(start bool, n uint64) { drops = append(drops, fmt.Sprint(start, n)) }}
	s := &tlsdec.Session{ID: "dtls:a>b#1", Transport: "dtls"}
	rec := func(i int) {
		enc.Record(&dissect.Event{Time: t0.Add(time.Duration(i) * time.Second), Frame: uint64(i), Session: s, Plaintext: []byte{byte(i)}})
	}
	rec(1)
	rec(2)
	full = true
	rec(3)
	rec(4)
	enc.Tick(t0.Add(5 * time.Second))
	full = false
	rec(6)
	enc.Finish(nil)
	var kinds []string
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Errorf("envelope %d has Seq %d", i, e.Seq)
		}
		kinds = append(kinds, e.Kind.String())
	}
	// dropped: records 3 and 4, the tick (three events); the session's
	// facts go again after the loss; the last tick goes before finish
	want := "session record record loss session record tick finish"
	if strings.Join(kinds, " ") != want {
		t.Errorf("envelopes %v, want %s", kinds, want)
	}
	for _, e := range got {
		if e.Kind == KindLoss && (e.Count != 3 || !e.Start.Equal(t0.Add(3*time.Second))) {
			t.Errorf("loss: %d from %v", e.Count, e.Start)
		}
	}
	if enc.Lost() != 3 || strings.Join(drops, " ") != "true 0 false 3" {
		t.Errorf("Lost %d, dropping %v", enc.Lost(), drops)
	}
}

// TestEncoderTicks: ticks are thinned to one a second, but a tick the
// clock passed is sent before an event with an earlier time (a gap
// reported at the end of a capture), so that the analyzer's clock is
// where reading the capture would have put it.
func TestEncoderTicks(t *testing.T) {
	var got []string
	enc := &Encoder{Out: func(e *Envelope) { got = append(got, fmt.Sprintf("%s@%d", e.Kind, e.Time.Sub(t0).Milliseconds())) }}
	for ms := 0; ms <= 2500; ms += 100 {
		enc.Tick(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	s := &tlsdec.Session{ID: "x", LastSeen: t0.Add(2 * time.Second)}
	enc.Gap(s, tlsdec.ReasonNoKey, 3)
	enc.Finish(nil)
	want := "tick@0 tick@1000 tick@2000 tick@2500 session@2000 gap@2000 finish@2500"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

// env is an envelope of run, seq, at t0 + sec seconds.
func env(run, seq uint64, sec int, k Kind) *Envelope {
	return &Envelope{Kind: k, Run: run, Seq: seq, Time: t0.Add(time.Duration(sec) * time.Second)}
}

// TestMerger: two sensors' envelopes come interleaved, one sensor's out of
// order and twice; the merger gives them in capture-time order, each
// once, and holds a sensor's envelopes while another one may still send
// earlier ones.
func TestMerger(t *testing.T) {
	now := time.Now()
	m := &Merger{Lateness: 2 * time.Second, HoleWait: time.Second}
	m.Expect("b")
	m.Push("a", env(1, 1, 0, KindTick), 5, now)
	m.Push("a", env(1, 2, 2, KindTick), 4, now)
	if r := m.Pop(now, false); r != nil {
		t.Fatalf("released %s@%v while b was awaited", r.Sensor, r.Env.Time)
	}
	m.Push("b", env(7, 1, 0, KindTick), 4, now)
	m.Push("b", env(7, 3, 3, KindTick), 3, now) // out of order
	m.Push("b", env(7, 1, 0, KindTick), 2, now) // a duplicate
	m.Push("b", env(7, 2, 1, KindTick), 0, now)
	var order []string
	for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
		order = append(order, fmt.Sprintf("%s%d", r.Sensor, r.Env.Time.Sub(t0)/time.Second))
	}
	// a is not caught up (4 more in the stream): b's 3 s waits for it
	if got := strings.Join(order, " "); got != "a0 b0 b1 a2" {
		t.Errorf("order %s", got)
	}
	m.Push("a", env(1, 3, 10, KindFinish), 0, now)
	for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
		order = append(order, fmt.Sprintf("%s%d", r.Sensor, r.Env.Time.Sub(t0)/time.Second))
	}
	if got := strings.Join(order, " "); got != "a0 b0 b1 a2 b3 a10" {
		t.Errorf("order %s", got)
	}
	// a hole in b is awaited HoleWait, then given up
	m.Push("b", env(7, 5, 12, KindTick), 0, now)
	if r := m.Pop(now, false); r != nil {
		t.Errorf("released past a hole: %v", r.Env.Seq)
	}
	if r := m.Pop(now.Add(2*time.Second), false); r == nil || r.Env.Seq != 5 {
		t.Errorf("the hole was not given up: %v", r)
	}
	st := m.Stats()
	if st.Duplicates != 1 || st.Missing != 1 || st.Late != 0 || m.Held() != 0 {
		t.Errorf("stats %+v, held %d", st, m.Held())
	}
	// the envelope given up comes after all (a resend stored late): it is
	// taken, late, and no longer missing; a second copy is a duplicate
	if !m.Push("b", env(7, 4, 11, KindTick), 0, now) || m.Push("b", env(7, 4, 11, KindTick), 0, now) {
		t.Error("the late envelope was refused, or its copy taken")
	}
	if r := m.Pop(now, false); r == nil || r.Env.Seq != 4 {
		t.Errorf("the late envelope was not released: %v", r)
	}
	if st := m.Stats(); st.Missing != 0 || st.Recovered != 1 || st.Duplicates != 2 {
		t.Errorf("after the late arrival: %+v", st)
	}
	// a Seq far beyond what a publisher holds unacknowledged is not believed
	if m.Push("b", env(7, 1<<40, 12, KindTick), 0, now) || m.Stats().Implausible != 1 {
		t.Errorf("an implausible Seq was taken: %+v", m.Stats())
	}
	// a run first seen at Seq 50 (the stream's limits dropped its start)
	// begins there; the envelopes before it, if they come, are late
	m.Push("c", env(3, 50, 20, KindTick), 0, now)
	if r := m.Pop(now, true); r == nil || r.Env.Seq != 50 {
		t.Errorf("a run first seen mid-way was not released: %v", r)
	}
	if !m.Push("c", env(3, 49, 19, KindTick), 0, now) || m.Stats().Missing != 0 {
		t.Errorf("an envelope before a run's first seen: %+v", m.Stats())
	}
	// a live sensor far behind does not hold the others back; what it
	// sends later is late
	m2 := &Merger{Lateness: 2 * time.Second}
	m2.Push("slow", env(1, 1, 0, KindTick), 0, now)
	m2.Push("fast", env(1, 1, 1, KindTick), 0, now)
	m2.Pop(now, false)
	if r := m2.Pop(now, false); r != nil {
		t.Errorf("fast released while slow is within the lateness: %v", r.Env.Time)
	}
	m2.Push("fast", env(1, 2, 5, KindTick), 0, now)
	if r := m2.Pop(now, false); r == nil || r.Sensor != "fast" {
		t.Errorf("fast held back by a sensor 5 s behind: %v", r)
	}
	m2.Pop(now, false)
	m2.Push("slow", env(1, 2, 3, KindTick), 0, now)
	m2.Pop(now, false)
	if m2.Stats().Late != 1 {
		t.Errorf("late %d", m2.Stats().Late)
	}
	// an earlier run of a sensor published after a later one is late too
	m2.Push("fast", env(0, 1, 2, KindTick), 0, now)
	if r := m2.Pop(now, true); r == nil || r.Env.Run != 0 || m2.Stats().Late != 2 {
		t.Errorf("an earlier run after a later one: %v, late %d", r, m2.Stats().Late)
	}
}

// Sensors started together each make sure the stream exists: whichever
// creates it, the others must find it, never fail (the server refuses a
// creation it is still making for another with "subjects overlap"). A
// stream that takes other subjects, or subjects another stream takes,
// is an error.
func TestEnsureStream(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	js := jsClient(t, srv.URL())
	raceStreams(t, []string{srv.URL()}, 200, 8, 1)
	// a stream of that name that takes other subjects is still refused
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"elsewhere.>"}}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStream(ctx, js, "OTHER", 1, 0); err == nil || !strings.Contains(err.Error(), "does not take the subjects") {
		t.Errorf("a stream taking other subjects: %v", err)
	}
	// a creation refused for good (another stream, of another name, takes
	// the subjects) is an error that says so, not taken for a race lost
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{subjects("CLASH")}}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStream(ctx, js, "CLASH", 1, 0); err == nil || !strings.Contains(err.Error(), "creating stream CLASH") ||
		!strings.Contains(err.Error(), "overlap") {
		t.Errorf("subjects taken by another stream: %v", err)
	}
	// a refusal no other try can change (three replicas on one server)
	// is the answer at once, with the server's reason
	start := time.Now()
	err := EnsureStream(ctx, js, "THREE", 3, 0)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "creating stream THREE") || strings.Contains(err.Error(), "looking it up again") {
		t.Errorf("three replicas on one server: %v", err)
	}
	if took >= ensurePause {
		t.Errorf("three replicas on one server: answered after %v: retried", took)
	}
}

// TestRefusalsSorted: which errors say the server has no JetStream, and
// which refusals of a creation another try may change.
func TestRefusalsSorted(t *testing.T) {
	for _, err := range []error{nats.ErrNoResponders, jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
		fmt.Errorf("looking up: %w", jetstream.ErrJetStreamNotEnabled)} {
		if e := noJetStream(err); e == nil || !strings.Contains(e.Error(), "the server has no JetStream") {
			t.Errorf("%v: %v", err, e)
		}
	}
	for _, err := range []error{jetstream.ErrStreamNotFound, context.DeadlineExceeded, errors.New("other")} {
		if e := noJetStream(err); e != nil {
			t.Errorf("%v taken for no JetStream: %v", err, e)
		}
	}
	api := func(code jetstream.ErrorCode) error {
		return &jetstream.APIError{Code: 400, ErrorCode: code, Description: "refused"}
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{nats.ErrTimeout, true},
		{jetstream.ErrStreamNameAlreadyInUse, true},
		{api(jsErrSubjectOverlap), true},
		{api(jsErrClusterNotAvailable), true},
		{api(jsErrClusterNoPeers), true},
		{api(10074), false}, // replicas > 1 not supported in non-clustered mode
		{api(10027), false}, // maximum streams limit reached
		{fmt.Errorf("wrapped: %w", api(10074)), false},
	} {
		if got := mayPassLater(c.err); got != c.want {
			t.Errorf("%v: may pass later %v, want %v", c.err, got, c.want)
		}
	}
}

// TestEnsureStreamWithoutJetStream: a server without JetStream is an
// error that says so, at once (not after the retries a lost race earns).
func TestEnsureStreamWithoutJetStream(t *testing.T) {
	srv := natstest.StartPlain(t)
	js := jsClient(t, srv.URL())
	start := time.Now()
	err := EnsureStream(context.Background(), js, "NOJS", 1, 0)
	took := time.Since(start)
	t.Logf("%v after %v", err, took)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "jetstream") {
		t.Errorf("a server without JetStream: %v", err)
	}
	if took >= ensurePause {
		t.Errorf("a server without JetStream answered after %v: retried", took)
	}
	// the central's side says the same
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Subscribe(ctx, SubscribeConfig{URL: srv.URL(), Stream: "NOJS", IdleExit: time.Second}, func(*Released) {})
	if err == nil || !strings.Contains(err.Error(), "the server has no JetStream") {
		t.Errorf("subscribing to a server without JetStream: %v", err)
	}
}

// TestSubscribeBackPressure: a slow analyzer holds at most Buffer
// envelopes per sensor; the rest waits in the server, and everything
// arrives in order, once.
func TestSubscribeBackPressure(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	const n = 20000
	for _, sensor := range []string{"s1", "s2"} {
		p, err := Dial(ctx, PublishConfig{URL: srv.URL(), Stream: "BP", Sensor: sensor, Block: true, MaxPending: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= n; i++ {
			p.Publish(&Envelope{Kind: KindRecord, Run: 1, Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Millisecond),
				Plaintext: bytes.Repeat([]byte{byte(i)}, 200)})
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got int
	var last time.Time
	ordered := true
	st, err := Subscribe(ctx, SubscribeConfig{URL: srv.URL(), Stream: "BP", Buffer: 128, IdleExit: time.Second}, func(r *Released) {
		got++
		if r.Env.Time.Before(last) {
			ordered = false
		}
		last = r.Env.Time
		if got%1000 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow analyzer
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != 2*n || !ordered || st.Duplicates != 0 || st.Missing != 0 {
		t.Errorf("delivered %d (want %d), in order %v, stats %+v", got, 2*n, ordered, st.MergeStats)
	}
	if st.MaxHeld > 2*128 {
		t.Errorf("held up to %d envelopes, more than 2 sensors × 128", st.MaxHeld)
	}
	t.Logf("held at most %d envelopes", st.MaxHeld)
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://h:4222":                        "nats://h:4222",
		"nats://u:secret@h:4222,nats://u:s2@g": "nats://…@h:4222,nats://…@g",
		"u:secret@h":                           "…@h",
		"tls://tok@en@h:4222":                  "tls://…@h:4222",
	} {
		if got := redact(in); got != want || strings.Contains(got, "secret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	// a refused connection names the servers, never a password
	for _, u := range []string{"nats://user:hunter2@127.0.0.1:1", "nats://user:hunter2@127.0.0.1:99999x", "nats://a:1,nats://user:hunter2@b:2x",
		`nats://user:hunter2"\x@127.0.0.1:99999x`} {
		_, err := Dial(context.Background(), PublishConfig{URL: u, Sensor: "s"})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Dial %s: %v", redact(u), err)
		}
		_, err = Subscribe(context.Background(), SubscribeConfig{URL: u}, func(*Released) {})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Subscribe %s: %v", redact(u), err)
		}
	}
}

// TestEncoderPlainLoss: a vdaemon connection in the clear keeps its
// client and server across a loss (its facts go again, the same way
// round), as the analyzer's feeder would see it reading the capture.
func TestEncoderPlainLoss(t *testing.T) {
	var got []Envelope
	full := false
	enc := &Encoder{Out: func(e *Envelope) { got = append(got, *e) }, Full: func() bool { return full }}
	cl, sv := netip.MustParseAddrPort("10.0.0.1:12346"), netip.MustParseAddrPort("10.0.0.2:12346")
	rec := func(i int, src, dst netip.AddrPort) {
		enc.Record(&dissect.Event{Time: t0.Add(time.Duration(i) * time.Second), Src: src, Dst: dst, Transport: "udp", Plaintext: []byte{1}})
	}
	rec(1, cl, sv)
	full = true
	rec(2, sv, cl)
	full = false
	rec(3, sv, cl)
	var desc []string
	for _, e := range got {
		switch e.Kind {
		case KindSession:
			desc = append(desc, "session "+e.Info.ID)
		case KindRecord:
			desc = append(desc, fmt.Sprintf("record %d from-server=%v", e.Session, e.FromServer))
		default:
			desc = append(desc, e.Kind.String())
		}
	}
	want := "session plain:10.0.0.1:12346>10.0.0.2:12346 | record 1 from-server=false | loss | session plain:10.0.0.1:12346>10.0.0.2:12346 | record 1 from-server=true"
	if g := strings.Join(desc, " | "); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
}

// FuzzMerger: any sequence of envelopes from any sensors, runs and
// sequence numbers (duplicates, holes, forged numbers) never panics; each
// envelope the merger keeps is released exactly once (with a flush at the
// end), and it holds nothing after; its given-up ranges stay bounded.
func FuzzMerger(f *testing.F) {
	f.Add([]byte{0, 1, 1, 10, 1, 1, 2, 20, 0, 1, 3, 30, 2, 2, 1, 5})
	f.Add([]byte{0, 0, 5, 1, 0, 0, 1, 2, 0, 0, 2, 3, 0, 0, 5, 1, 0, 0, 255, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &Merger{Lateness: time.Second, HoleWait: time.Second, MaxOutOfOrder: 8}
		now := time.Unix(1000, 0)
		kept, out := 0, 0
		for len(b) >= 4 {
			op, run, seq, tm := b[0], b[1], b[2], b[3]
			b = b[4:]
			sensor := string('a' + rune(op%3))
			e := &Envelope{Kind: Kind(1 + op%7), Run: uint64(run % 4), Seq: uint64(seq), Time: t0.Add(time.Duration(tm) * time.Second)}
			if op&0x80 != 0 {
				e.Seq = uint64(seq) << 40 // forged
			}
			if m.Push(sensor, e, uint64(op>>3&1), now) {
				kept++
			}
			if op&0x40 != 0 {
				now = now.Add(2 * time.Second)
			}
			for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
				out++
			}
			for _, s := range m.sensors {
				for _, r := range s.runs {
					if len(r.given) > maxGivenUp {
						t.Fatalf("%d given-up ranges kept", len(r.given))
					}
				}
			}
		}
		for r := m.Pop(now, true); r != nil; r = m.Pop(now, true) {
			out++
		}
		if out != kept || m.Held() != 0 {
			t.Fatalf("kept %d, released %d, held %d", kept, out, m.Held())
		}
	})
}

// TestMergerRuns: a sensor's second run queued behind its first run's
// Finish still holds the other sensors back while more of it is in the
// stream; a run whose first envelopes come late (resent) waits for them,
// also when it is the first thing read of its sensor while the stream has
// more of it (two sensors publishing to a new stream under load stored a
// sensor's first batch after its second); a run forgotten past maxRuns
// still knows its duplicates.
func TestMergerRuns(t *testing.T) {
	now := time.Now()
	m := &Merger{Lateness: time.Minute}
	m.Push("d", env(1, 1, 0, KindTick), 5, now)
	m.Push("d", env(1, 2, 1, KindFinish), 4, now)
	m.Push("d", env(2, 1, 10, KindTick), 3, now) // the next file of d, more in the stream
	m.Push("e", env(1, 1, 20, KindTick), 0, now)
	var got []string
	for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
		got = append(got, fmt.Sprintf("%s%d", r.Sensor, r.Env.Time.Sub(t0)/time.Second))
	}
	if g := strings.Join(got, " "); g != "d0 d1 d10" {
		t.Errorf("released %s: e's 20 s went before the rest of d's second run", g)
	}
	// a later run of d whose first batch is stored after its second: a hole
	m.Push("d", env(3, 65, 30, KindTick), 0, now)
	if r := m.Pop(now, false); r != nil && r.Sensor == "d" {
		t.Errorf("released d's run 3 at Seq 65 before its first envelopes: %v", r.Env.Seq)
	}
	m.Push("d", env(3, 1, 29, KindTick), 0, now)
	var run3 []uint64
	for r := m.Pop(now, true); r != nil; r = m.Pop(now, true) {
		if r.Env.Run == 3 {
			run3 = append(run3, r.Env.Seq)
		}
	}
	if len(run3) != 2 || run3[0] != 1 || run3[1] != 65 {
		t.Errorf("d's run 3 came out as Seqs %v, want 1 then 65", run3)
	}
	// a sensor whose first envelope read is Seq 65, with more of it in
	// the stream: Seqs 1-64 come next, and all go out in order, none late
	m4 := &Merger{Lateness: time.Minute}
	m4.Push("g", env(1, 65, 65, KindTick), 64, now)
	m4.Push("h", env(1, 1, 100, KindTick), 0, now)
	if r := m4.Pop(now, false); r != nil {
		t.Errorf("released %s Seq %d while g's first Seqs are still in the stream", r.Sensor, r.Env.Seq)
	}
	for q := uint64(1); q <= 64; q++ {
		m4.Push("g", env(1, q, int(q), KindTick), 64-q, now)
	}
	var order []uint64
	for r := m4.Pop(now, true); r != nil; r = m4.Pop(now, true) {
		if r.Sensor == "g" {
			order = append(order, r.Env.Seq)
		}
	}
	if st := m4.Stats(); len(order) != 65 || order[0] != 1 || order[64] != 65 || st.Late != 0 || st.Recovered != 0 || st.Missing != 0 {
		t.Errorf("g came out as %v, stats %+v", order, st)
	}
	// 17 runs: the first is forgotten, but a copy of it is a duplicate
	m3 := &Merger{}
	for run := uint64(1); run <= maxRuns+1; run++ {
		m3.Push("f", env(run, 1, int(run), KindTick), 0, now)
	}
	if m3.Push("f", env(1, 1, 1, KindTick), 0, now) || m3.Stats().RunsDropped == 0 || m3.Stats().Duplicates != 1 {
		t.Errorf("a copy of a forgotten run: %+v", m3.Stats())
	}
	// past maxRunsDone forgotten runs the oldest is no longer remembered:
	// counted, and a copy of it is taken
	m5 := &Merger{}
	for run := uint64(1); run <= maxRuns+maxRunsDone+1; run++ {
		m5.Push("f", env(run, 1, int(run), KindTick), 0, now)
	}
	if st := m5.Stats(); st.RunsDoneForgotten != 1 || !m5.Push("f", env(1, 1, 1, KindTick), 0, now) {
		t.Errorf("a run forgotten twice: %+v", m5.Stats())
	}
}

// TestPublisherGivesUp: a capture file's publisher whose stream is
// deleted under it does not retry for ever: after GiveUp with nothing
// acknowledged it stops (Err), Publish returns at once and Close says how
// many messages were not acknowledged. A stream that exists with other
// subjects is refused with a clear error.
func TestPublisherGivesUp(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	p, err := Dial(ctx, PublishConfig{URL: srv.URL(), Stream: "GONE", Sensor: "s", Block: true, MaxPending: 64,
		AckWait: 200 * time.Millisecond, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	js := jsClient(t, srv.URL())
	if err := js.DeleteStream(ctx, "GONE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 1; i <= 1000 && p.Err() == nil; i++ {
		p.Publish(&Envelope{Kind: KindTick, Run: 1, Seq: uint64(i), Time: t0})
	}
	if p.Err() == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("the publisher did not give up (%v after %s)", p.Err(), time.Since(start))
	}
	cerr := p.Close(ctx)
	if cerr == nil || !strings.Contains(cerr.Error(), "not acknowledged") || !strings.Contains(cerr.Error(), "no message acknowledged for 2s") {
		t.Errorf("Close: %v", cerr)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"elsewhere.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(ctx, PublishConfig{URL: srv.URL(), Stream: "OTHER", Sensor: "s"}); err == nil ||
		!strings.Contains(err.Error(), "does not take the subjects ompscope.other.*") {
		t.Errorf("a stream with other subjects: %v", err)
	}
}

// On a cluster a replicated creation in flight can leave the other
// sensors' lookups unanswered until their deadline: EnsureStream tries
// again, each try with a deadline of its own, within the caller's 10 s
// (as cmd/ompscope's --publish gives it).
func TestEnsureStreamCluster(t *testing.T) {
	nodes := natstest.Cluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.URL())
	}
	raceStreams(t, urls, 5, 6, 3)
}

// raceStreams has sensors start together rounds times, each on a
// connection of its own to one of urls in turn, each making sure the
// round's stream exists (with replicas) within 10 s: none may fail, and
// the stream must take their subjects.
func raceStreams(t *testing.T, urls []string, rounds, sensors, replicas int) {
	t.Helper()
	js := jsClient(t, urls[0])
	for round := 0; round < rounds; round++ {
		stream := fmt.Sprintf("RACE%d", round)
		errs := make(chan error, sensors)
		start := make(chan struct{})
		for i := range sensors {
			go func() {
				c, err := nats.Connect(urls[i%len(urls)])
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				cjs, err := jetstream.New(c)
				if err != nil {
					errs <- err
					return
				}
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				errs <- EnsureStream(ctx, cjs, stream, replicas, 0)
			}()
		}
		close(start)
		for range sensors {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		s, err := js.Stream(context.Background(), stream)
		if err != nil || takes(s, stream, subjects(stream)) != nil {
			t.Fatalf("round %d: stream %v, %v", round, s, err)
		}
	}
}

// jsClient connects to the server at url for JetStream calls of its own
// (closed at the test's end).
func jsClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestSubscribeRefusesSensors: past maxSensors, sensors are refused, each
// counted and logged once; past maxRefusedSensors refused ones, the rest
// are neither remembered nor counted one by one (their names grew a map
// with every subject of the stream), and the stats say so.
func TestSubscribeRefusesSensors(t *testing.T) {
	defer func(a, b int) { maxSensors, maxRefusedSensors = a, b }(maxSensors, maxRefusedSensors)
	maxSensors, maxRefusedSensors = 2, 3
	srv := natstest.Start(t)
	ctx := context.Background()
	for i := range 10 {
		p, err := Dial(ctx, PublishConfig{URL: srv.URL(), Stream: "RS", Sensor: fmt.Sprintf("s%d", i), Block: true})
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(&Envelope{Kind: KindRecord, Run: 1, Seq: 1, Time: t0, Plaintext: []byte{byte(i)}})
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var logs []string
	var mu sync.Mutex // (feeds log from their goroutines)
	st, err := Subscribe(ctx, SubscribeConfig{URL: srv.URL(), Stream: "RS", IdleExit: time.Second,
		Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
		}}, func(r *Released) { got = append(got, r.Sensor) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"s0", "s1"}) || st.SensorsRefused != 3 || !st.SensorsRefusedMore {
		t.Errorf("read %v, %d refused (more: %v)", got, st.SensorsRefused, st.SensorsRefusedMore)
	}
	refusals := 0
	for _, l := range logs {
		if strings.Contains(l, "not read: more than 2 sensors") {
			refusals++
		}
	}
	if refusals != 3 {
		t.Errorf("%d refusals logged, want 3: %q", refusals, logs)
	}
}

// TestMergerGivenUpBounded: a run remembers its last maxGivenUp holes given
// up; an envelope of an older one that arrives after all is dropped as a
// duplicate, and the forgetting is counted rather than silent.
func TestMergerGivenUpBounded(t *testing.T) {
	now := time.Now()
	m := &Merger{Lateness: time.Second, HoleWait: time.Second}
	seq := uint64(1)
	m.Push("a", env(1, seq, 0, KindTick), 0, now)
	for i := 0; i <= maxGivenUp; i++ {
		seq += 2 // a hole of one Seq before each
		m.Push("a", env(1, seq, i+1, KindTick), 0, now)
		now = now.Add(2 * time.Second)
		for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
		}
	}
	st := m.Stats()
	if st.Missing != maxGivenUp+1 || st.GivenForgotten != 1 {
		t.Fatalf("stats %+v", st)
	}
	if m.Push("a", env(1, 2, 1, KindTick), 0, now) {
		t.Error("an envelope of a forgotten hole was taken")
	}
	if !m.Push("a", env(1, 4, 2, KindTick), 0, now) {
		t.Error("an envelope of a remembered hole was refused")
	}
	if st := m.Stats(); st.Duplicates != 1 || st.Recovered != 1 || st.Missing != maxGivenUp || st.GivenForgotten != 1 {
		t.Errorf("after the late arrivals: %+v", st)
	}
}

// TestMergerGivenUpSplitBounded: an envelope arriving in the middle of a
// range given up splits it in two; past maxGivenUp ranges the oldest is
// forgotten and counted, so the ranges stay bounded.
func TestMergerGivenUpSplitBounded(t *testing.T) {
	now := time.Now()
	m := &Merger{Lateness: time.Second, HoleWait: time.Second}
	seq := uint64(1)
	m.Push("a", env(1, seq, 0, KindTick), 0, now)
	for i := 0; i < maxGivenUp; i++ {
		seq += 4 // a hole of three Seqs before each
		m.Push("a", env(1, seq, i+1, KindTick), 0, now)
		now = now.Add(2 * time.Second)
		for r := m.Pop(now, false); r != nil; r = m.Pop(now, false) {
		}
	}
	if st := m.Stats(); st.GivenForgotten != 0 || st.Missing != 3*maxGivenUp {
		t.Fatalf("before the splits: %+v", st)
	}
	// the middle of the last hole: split, one range too many
	if !m.Push("a", env(1, seq-2, maxGivenUp, KindTick), 0, now) {
		t.Fatal("the late envelope was refused")
	}
	if st := m.Stats(); st.GivenForgotten != 1 || st.Recovered != 1 {
		t.Errorf("after a split: %+v", st)
	}
	// the oldest range is forgotten: its envelopes are duplicates now
	if m.Push("a", env(1, 3, 1, KindTick), 0, now) {
		t.Error("an envelope of the forgotten range was taken")
	}
	for _, r := range m.sensors[0].runs {
		if len(r.given) > maxGivenUp {
			t.Errorf("%d ranges kept", len(r.given))
		}
	}
}
