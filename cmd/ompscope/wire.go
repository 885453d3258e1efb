package main

import (
	"encoding/hex"
	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"time"
)

// feeder connects the dissector's output to the analyzer: it is the
// dissect.Sink that turns records, decryption gaps, session ends and clock
// ticks into analyze inputs. It is the only place that knows both sides,
// so that analyze never sees packets or crypto.
type feeder struct {
	a     *analyze.Analyzer
	infos map[*tlsdec.Session]*analyze.SessionInfo
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
	return &feeder{a: a, infos: map[*tlsdec.Session]*analyze.SessionInfo{}, plain: map[string]*analyze.SessionInfo{}}
}

// maxInfos bounds the feeder's map of sessions: past it the map starts
// over (a session seen again gets a new SessionInfo with the same ID, which
// the analyzer takes as the same session), so that a flood of handshakes
// cannot grow it without end.
const maxInfos = 1 << 16

func (f *feeder) info(s *tlsdec.Session) *analyze.SessionInfo {
	si := f.infos[s]
	if si == nil {
		if len(f.infos) >= maxInfos {
			clear(f.infos)
		}
		si = &analyze.SessionInfo{ID: s.ID, Client: s.Client, Server: s.Server, Transport: s.Transport}
		f.infos[s] = si
	}
	// facts learned late (suite, key source) are refreshed each time
	si.Suite, si.KeySource, si.NullCipher = "", s.KeySource, s.NullCipher()
	if s.HandshakeSeen {
		si.Suite, si.Version = s.CipherSuiteName(), s.VersionName()
	}
	if si.ClientCert == nil && s.ClientCert != nil {
		si.ClientCert = certificate(s.ClientCert)
	}
	if si.ServerCert == nil && s.ServerCert != nil {
		si.ServerCert = certificate(s.ServerCert)
	}
	return si
}

// certificate converts what the dissector read of a certificate.
func certificate(c *tlsdec.CertInfo) *analyze.Certificate {
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
