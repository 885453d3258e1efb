package synth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/live"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// Each test uses its own loopback block, so that tests of other packages
// (or a sniff on lo) running at the same time do not collide with them.
var (
	liveBaseMap     = netip.MustParseAddr("127.71.0.1")
	liveBaseSockets = netip.MustParseAddr("127.72.0.1")
	liveBaseCapture = netip.MustParseAddr("127.73.0.1")
	liveBaseCancel  = netip.MustParseAddr("127.74.0.1")
	liveBaseLead    = netip.MustParseAddr("127.75.0.1")
)

func TestLoopSlot(t *testing.T) {
	for _, c := range []struct {
		base string
		n    int
		want string
	}{
		{"127.0.0.1", 0, "127.0.0.1"},
		{"127.0.0.1", 8, "127.0.0.9"},
		{"127.0.0.1", 253, "127.0.0.254"},
		{"127.0.0.1", 254, "127.0.1.1"},
		{"127.0.0.1", 254 * 3, "127.0.3.1"},
		{"127.0.0.0", 0, "127.0.0.1"},
		{"127.0.0.255", 0, "127.0.1.1"},
		{"127.0.255.254", 1, "127.1.0.1"},
		{"127.255.255.254", 0, "127.255.255.254"},
	} {
		got, err := loopSlot(netip.MustParseAddr(c.base), c.n)
		if err != nil || got.String() != c.want {
			t.Errorf("loopSlot(%s, %d) = %v, %v; want %s", c.base, c.n, got, err, c.want)
		}
	}
	if a, err := loopSlot(netip.MustParseAddr("127.255.255.254"), 1); err == nil {
		t.Errorf("loopSlot past 127.255.255.254 gave %v", a)
	}
	for _, bad := range []string{"10.0.0.1", "::1", "128.0.0.1", "2001:db8::1"} {
		if err := (LiveOptions{To: netip.MustParseAddr(bad), Speed: 1}).Validate(); err == nil {
			t.Errorf("--to %s accepted", bad)
		}
	}
	for _, sp := range []float64{-1, 2e6} {
		if err := (LiveOptions{Speed: sp}).Validate(); err == nil {
			t.Errorf("--speed %v accepted", sp)
		}
	}
	if err := (LiveOptions{To: netip.MustParseAddr("::ffff:127.1.2.3"), Speed: 0}).Validate(); err != nil {
		t.Errorf("an IPv4-mapped loopback address: %v", err)
	}
}

// planned runs opts up to the end of the handshakes and returns the
// sessions (the schedule is not run).
func planned(t *testing.T, opts Options) []*session {
	t.Helper()
	var got []*session
	stop := errors.New("stop")
	_, _, err := run(opts, Writers{}, &liveHook{sessions: func(ss []*session, _ time.Time) error {
		got = ss
		return stop
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("run: %v", err)
	}
	return got
}

// TestLiveMap: every underlay address a session uses gets its own
// loopback address, in the slot of its device and family, the same for
// the same options; LiveInfo maps both ways.
func TestLiveMap(t *testing.T) {
	opts := Options{Scenario: "alert-teardown", Seed: 5, Edges: 6, TLSFraction: 0.4, IPv6Fraction: 0.4, NoBackground: true}
	ss := planned(t, opts)
	ndev := 4 + opts.Edges
	m, list, err := liveMap(ss, ndev, liveBaseMap)
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := liveMap(planned(t, opts), ndev, liveBaseMap)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]netip.Addr{}
	v6 := 0
	for _, s := range ss {
		for side, ap := range []netip.AddrPort{s.cAddr, s.sAddr} {
			d := s.dev(side)
			l, ok := m[ap.Addr()]
			if !ok {
				t.Fatalf("%s (%s) is not mapped", ap, d.name)
			}
			if m2[ap.Addr()] != l {
				t.Errorf("%s: %v, then %v for the same options", ap, l, m2[ap.Addr()])
			}
			if prev, ok := seen[l]; ok && prev != ap.Addr() {
				t.Errorf("%s and %s both map to %s", prev, ap.Addr(), l)
			}
			seen[l] = ap.Addr()
			b := l.As4()
			if !l.Is4() || b[0] != 127 || b[3] == 0 || b[3] == 255 {
				t.Errorf("%s maps to %s", ap, l)
			}
			slot := 2 * d.idx
			if ap.Addr().Is6() {
				slot++
				v6++
			}
			if want, _ := loopSlot(liveBaseMap, slot); want != l {
				t.Errorf("%s of %s (device %d) maps to %s, want slot %d = %s", ap, d.name, d.idx, l, slot, want)
			}
		}
	}
	if v6 == 0 {
		t.Fatal("no IPv6 session to map")
	}
	if len(list) != len(m) {
		t.Errorf("%d listed addresses, %d mapped", len(list), len(m))
	}
	li := &LiveInfo{Addresses: list}
	for v, l := range m {
		ap := netip.AddrPortFrom(v, 12446)
		got, ok := li.Live(ap)
		if !ok || got != netip.AddrPortFrom(l, 12446) {
			t.Errorf("Live(%s) = %v, %v", ap, got, ok)
		}
		if back, ok := li.Virtual(got); !ok || back != ap {
			t.Errorf("Virtual(%s) = %v, %v; want %s", got, back, ok, ap)
		}
	}
	if _, ok := li.Virtual(netip.MustParseAddrPort("127.0.0.1:1")); ok {
		t.Error("Virtual maps an address the run did not use")
	}
	// the controllers' slots: vManage 0, vBond 2, vSmart 1 4, vSmart 2 6
	want := map[string]string{"vmanage": "127.71.0.1", "vbond": "127.71.0.3", "vsmart1": "127.71.0.5", "vsmart2": "127.71.0.7"}
	for _, a := range list {
		if w, ok := want[a.Device]; ok && a.Virtual.Is4() && a.Live.String() != w {
			t.Errorf("%s %s maps to %s, want %s", a.Device, a.Virtual, a.Live, w)
		}
	}
	// a fabric that does not fit above the base
	if _, _, err := liveMap(ss, ndev, netip.MustParseAddr("127.255.255.250")); err == nil {
		t.Error("a map past 127.255.255.254 was made")
	}
}

// orderLog records, in order, the key log writes and the first packet of
// each session.
type orderLog struct {
	mu     sync.Mutex
	events []string
	keys   bytes.Buffer
}

func (l *orderLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		l.events = append(l.events, "key "+strings.Fields(line)[1])
	}
	return l.keys.Write(b)
}

// TestLiveSockets runs a short scenario over loopback sockets at 100
// times real time: every session's key lines are written before its first
// packet (and only those of the sessions in the key log), what was sent
// arrives at the replay's sockets, and the manifest is Run's.
func TestLiveSockets(t *testing.T) {
	opts := Options{Scenario: "missing-keys", Seed: 3, Edges: 4, TLSFraction: 0.5, IPv6Fraction: 0.25, Impair: 0.05, Duration: 35 * time.Second}
	var offKeys bytes.Buffer
	var ol orderLog
	firstPkt := map[int]LivePacket{}
	var sends []LivePacket
	var onSentCalls int
	var sentInfo LiveInfo
	lo := LiveOptions{To: liveBaseSockets, Speed: 100, KeyLog: &ol,
		OnSend: func(p LivePacket) {
			sends = append(sends, p)
			if _, ok := firstPkt[p.Session]; !ok {
				firstPkt[p.Session] = p
				ol.mu.Lock()
				ol.events = append(ol.events, fmt.Sprintf("first %d", p.Session))
				ol.mu.Unlock()
			}
		},
		OnSent: func(m *manifest.Manifest, info *LiveInfo) error {
			onSentCalls++
			sentInfo = *info
			return nil
		}}
	began := time.Now()
	m, info, err := RunLive(context.Background(), opts, lo, Writers{Keys: &offKeys})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("%d actions in %v (%v sending); stats %+v", len(sends), took.Round(time.Millisecond), info.Stats.Elapsed.Round(time.Millisecond), info.Stats)
	if onSentCalls != 1 || sentInfo.Stats.Packets != info.Stats.Packets {
		t.Errorf("OnSent called %d times with %d packets", onSentCalls, sentInfo.Stats.Packets)
	}

	// the manifest is Run's, byte for byte
	want, _ := runPlain(t, opts)
	got, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("RunLive's manifest differs from Run's for the same options")
	}

	// key lines: before each session's first packet, in one block per
	// session; the sessions left out of the key log are left out
	crOf := map[string]int{} // key line event -> session
	offLines := strings.Split(strings.TrimSpace(offKeys.String()), "\n")
	liveLines := strings.Split(strings.TrimSpace(ol.keys.String()), "\n")
	if len(offLines) != len(liveLines) {
		t.Errorf("the live key log has %d lines, the offline one %d", len(liveLines), len(offLines))
	}
	offSet := map[string]bool{}
	for _, l := range offLines {
		offSet[l] = true
	}
	for _, l := range liveLines {
		if !offSet[l] {
			t.Errorf("live key line %q is not in the offline key log", l)
		}
	}
	left := 0
	for _, s := range m.Sessions {
		if !s.KeyInLog {
			left++
		}
	}
	if left == 0 {
		t.Fatal("missing-keys left no session out of the key log")
	}
	// which session each key line belongs to: the block written just
	// before a session's first packet
	for i, e := range ol.events {
		if !strings.HasPrefix(e, "key ") {
			continue
		}
		j := i
		for j < len(ol.events) && strings.HasPrefix(ol.events[j], "key ") {
			j++
		}
		if j == len(ol.events) {
			t.Fatalf("key line %d is not followed by a first packet", i)
		}
		var sess int
		fmt.Sscanf(ol.events[j], "first %d", &sess)
		crOf[e] = sess
	}
	keyed := map[int]bool{}
	for _, sess := range crOf {
		keyed[sess] = true
		if !m.Sessions[sess].KeyInLog {
			t.Errorf("session %d is left out of the key log, yet its key was written", sess)
		}
	}
	for sess := range firstPkt {
		if m.Sessions[sess].KeyInLog && !keyed[sess] {
			t.Errorf("session %d sent packets with no key line before its first", sess)
		}
	}
	if info.Stats.KeyedSessions != len(keyed) || len(keyed) < len(m.Sessions)-left-2 {
		t.Errorf("%d sessions keyed (stats %d) of %d (%d left out)", len(keyed), info.Stats.KeyedSessions, len(m.Sessions), left)
	}

	// the first action of a TLS session is its connect, of a DTLS session
	// a client datagram (the ClientHello); the addresses are the mapped ones
	for sess, p := range firstPkt {
		s := info.Sessions[sess]
		wantOp := "datagram"
		if s.Transport == "tls" {
			wantOp = "connect"
		}
		if p.Op != wantOp || !p.FromClient || p.Src != s.LiveClient || p.Dst != s.LiveServer {
			t.Errorf("session %d (%s): first action %+v", sess, s.Transport, p)
		}
		if v, ok := info.Virtual(p.Src); !ok || v != s.Client {
			t.Errorf("session %d: %s maps back to %v, want %s", sess, p.Src, v, s.Client)
		}
	}

	// pace: in capture order, each sent no earlier than due
	for i, p := range sends {
		if i > 0 && p.Virtual.Before(sends[i-1].Virtual) {
			t.Fatalf("action %d (%v) sent after one of capture time %v", i, p.Virtual, sends[i-1].Virtual)
		}
		due := info.RealTime(p.Virtual)
		if p.Sent.Before(due.Add(-time.Millisecond)) {
			t.Fatalf("action %d sent %v before it was due", i, due.Sub(p.Sent))
		}
	}
	virt := sends[len(sends)-1].Virtual.Sub(sends[0].Virtual)
	if el := info.Stats.Elapsed; el < virt/100-5*time.Millisecond {
		t.Errorf("%v of capture sent in %v at speed 100", virt, el)
	}

	st := info.Stats
	if st.Datagrams == 0 || st.StreamWrites == 0 || st.Connections == 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.RecvStream != st.StreamBytes {
		t.Errorf("%d stream bytes sent, %d received", st.StreamBytes, st.RecvStream)
	}
	if st.RecvDatagrams != int64(st.Datagrams) || st.RecvDgramBytes != st.DatagramBytes {
		t.Errorf("%d datagrams (%d bytes) sent, %d (%d bytes) received", st.Datagrams, st.DatagramBytes, st.RecvDatagrams, st.RecvDgramBytes)
	}
	if st.Datagrams+st.StreamWrites != st.Packets {
		t.Errorf("packets %d", st.Packets)
	}
}

// timedKeys records when each key line was written.
type timedKeys struct {
	mu sync.Mutex
	at map[string]time.Time // client random -> written
}

func (k *timedKeys) Write(b []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k.at[strings.Fields(line)[1]] = time.Now()
	}
	return len(b), nil
}

// TestLiveKeyLead: with a key lead, each session's key lines are written
// that long before its first packet (give or take the scheduler), and
// the run's first packet waits for the lead.
func TestLiveKeyLead(t *testing.T) {
	opts := Options{Scenario: "baseline", Seed: 6, Edges: 2, TLSFraction: 0.5, NoIPv6: true, NoImpair: true}
	const lead = 300 * time.Millisecond
	kl := &timedKeys{at: map[string]time.Time{}}
	first := map[int]time.Time{}
	began := time.Now()
	var wrote []string
	var prog lockedBuffer
	_, info, err := RunLive(context.Background(), opts, LiveOptions{To: liveBaseLead, Speed: 30, KeyLead: lead, KeyLog: kl, Progress: &prog,
		OnSend: func(p LivePacket) {
			if _, ok := first[p.Session]; !ok {
				first[p.Session] = p.Sent
			}
		}}, Writers{Keys: writerFunc(func(b []byte) { wrote = append(wrote, string(b)) })})
	if err != nil {
		t.Fatal(err)
	}
	if p := prog.String(); !strings.Contains(p, "ompscope synth --live baseline: ") {
		t.Errorf("no progress line: %q", p)
	}
	if d := info.RealStart.Sub(began); d < lead {
		t.Errorf("the first packet was due %v after the start, before the lead of %v", d, lead)
	}
	// which session a client random belongs to: the offline key log is in
	// session order, a block of lines per session
	if len(first) != len(info.Sessions) {
		t.Fatalf("%d sessions sent packets, of %d", len(first), len(info.Sessions))
	}
	if len(kl.at) != len(info.Sessions) || info.Stats.KeyedSessions != len(info.Sessions) {
		t.Fatalf("%d key lines, %d sessions keyed, of %d", len(kl.at), info.Stats.KeyedSessions, len(info.Sessions))
	}
	sessOf := sessionsOfKeys(t, strings.Join(wrote, ""), len(info.Sessions))
	for cr, at := range kl.at {
		sess, ok := sessOf[cr]
		if !ok {
			t.Fatalf("key %s is not in the offline key log", cr)
		}
		gap := first[sess].Sub(at)
		if gap < lead/2 {
			t.Errorf("session %d: key written %v before its first packet, want about %v", sess, gap, lead)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) {
	f(append([]byte(nil), b...))
	return len(b), nil
}

// sessionsOfKeys maps each client random of an offline key log (every
// session keyed, a TLS or DTLS session one CLIENT_RANDOM line each) to its
// session index.
func sessionsOfKeys(t *testing.T, keylog string, n int) map[string]int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(keylog), "\n")
	if len(lines) != n {
		t.Fatalf("%d offline key lines for %d sessions", len(lines), n)
	}
	m := map[string]int{}
	for i, l := range lines {
		m[strings.Fields(l)[1]] = i
	}
	return m
}

// TestLiveCancel: a cancelled context ends the replay early with its
// error, and every socket is closed (the addresses can be bound again).
func TestLiveCancel(t *testing.T) {
	opts := Options{Scenario: "baseline", Seed: 2, Edges: 2, TLSFraction: 0.5, NoIPv6: true}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	lo := LiveOptions{To: liveBaseCancel, Speed: 1, OnSend: func(LivePacket) {
		if n++; n == 20 {
			cancel()
		}
	}}
	before := runtime.NumGoroutine()
	began := time.Now()
	_, _, err := RunLive(ctx, opts, lo, Writers{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("cancelling took %v", d)
	}
	if n < 20 || n > 21 {
		t.Errorf("%d actions sent, want the 20 before the cancel", n)
	}
	// the same run again binds the same addresses: the first one closed them
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	n = 0
	lo.OnSend = func(LivePacket) {
		if n++; n == 5 {
			cancel2()
		}
	}
	if _, _, err := RunLive(ctx2, opts, lo, Writers{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("second run: %v", err)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before+2; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Errorf("%d goroutines before, %d after", before, g)
	}
}

// TestLiveCapture captures what a live run sends on lo (root or
// CAP_NET_RAW), decrypts it with ompscope's own dissector and the key log
// written as the run went, and checks that the decrypted messages are
// those of the offline capture: the manifest's plaintext hash.
func TestLiveCapture(t *testing.T) {
	flt, err := filter.Parse("(udp or tcp) and net 127.73.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	src, err := live.Open("lo", live.Options{Filter: flt, Timeout: 100 * time.Millisecond})
	var perm *live.PermissionError
	if errors.As(err, &perm) || errors.Is(err, live.ErrUnsupported) {
		t.Skipf("cannot capture on lo: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	type pkt struct {
		p    capture.Packet
		data []byte
	}
	var pkts []pkt
	capDone := make(chan error, 1)
	go func() {
		var p capture.Packet
		for {
			err := src.Next(&p)
			switch {
			case err == nil:
				q := p
				q.Data = append([]byte(nil), p.Data...)
				pkts = append(pkts, pkt{q, q.Data})
			case errors.Is(err, live.ErrTimeout):
			case errors.Is(err, io.EOF):
				capDone <- nil
				return
			default:
				capDone <- err
				return
			}
		}
	}()
	opts := Options{Scenario: "alert-teardown", Seed: 8, Edges: 4, TLSFraction: 0.5, IPv6Fraction: 0.25, Impair: 0.05, Duration: 36 * time.Second}
	var keylog bytes.Buffer
	m, info, err := RunLive(context.Background(), opts, LiveOptions{To: liveBaseCapture, Speed: 100, KeyLog: &keylog}, Writers{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	src.Stop()
	if err := <-capDone; err != nil {
		t.Fatal(err)
	}
	st, _ := src.Stats()
	if st.KernelDropped > 0 {
		t.Fatalf("the kernel dropped %d packets of the capture", st.KernelDropped)
	}
	ks := tlsdec.NewKeyStore()
	if n, errs := ks.LoadKeyLog(bytes.NewReader(keylog.Bytes()), "live"); n == 0 || len(errs) > 0 {
		t.Fatalf("key log: %d keys, %v", n, errs)
	}
	h := sha256.New()
	n := 0
	var byTransport = map[string]int{}
	d := dissect.New(dissect.Config{Keys: ks}, func(ev *dissect.Event) {
		if !ev.Decrypted {
			return
		}
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(ev.Plaintext)))
		h.Write(l[:])
		h.Write(ev.Plaintext)
		n++
		byTransport[ev.Session.Transport]++
	})
	for i := range pkts {
		d.Packet(&pkts[i].p)
	}
	d.Finish()
	sum := hex.EncodeToString(h.Sum(nil))
	t.Logf("%d packets captured, %d records decrypted (%v); %d sessions; stats %+v", len(pkts), n, byTransport, len(m.Sessions), info.Stats)
	if n != m.DecryptableRecords || sum != m.Params["plaintext_sha256"] {
		t.Errorf("decrypted %d records hashing to %s; the manifest has %d, %s", n, sum, m.DecryptableRecords, m.Params["plaintext_sha256"])
	}
	if byTransport["tls"] == 0 || byTransport["dtls"] == 0 {
		t.Errorf("records by transport: %v", byTransport)
	}
	sessions, _ := d.Sessions()
	for _, s := range sessions {
		if _, ok := info.Virtual(s.Client); !ok {
			t.Errorf("session %s > %s: the client is not a mapped address", s.Client, s.Server)
		}
	}
}
