package main

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/relay"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// feeder connects the dissector's output to the analyzer: it is the
// dissect.Sink that turns records, decryption gaps, session ends and clock
// ticks into analyze inputs. It is the only place that knows both sides,
// so that analyze never sees packets or crypto.
type feeder struct {
	a     *analyze.Analyzer
	infos map[*tlsdec.Session]*feederSession
	plain map[string]*analyze.SessionInfo
	in    analyze.Input
	last  time.Time // the last capture time ticked
}

var _ dissect.InfoSink = (*feeder)(nil)

// SessionInfo feeds a session whose certificates arrived before any
// record.
func (f *feeder) SessionInfo(s *tlsdec.Session, t time.Time, frame uint64) {
	f.a.SessionSeen(f.info(s), t, frame)
}

// Tick moves the analyzer's clock.
func (f *feeder) Tick(t time.Time) {
	f.last = t
	f.a.Advance(t)
}

func newFeeder(a *analyze.Analyzer) *feeder {
	return &feeder{a: a, infos: map[*tlsdec.Session]*feederSession{}, plain: map[string]*analyze.SessionInfo{}}
}

// maxInfos bounds the feeder's map of sessions: past it the map starts
// over (a session seen again gets a new SessionInfo with the same ID, which
// the analyzer takes as the same session), so that a flood of handshakes
// cannot grow it without end.
const maxInfos = 1 << 16

// feederSession is what the feeder keeps of a session: its facts as a
// sensor would publish them, and the analyzer's view of them.
type feederSession struct {
	facts relay.SessionFacts
	info  analyze.SessionInfo
}

func (f *feeder) info(s *tlsdec.Session) *analyze.SessionInfo {
	en := f.infos[s]
	if en == nil {
		if len(f.infos) >= maxInfos {
			clear(f.infos)
		}
		en = &feederSession{}
		f.infos[s] = en
	}
	// facts learned late (suite, key source) are refreshed each time
	relay.FillFacts(&en.facts, s)
	setSessionInfo(&en.info, &en.facts)
	return &en.info
}

// setSessionInfo sets the analyzer's view of a session from its facts,
// read from the capture (feeder) or from a stream (relayFeeder) alike;
// certificates are converted once.
func setSessionInfo(si *analyze.SessionInfo, fa *relay.SessionFacts) {
	si.ID, si.Client, si.Server, si.Transport = fa.ID, fa.Client, fa.Server, fa.Transport
	si.Suite, si.Version, si.KeySource, si.NullCipher = fa.Suite, fa.Version, fa.KeySource, fa.NullCipher
	if si.ClientCert == nil {
		si.ClientCert = certificate(fa.ClientCert)
	}
	if si.ServerCert == nil {
		si.ServerCert = certificate(fa.ServerCert)
	}
}

// certificate converts what the dissector read of a certificate (nil:
// none).
func certificate(c *relay.Cert) *analyze.Certificate {
	if c == nil {
		return nil
	}
	out := &analyze.Certificate{Time: c.Time, Frame: c.Frame, Empty: c.Empty, Subject: c.Subject, Issuer: c.Issuer,
		SubjectEmpty: c.SubjectEmpty, SelfSigned: c.SelfSigned, ParseError: c.ParseError}
	if !c.Empty {
		out.SHA256 = hex.EncodeToString(c.SHA256[:])
	}
	return out
}

// Record feeds one decoded record.
func (f *feeder) Record(e *dissect.Event) {
	var si *analyze.SessionInfo
	fromClient := e.Dir != tlsdec.FromServer
	if e.Session != nil {
		si = f.info(e.Session)
	} else {
		// vdaemon outside DTLS/TLS: a "plain" session per endpoint pair,
		// the lower port... the sender of the first message is the client
		k := e.Src.String() + ">" + e.Dst.String()
		rk := e.Dst.String() + ">" + e.Src.String()
		if si = f.plain[rk]; si != nil {
			fromClient = false
		} else if si = f.plain[k]; si == nil {
			if len(f.plain) >= maxInfos {
				clear(f.plain)
			}
			si = &analyze.SessionInfo{ID: "plain:" + k, Client: e.Src, Server: e.Dst, Transport: e.Transport}
			f.plain[k] = si
		}
	}
	f.in = analyze.Input{Time: e.Time, Frame: e.Frame, Session: si, FromClient: fromClient,
		VDaemon: e.Msg.VDaemon, OMP: e.Msg.OMP, Err: e.Msg.Err, Header: e.Msg.Header}
	f.a.Message(&f.in)
}

// SessionEnd feeds the end of a control connection.
func (f *feeder) SessionEnd(s *tlsdec.Session, t time.Time, frame uint64, why string) {
	f.a.SessionEnd(f.info(s), t, why)
}

// Gap feeds n undecryptable records of s.
func (f *feeder) Gap(s *tlsdec.Session, r tlsdec.Reason, n int) {
	g := analyze.Gap{Time: s.LastSeen, Frame: s.LastFrame, Session: f.info(s), Dir: analyze.DirUnknown,
		Reason: r.String(), Records: n}
	if r == tlsdec.ReasonNoKey {
		// records without a key wait in a queue and are reported when
		// the queue overflows or the input ends: they cover the session
		// since it began
		g.Start = s.FirstSeen
	}
	f.a.Gap(&g)
}

// maxEvictionFrames is how many frames the sessions-evicted gap cites.
const maxEvictionFrames = 16

// evictions counts the sessions the trackers evicted (MaxSessions),
// reported as a capture gap; the parallel dissector's workers call it
// from their goroutines.
type evictions struct {
	mu     sync.Mutex
	n      uint64
	proven uint64 // of them, sessions that had decrypted records
	frames []uint64
	first  time.Time
	last   time.Time
}

func (e *evictions) hook(cfg *dissect.Config) {
	prev := cfg.TLS.OnEvict
	cfg.TLS.OnEvict = func(s *tlsdec.Session) {
		if prev != nil {
			prev(s)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.n++
		if s.Decrypted > 0 {
			e.proven++
		}
		// the 16 earliest last frames, in order: the same set whatever
		// order the workers of a parallel run evict in
		if f := s.LastFrame; len(e.frames) < maxEvictionFrames || f < e.frames[len(e.frames)-1] {
			i, _ := slices.BinarySearch(e.frames, f)
			e.frames = slices.Insert(e.frames, i, f)
			e.frames = e.frames[:min(len(e.frames), maxEvictionFrames)]
		}
		if e.first.IsZero() || s.LastSeen.Before(e.first) {
			e.first = s.LastSeen
		}
		if s.LastSeen.After(e.last) {
			e.last = s.LastSeen
		}
	}
}

// captureGaps tells the analyzer what of the capture never reached the
// control connections (analyze's capture-gap): packets of a link type
// not decoded, cut short, malformed, untracked TCP connections, sessions
// evicted. In a fixed order, so the output is the same on every run.
func captureGaps(a *analyze.Analyzer, d *dissect.Dissector, ev *evictions) {
	for _, g := range captureGapList(d, ev) {
		a.CaptureGap(g)
	}
}

// captureGapList is what captureGaps tells (a sensor publishes it).
func captureGapList(d *dissect.Dissector, ev *evictions) []analyze.CaptureGap {
	var out []analyze.CaptureGap
	st := d.FlowStats()
	if st.UnsupportedLink > 0 {
		var lts []string
		for lt, n := range st.LinkTypes {
			lts = append(lts, fmt.Sprintf("%d (%s) ×%d", int(lt), lt, n))
		}
		slices.Sort(lts)
		out = append(out, analyze.CaptureGap{Reason: "unsupported-link", Count: st.UnsupportedLink, Unit: "packet", Of: st.Packets,
			What:   "have a link type ompscope does not decode",
			Detail: "link types in the capture: " + strings.Join(lts, ", ")})
	}
	var trunc, bad uint64
	for l := range st.Truncated {
		trunc += st.Truncated[l]
		bad += st.Malformed[l]
	}
	problem := func(truncated bool) (string, []uint64) {
		var frames []uint64
		first := ""
		for _, p := range st.Problems {
			if p.Truncated == truncated {
				if first == "" {
					first = "the first at frame " + fmt.Sprint(p.Frame) + ": " + p.String()
				}
				frames = append(frames, p.Frame)
			}
		}
		return first, frames
	}
	if trunc > 0 {
		det, frames := problem(true)
		out = append(out, analyze.CaptureGap{Reason: "truncated", Count: trunc, Unit: "packet", Of: st.Packets,
			What: "were cut short before their DTLS/TLS payload (a small snap length?)", Detail: det, Frames: frames})
	}
	if bad > 0 {
		det, frames := problem(false)
		out = append(out, analyze.CaptureGap{Reason: "malformed", Count: bad, Unit: "packet", Of: st.Packets,
			What: "are malformed below the DTLS/TLS layer", Detail: det, Frames: frames})
	}
	if st.TCPConnLimit > 0 {
		out = append(out, analyze.CaptureGap{Reason: "untracked-connections", Count: st.TCPConnLimit, Unit: "packet", Of: st.Packets,
			What: "belong to TCP connections past the reassembler's cap"})
	}
	if ev != nil && ev.n > 0 {
		out = append(out, analyze.CaptureGap{Reason: "sessions-evicted", Count: ev.n, Unit: "session",
			What:   "were evicted from the full session table (their later records could not be decrypted)",
			Detail: fmt.Sprintf("%d of them had decrypted records (a full table gives up sessions that decrypt last)", ev.proven),
			Frames: ev.frames, First: ev.first, Last: ev.last})
	}
	return out
}
