package synth

import (
	"bytes"
	"container/heap"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// Writers receive what a run makes. Any of the three may be nil.
type Writers struct {
	PcapNG io.Writer // pcapng with the keys in a Decryption Secrets Block
	Pcap   io.Writer // classic pcap (nanosecond timestamps)
	Keys   io.Writer // NSS key log
	// OnRecord, when not nil, is told about every application record as
	// it is written (tests compare this with what tshark decrypts).
	OnRecord func(RecordLog)
}

// Stats are figures of a run that are not part of the manifest (they
// depend on the real-time behaviour of the handshakes).
type Stats struct {
	Sessions        int
	Frames          int
	Bytes           int64
	Records         int
	Retransmissions int // DTLS handshake flights sent again
	StrayWrites     int // writes pion made on its own after the handshake, other than flight retransmissions (dropped; expected 0)
	LateFlights     int // handshake flights pion's wall-clock timer sent again after the handshake (dropped; depends on the machine's load)
	HandshakeTime   time.Duration
	Total           time.Duration
}

// Run simulates the scenario of opts and writes the capture, the key log
// and returns the manifest.
func Run(opts Options, w Writers) (*manifest.Manifest, Stats, error) {
	return run(opts, w, nil)
}

// liveHook is what a live replay (RunLive) takes from a run: the planned
// sessions once their handshakes are done (before any packet), then every
// transport-level action in capture order.
type liveHook struct {
	sessions func(ss []*session, epoch time.Time) error
	tap      func(livePkt) error
}

func run(opts Options, w Writers, lv *liveHook) (*manifest.Manifest, Stats, error) {
	began := time.Now()
	var st Stats
	c, err := opts.resolve()
	if err != nil {
		return nil, st, err
	}
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0x6f6d7073636f7065))
	epoch := Epoch.Add(time.Duration(rng.IntN(86400)) * time.Second)
	f, err := buildFabric(c, rng)
	if err != nil {
		return nil, st, err
	}
	sm := &sim{c: c, rng: rng, f: f, attrs: attrTable{m: map[string]*attrSet{}}, vst: map[int]*vstate{}, epoch: epoch,
		end: vtDur(c.Duration), params: map[string]any{}, groups: map[int][]group{}, bootAt: map[int]vt{}}
	sm.phase.Store("planning")
	sm.hubSpoke = c.sc.Name == "scale"
	sm.regions = map[int][]*device{}
	for _, e := range f.edges {
		sm.regions[e.region] = append(sm.regions[e.region], e)
	}
	for _, v := range f.vsmarts {
		sm.vst[v.idx] = &vstate{dev: v, learned: map[int]*learnSt{}, kickAt: -1, dirty: map[int]bool{}}
	}
	var stop chan struct{}
	if c.Progress != nil {
		stop = make(chan struct{})
		defer close(stop)
		go sm.progress(c.Progress, stop)
	}
	sm.params["detectors"] = detectorAssumptions
	if c.sc.prepare != nil {
		if err := c.sc.prepare(sm); err != nil {
			return nil, st, err
		}
	}
	f.nroutes = 0
	for _, e := range f.edges {
		f.nroutes += e.routePaths()
	}
	sm.planBase()
	if c.sc.build != nil {
		if err := c.sc.build(sm); err != nil {
			return nil, st, err
		}
	}
	sm.phase.Store("handshakes")
	hsStart := time.Now()
	if err := sm.handshakeAll(); err != nil {
		return nil, st, err
	}
	st.HandshakeTime = time.Since(hsStart)
	defer sm.closeAll()

	// key log: the sessions in order, minus those the scenario leaves out
	var keylog strings.Builder
	for _, s := range sm.sessions {
		if !s.keyInLog {
			continue
		}
		for _, l := range s.keyLines() {
			keylog.WriteString(l)
			keylog.WriteByte('\n')
		}
	}
	if w.Keys != nil {
		if _, err := io.WriteString(w.Keys, keylog.String()); err != nil {
			return nil, st, err
		}
	}
	sm.out = newOutput(c, epoch, w.PcapNG, w.Pcap)
	sm.out.onRecord = w.OnRecord
	if lv != nil {
		if err := lv.sessions(sm.sessions, epoch); err != nil {
			return nil, st, err
		}
		sm.out.tap = lv.tap
	}
	if err := sm.out.writeHeaders([]byte(keylog.String())); err != nil {
		return nil, st, err
	}
	if c.Background > 0 {
		sm.background(sm.jitter(vtSec))
	}
	sm.phase.Store("simulating")
	n := 0
	for len(sm.ev) > 0 && sm.ev[0].t <= sm.end {
		e := heap.Pop(&sm.ev).(*event)
		sm.now = e.t
		if err := sm.out.flush(e.t); err != nil {
			return nil, st, err
		}
		e.fn()
		if n++; n&1023 == 0 {
			sm.progNow.Store(int64(sm.now))
			sm.progFrames.Store(int64(sm.out.frames))
			sm.progRecords.Store(int64(sm.out.records))
		}
	}
	sm.now = sm.end
	for _, s := range sm.sessions {
		sm.releaseHeld(s)
	}
	sm.phase.Store("writing")
	if err := sm.out.close(); err != nil {
		return nil, st, err
	}
	m, err := sm.manifest()
	if err != nil {
		return nil, st, err
	}
	st.Sessions = len(sm.sessions)
	st.Frames, st.Bytes, st.Records = sm.out.frames, sm.out.bytes, sm.out.records
	for _, s := range sm.sessions {
		st.Retransmissions += s.retrans
	}
	st.StrayWrites, st.LateFlights = sm.strays()
	st.Total = time.Since(began)
	return m, st, nil
}

// WriteFiles runs the scenario and writes DIR/NAME.pcapng, DIR/NAME.pcap,
// DIR/NAME.keys and DIR/NAME.manifest.json. It returns the manifest.
func WriteFiles(opts Options, dir string) (*manifest.Manifest, Stats, error) {
	if _, ok := FindScenario(opts.Scenario); !ok {
		return nil, Stats{}, fmt.Errorf("unknown scenario %q (try --list)", opts.Scenario)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, Stats{}, err
	}
	base := filepath.Join(dir, opts.Scenario)
	var files []*os.File
	create := func(ext string) (*os.File, error) {
		fh, err := os.Create(base + ext)
		if err == nil {
			files = append(files, fh)
		}
		return fh, err
	}
	cleanup := func() {
		for _, fh := range files {
			fh.Close()
			os.Remove(fh.Name())
		}
	}
	ng, err := create(".pcapng")
	if err != nil {
		return nil, Stats{}, err
	}
	pc, err := create(".pcap")
	if err != nil {
		cleanup()
		return nil, Stats{}, err
	}
	keys, err := create(".keys")
	if err != nil {
		cleanup()
		return nil, Stats{}, err
	}
	m, st, err := Run(opts, Writers{PcapNG: ng, Pcap: pc, Keys: keys})
	if err != nil {
		cleanup()
		return nil, st, err
	}
	for _, fh := range files {
		if err := fh.Close(); err != nil {
			cleanup()
			return nil, st, err
		}
	}
	b, err := MarshalManifest(m)
	if err != nil {
		return nil, st, err
	}
	if err := os.WriteFile(base+".manifest.json", b, 0o644); err != nil {
		return nil, st, err
	}
	return m, st, nil
}

// MarshalManifest is the manifest file's encoding: JSON indented by two
// spaces, except that an object or array holding no object or array is
// written on one line (so a table entry is one line), and a final newline.
func MarshalManifest(m *manifest.Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return append(indentNested(bytes.TrimSpace(buf.Bytes())), '\n'), nil
}

// indentNested indents compact JSON, keeping flat objects and arrays on
// one line.
func indentNested(b []byte) []byte {
	// flat[i] is true for an opening bracket at i whose value contains no
	// nested object or array.
	flat := map[int]bool{}
	var stack []int
	inStr, esc := false, false
	for i, ch := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case ch == '\\':
				esc = true
			case ch == '"':
				inStr = false
			}
			continue
		}
		switch ch {
		case '"':
			inStr = true
		case '{', '[':
			if len(stack) > 0 {
				flat[stack[len(stack)-1]] = false
			}
			stack = append(stack, i)
			flat[i] = true
		case '}', ']':
			stack = stack[:len(stack)-1]
		}
	}
	var out []byte
	depth := 0
	nl := func() {
		out = append(out, '\n')
		for k := 0; k < depth; k++ {
			out = append(out, ' ', ' ')
		}
	}
	inStr, esc = false, false
	flatDepth := 0 // > 0 while inside a flat value
	for i, ch := range b {
		if inStr {
			out = append(out, ch)
			switch {
			case esc:
				esc = false
			case ch == '\\':
				esc = true
			case ch == '"':
				inStr = false
			}
			continue
		}
		switch ch {
		case '"':
			inStr = true
			out = append(out, ch)
		case '{', '[':
			out = append(out, ch)
			if flatDepth > 0 || flat[i] {
				flatDepth++
				continue
			}
			depth++
			if i+1 < len(b) && b[i+1] != '}' && b[i+1] != ']' {
				nl()
			}
		case '}', ']':
			if flatDepth > 0 {
				flatDepth--
				out = append(out, ch)
				continue
			}
			depth--
			if i > 0 && b[i-1] != '{' && b[i-1] != '[' {
				nl()
			}
			out = append(out, ch)
		case ',':
			out = append(out, ch)
			if flatDepth > 0 {
				out = append(out, ' ')
			} else {
				nl()
			}
		case ':':
			out = append(out, ':', ' ')
		default:
			out = append(out, ch)
		}
	}
	return out
}

// ts is the capture time of virtual time t, to the microsecond as the
// frames carry it.
func (sm *sim) ts(t vt) time.Time { return sm.epoch.Add(time.Duration(t / vtUS * vtUS)) }

// manifest builds the ground truth of the run.
func (sm *sim) manifest() (*manifest.Manifest, error) {
	c := sm.c
	for _, fn := range sm.atEnd {
		fn()
	}
	m := &manifest.Manifest{Schema: manifest.SchemaVersion, Scenario: c.sc.Name, Seed: c.Seed,
		Start: sm.ts(sm.out.first), End: sm.ts(sm.out.last), Params: c.params(),
		Records: sm.out.records, DecryptableRecords: sm.out.decryptable}
	if sm.out.first < 0 {
		return nil, fmt.Errorf("synth: the capture is empty")
	}
	for k, v := range sm.params {
		m.Params[k] = v
	}
	m.Params["plaintext_sha256"] = hex.EncodeToString(sm.out.hash.Sum(nil))
	m.Params["route_paths"] = sm.f.nroutes
	m.Params["lost_hello_datagrams"] = sm.out.lostHellos
	m.Params["duplicated_datagrams"] = sm.out.dups
	m.Params["reordered_datagrams"] = sm.out.reordered
	m.Params["fragmented_datagrams"] = sm.out.fragmented
	m.Params["start_epoch"] = sm.epoch.Format(time.RFC3339)
	if sm.out.clear > 0 {
		m.Params["clear_messages"] = sm.out.clear
	}
	for _, s := range sm.sessions {
		if s.suite.PSK {
			m.Params["psk_session"] = map[string]any{"session": s.id, "identity": s.pskIdentity, "key": hex.EncodeToString(s.psk),
				"suite": s.suite.Name, "note": "the key log holds this session's CLIENT_RANDOM too; without it, give the key to tshark with -o dtls.psk:KEY"}
		}
	}
	for _, d := range sm.f.devs {
		md := manifest.Device{Name: d.name, Type: d.typ.String(), SiteID: d.siteID}
		if d.sysIP.IsValid() {
			md.SystemIP = d.sysIP.String()
		}
		if d.addr4.IsValid() {
			md.Addrs = []string{d.addr4.String(), d.addr6.String()}
		}
		seen := map[string]bool{}
		for _, t := range d.tlocs {
			for _, ap := range []netip.AddrPort{t.priv, t.pub} {
				if s := ap.Addr().String(); !seen[s] {
					seen[s] = true
					md.Addrs = append(md.Addrs, s)
				}
			}
		}
		m.Devices = append(m.Devices, md)
	}
	for _, s := range sm.sessions {
		m.Sessions = append(m.Sessions, manifest.Session{Client: s.cAddr.String(), Server: s.sAddr.String(),
			Transport: s.transport, Suite: s.suite.Name, EMS: s.ems, ClientSystemIP: s.client.sysIP.String(),
			ServerSystemIP: s.server.sysIP.String(), Kind: s.kind, KeyInLog: s.keyInLog, PSK: s.suite.PSK})
	}
	m.Anomalies = []manifest.Anomaly{}
	for _, fn := range sm.anoms {
		m.Anomalies = append(m.Anomalies, fn()...)
	}
	sort.SliceStable(m.Anomalies, func(i, j int) bool {
		a, b := m.Anomalies[i], m.Anomalies[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Subject < b.Subject
	})
	m.FinalTables = []manifest.Table{}
	for _, s := range sm.sessions {
		if !s.ompUp() {
			continue
		}
		for side := 0; side < 2; side++ {
			m.FinalTables = append(m.FinalTables, tableOf(s, side))
		}
	}
	return m, nil
}

// strays counts the writes pion made on its own after the handshakes:
// anything but a flight retransmission, and flight retransmissions.
func (sm *sim) strays() (stray, late int) {
	for _, s := range sm.sessions {
		if s.wire != nil {
			s.wire.mu.Lock()
			stray += s.wire.stray
			late += s.wire.lateFlight
			s.wire.mu.Unlock()
		}
	}
	return stray, late
}

func tlocString(k omp.TLOCKey) string { return k.String() }

// tableOf is the manifest table of one session direction.
func tableOf(s *session, side int) manifest.Table {
	r := s.omp.rib[side]
	t := manifest.Table{From: s.dev(side).sysIP.String(), To: s.dev(1 - side).sysIP.String(),
		Routes: []manifest.Route{}, TLOCs: []manifest.TLOC{}, Services: []manifest.Service{}}
	t.RouteCount = r.counts[omp.FamilyRouteV4] + r.counts[omp.FamilyRouteV6]
	t.TLOCCount = r.counts[omp.FamilyTLOCv4] + r.counts[omp.FamilyTLOCv6]
	t.ServiceCount = r.counts[omp.FamilyService]
	if r.paths == nil {
		return t
	}
	keys := make([]ribKey, 0, len(r.paths))
	for k := range r.paths {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		a := r.paths[k]
		switch {
		case k.fam.IsRoute():
			rt := manifest.Route{VPN: k.n.VPN, Prefix: k.n.Prefix.String(), PathID: k.n.PathID,
				Originator: a.sum.originator.String(), TLOC: tlocString(a.sum.tloc), Preference: a.sum.pref, SiteID: a.sum.site}
			if a.sum.hasOrigin {
				rt.Origin = a.sum.origin.String()
			}
			t.Routes = append(t.Routes, rt)
		case k.fam.IsTLOC():
			t.TLOCs = append(t.TLOCs, manifest.TLOC{TLOC: tlocString(k.n.TLOC()), PathID: k.n.PathID,
				Originator: a.sum.originator.String(), Private: a.sum.priv.String(), Public: a.sum.pub.String(),
				Preference: a.sum.pref, Weight: a.sum.weight, SiteID: a.sum.site})
		case k.fam == omp.FamilyService:
			t.Services = append(t.Services, manifest.Service{VPN: k.n.VPN, Service: k.n.Service.String(), PathID: k.n.PathID,
				Originator: k.n.Originator.String(), TLOC: tlocString(a.sum.tloc)})
		}
	}
	return t
}
