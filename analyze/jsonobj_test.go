package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// The documented forms of peers, endpoints and devices as they were built
// before jobj (maps encoded by encoding/json): the reference the
// hand-written forms must equal byte for byte.

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// MarshalJSON gives the documented form of an endpoint.
func refEndpointJSON(e Endpoint) ([]byte, error) {
	j := map[string]any{
		"addr": e.Addr.String(), "system_ip": addrStr(e.SystemIP), "inferred": e.Inferred,
		"device_type": e.DeviceType.String(), "site_id": e.SiteID, "domain_id": e.DomainID,
		"handshake": e.Handshake,
	}
	if e.Handshake {
		j["hold_time"] = e.HoldTime
		j["graceful_restart"] = e.GR
		j["gr_timer"] = e.GRTimer
		j["send_path_limit"] = e.SendPathLimit
		if e.Organization != "" {
			j["organization"] = e.Organization
		}
		if e.Software != "" {
			j["software"] = e.Software
		}
	}
	if e.UUID != "" {
		j["uuid"] = e.UUID
	}
	if e.Color != 0 {
		j["color"] = e.Color.String()
	}
	if e.HelloInterval > 0 {
		j["hello_interval_ms"] = e.HelloInterval.Milliseconds()
		j["hello_tolerance_ms"] = e.HelloTolerance.Milliseconds()
	}
	j["last_heard"] = ts(e.LastHeard)
	if c := e.Certificate; c != nil {
		cj := map[string]any{"frame": c.Frame}
		switch {
		case c.Empty:
			cj["empty"] = true
		case c.ParseError != "":
			cj["parse_error"], cj["sha256"] = c.ParseError, c.SHA256
		default:
			cj["subject"], cj["issuer"], cj["sha256"] = c.Subject, c.Issuer, c.SHA256
			cj["self_signed"], cj["subject_empty"] = c.SelfSigned, c.SubjectEmpty
		}
		j["certificate"] = cj
	}
	return marshal(j)
}

// MarshalJSON gives the documented form of a peer.
func refPeerJSON(p Peer) ([]byte, error) {
	type tj struct {
		From     string `json:"from"`
		To       string `json:"to"`
		Routes   int    `json:"route_count"`
		TLOCs    int    `json:"tloc_count"`
		Services int    `json:"service_count"`
		Stale    int    `json:"stale"`
		GR       bool   `json:"graceful_restart"`
		Complete bool   `json:"complete"`
	}
	tabs := make([]tj, len(p.Tables))
	for i, t := range p.Tables {
		tabs[i] = tj(t)
	}
	j := map[string]any{
		"session": p.Session, "client": json.RawMessage(must(refEndpointJSON(p.Client))), "server": json.RawMessage(must(refEndpointJSON(p.Server))), "transport": p.Transport,
		"suite": p.Suite, "tls_version": p.Version, "key_source": p.KeySource, "null_cipher": p.NullCipher,
		"control_state": p.Control, "omp_state": p.OMP, "start": ts(p.Start), "last": ts(p.Last),
		"hold_time_s": p.HoldTime.Seconds(), "hold_known": p.HoldKnown, "graceful_restart": p.GR,
		"gr_timer_s": p.GRTimer.Seconds(), "send_path_limit": p.SendPathLimit,
		"observed_from_start": p.ObservedFromStart, "records": p.Records, "decode_errors": p.DecodeErrors,
		"gap_records": p.GapRecords, "omp_policies": p.Policies, "omp_other": p.OtherOMP, "raw_updates": p.RawUpdates,
		"tables": tabs,
	}
	if !p.Down.IsZero() {
		j["down"] = ts(p.Down)
		j["down_reason"] = p.DownReason
	}
	return marshal(j)
}

// MarshalJSON gives the documented form of a device of the fabric view.
func refDeviceViewJSON(d DeviceView) ([]byte, error) {
	peers := d.Peers
	if peers == nil {
		peers = []string{}
	}
	return marshal(map[string]any{"system_ip": d.SystemIP.String(), "device_type": d.DeviceType.String(),
		"site_id": d.SiteID, "peer_system_ips": peers, "received": d.Received, "advertised": d.Advertised})
}

// SummaryJSON is the JSON summary (`analyze -T json`): everything the text
// summary shows, complete (no --top), with f applied as in the text.

// randString gives strings that exercise the escaping: control
// characters, quotes, backslashes, HTML characters (not escaped),
// U+2028, invalid UTF-8, and plain text.
func randString(r *rand.Rand) string {
	parts := []string{"", "vsmart-1", "CN=vedge,O=Acme", "a\"b", `c\d`, "<&>", "\u2028\u2029", "\x00\x01\x1f\x7f", "\b\f",
		"\xff\xfe", "é€😀", "\t\n\r", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "dtls:10.0.0.1:12346>10.0.0.2:12346#1"}
	n := r.IntN(3)
	var b strings.Builder
	for range n {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

func randAddr(r *rand.Rand) netip.Addr {
	switch r.IntN(4) {
	case 0:
		return netip.Addr{}
	case 1:
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(r.IntN(256))})
	default:
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, 0).UTC()
	default:
		return time.Unix(1767225600+r.Int64N(1e6), r.Int64N(1e9)).UTC()
	}
}

func randDuration(r *rand.Rand) time.Duration {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return time.Duration(r.Int64N(1000)) // ns: e-07 and the like
	case 2:
		return time.Duration(r.Int64N(1e12))
	case 3:
		return -time.Duration(r.Int64N(1e10))
	default:
		return time.Duration(r.Int64N(100)) * time.Second
	}
}

func randEndpoint(r *rand.Rand) Endpoint {
	e := Endpoint{SystemIP: randAddr(r), Inferred: r.IntN(2) == 0, DeviceType: sdwan.DeviceType(r.IntN(8)),
		SiteID: r.Uint32(), DomainID: uint32(r.IntN(3)), Handshake: r.IntN(2) == 0, HoldTime: uint16(r.Uint32()),
		GR: r.IntN(2) == 0, GRTimer: r.Uint32(), SendPathLimit: uint8(r.Uint32()), Organization: randString(r),
		Software: randString(r), UUID: randString(r), Color: sdwan.Color(r.IntN(24)), HelloInterval: randDuration(r),
		HelloTolerance: randDuration(r), LastHeard: randTime(r)}
	if a := randAddr(r); a.IsValid() || r.IntN(2) == 0 {
		e.Addr = netip.AddrPortFrom(a, uint16(r.Uint32()))
	}
	switch r.IntN(4) {
	case 1:
		e.Certificate = &Certificate{Frame: r.Uint64(), Empty: true}
	case 2:
		e.Certificate = &Certificate{Frame: uint64(r.IntN(100)), ParseError: randString(r), SHA256: randString(r)}
	case 3:
		e.Certificate = &Certificate{Frame: uint64(r.IntN(100)), Subject: randString(r), Issuer: randString(r),
			SHA256: randString(r), SelfSigned: r.IntN(2) == 0, SubjectEmpty: r.IntN(2) == 0}
	}
	return e
}

func randPeer(r *rand.Rand) Peer {
	p := Peer{Session: randString(r), Client: randEndpoint(r), Server: randEndpoint(r), Transport: randString(r),
		Suite: randString(r), Version: randString(r), KeySource: randString(r), NullCipher: r.IntN(2) == 0,
		Control: randString(r), OMP: randString(r), Start: randTime(r), Last: randTime(r), Down: randTime(r),
		DownReason: randString(r), HoldTime: randDuration(r), HoldKnown: r.IntN(2) == 0, GR: r.IntN(2) == 0,
		GRTimer: randDuration(r), SendPathLimit: r.IntN(20) - 2, ObservedFromStart: r.IntN(2) == 0,
		Records: r.IntN(1e6), DecodeErrors: r.IntN(3), GapRecords: r.IntN(3), Policies: r.IntN(3), OtherOMP: r.IntN(3),
		RawUpdates: r.IntN(3)}
	if r.IntN(3) > 0 {
		p.Tables = make([]TableSize, r.IntN(3))
		for i := range p.Tables {
			p.Tables[i] = TableSize{From: randString(r), To: randString(r), Routes: r.IntN(1e6) - 1, TLOCs: r.IntN(9),
				Services: r.IntN(9), Stale: r.IntN(9), GR: r.IntN(2) == 0, Complete: r.IntN(2) == 0}
		}
	}
	return p
}

func randDevice(r *rand.Rand) DeviceView {
	d := DeviceView{SystemIP: randAddr(r), DeviceType: sdwan.DeviceType(r.IntN(8)), SiteID: r.Uint32(),
		Received: Counts{r.IntN(1e6), r.IntN(9), r.IntN(9)}, Advertised: Counts{r.IntN(1e6), r.IntN(9), r.IntN(9)}}
	if r.IntN(3) > 0 {
		d.Peers = make([]string, r.IntN(3))
		for i := range d.Peers {
			d.Peers[i] = randString(r)
		}
	}
	return d
}

func TestEndpointJSONMatchesMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		e := randEndpoint(r)
		want := must(refEndpointJSON(e))
		got := must(e.MarshalJSON())
		if !bytes.Equal(got, want) {
			t.Fatalf("endpoint %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestPeerJSONMatchesMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var dw docWriter
	for i := range 20000 {
		p := randPeer(r)
		want := must(refPeerJSON(p))
		if got := p.appendJSON(nil, &dw); !bytes.Equal(got, want) {
			t.Fatalf("peer %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestDeviceViewJSONMatchesMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		d := randDevice(r)
		want := must(refDeviceViewJSON(d))
		if got := must(d.MarshalJSON()); !bytes.Equal(got, want) {
			t.Fatalf("device %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// encodeSummary is what the summary was written with before WriteJSON.
func encodeSummary(s *SummaryJSON) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// TestSummaryWriteJSONMatchesEncoder: random summaries (no, one or many
// peers, devices and anomalies; nil and empty lists; 300 peers, past the
// 48 KB at which WriteJSON hands its buffer on) written by WriteJSON are
// the bytes the encoder writes.
func TestSummaryWriteJSONMatchesEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 300 {
		s := &SummaryJSON{Schema: randString(r)}
		s.Capture.Start, s.Capture.End, s.Capture.Duration = randString(r), randString(r), randDuration(r).Seconds()
		s.Sessions.Total, s.Sessions.FromStart, s.Sessions.GapRecords = r.IntN(9), r.IntN(9), r.IntN(9)
		s.Sessions.MidWay, s.Sessions.PartlyUnreadable, s.Sessions.NeverReadable = r.IntN(9), r.IntN(9), r.IntN(9)
		n := []int{-1, 0, 1, 2, 300}[r.IntN(5)] // -1: nil
		if n >= 0 {
			s.Peers, s.Fabric, s.Anomalies = []Peer{}, []DeviceView{}, []Anomaly{}
		}
		for range n {
			s.Peers = append(s.Peers, randPeer(r))
			s.Fabric = append(s.Fabric, randDevice(r))
			s.Anomalies = append(s.Anomalies, Anomaly{ID: r.IntN(99), Kind: Kind(randString(r)), Subject: randString(r),
				Start: randTime(r), End: randTime(r), Raised: randTime(r), Explanation: randString(r),
				Evidence: []uint64{r.Uint64()}, EvidenceCount: r.IntN(9)})
		}
		if r.IntN(3) == 0 {
			s.Limits = &Limits{SaturatedVersions: r.IntN(3), NotDistributedUnnoted: r.IntN(3), MeshUntracked: r.IntN(3),
				SessionsRefused: r.IntN(3), DevicesUntracked: r.IntN(3), TableSessionsOmitted: r.IntN(3),
				StaleFlushesForgotten: r.IntN(3), GRSpansForgotten: r.IntN(3), PathsRefused: r.IntN(3)}
		}
		want := encodeSummary(s)
		var got bytes.Buffer
		if err := s.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("summary %d (%d peers): WriteJSON differs from the encoder at byte %d", i, n, firstDiff(got.Bytes(), want))
		}
	}
}

// TestSummaryWriteJSONSurfacesWriteErrors: a writer that fails makes
// WriteJSON fail, whichever of its writes fails: in the peers', the
// fabric's or the anomalies' list, or the last.
func TestSummaryWriteJSONSurfacesWriteErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	s := &SummaryJSON{Schema: "ompscope.summary/3"}
	for range 300 {
		s.Peers = append(s.Peers, randPeer(r))
		s.Fabric = append(s.Fabric, randDevice(r))
		s.Anomalies = append(s.Anomalies, Anomaly{ID: r.IntN(99), Kind: Kind(randString(r)), Subject: randString(r),
			Start: randTime(r), End: randTime(r), Raised: randTime(r), Explanation: strings.Repeat(randString(r), 20)})
	}
	var buf bytes.Buffer
	cw := &countWrites{w: &buf}
	if err := s.WriteJSON(cw); err != nil {
		t.Fatal(err)
	}
	peers := bytes.Index(buf.Bytes(), []byte(`"fabric":`))
	fabric := bytes.Index(buf.Bytes(), []byte(`"anomalies":`))
	// the writes that end in each part
	var in [3]int
	for _, end := range cw.ends {
		switch {
		case end < peers:
			in[0]++
		case end < fabric:
			in[1]++
		default:
			in[2]++
		}
	}
	if in[0] < 2 || in[1] < 1 || in[2] < 2 {
		t.Fatalf("writes in peers, fabric, anomalies and last: %v; make the summary bigger", in)
	}
	for after := range len(cw.ends) {
		// the one write that fails: WriteJSON returns its error and
		// writes no more
		w := &failOnce{n: after}
		if err := s.WriteJSON(w); !errors.Is(err, errTestWrite) || w.later != 0 {
			t.Fatalf("write %d of %d failing: %v, then %d more writes", after+1, len(cw.ends), err, w.later)
		}
	}
}

// failOnce fails its write n (from 0) and no other, counting the writes
// after it.
type failOnce struct{ n, later int }

func (w *failOnce) Write(p []byte) (int, error) {
	switch {
	case w.n == 0:
		w.n = -1
		return 0, errTestWrite
	case w.n < 0:
		w.later++
	default:
		w.n--
	}
	return len(p), nil
}

// countWrites records where in the document each write ends.
type countWrites struct {
	w    io.Writer
	n    int
	ends []int
}

func (c *countWrites) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	c.ends = append(c.ends, c.n)
	return n, err
}

var errTestWrite = &json.UnsupportedValueError{Str: "write refused"}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkSummaryJSON writes a summary of 2 000 peers (random, as the
// tests draw them) with WriteJSON and, for comparison, with the encoder
// and the maps the summary was written with before: bytes allocated and
// time per summary.
func BenchmarkSummaryJSON(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	s := &SummaryJSON{Schema: "ompscope.summary/3", Fabric: []DeviceView{}, Anomalies: []Anomaly{}}
	for range 2000 {
		s.Peers = append(s.Peers, randPeer(r))
		s.Fabric = append(s.Fabric, randDevice(r))
	}
	b.Run("WriteJSON", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := s.WriteJSON(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("maps", func(b *testing.B) {
		// the summary as before: each peer, endpoint and device a map
		// through encoding/json, the whole document in the encoder's buffer
		type old struct {
			Peers  []json.RawMessage `json:"peers"`
			Fabric []json.RawMessage `json:"fabric"`
		}
		b.ReportAllocs()
		for range b.N {
			var o old
			for i := range s.Peers {
				o.Peers = append(o.Peers, must(refPeerJSON(s.Peers[i])))
			}
			for i := range s.Fabric {
				o.Fabric = append(o.Fabric, must(refDeviceViewJSON(s.Fabric[i])))
			}
			enc := json.NewEncoder(io.Discard)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
