package dissect

import (
	"errors"
	"io"
	"runtime/debug"
	"time"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// Source yields captured packets in capture order: a capture file
// (*capture.Reader) or a live interface (live.Source). Next returns io.EOF
// at the end, and capture.ErrIdle when a live source had nothing before
// its timeout (not an error: the run ticks the wall clock and goes on).
type Source interface {
	Next(p *capture.Packet) error
}

// Sink receives, in capture order, everything the pipeline produces: the
// decoded records, the records it could not read, the control
// connections that ended, and the clock. The analyzer (through the
// command's adapter), the printers and the live status all take their
// input this way.
type Sink interface {
	// Record is one decoded record; valid during the call only.
	Record(e *Event)
	// Gap reports n records of s that could not be decrypted, for reason r.
	Gap(s *tlsdec.Session, r tlsdec.Reason, n int)
	// SessionEnd reports a control connection that ended (TCP FIN/RST,
	// close_notify, fatal alert).
	SessionEnd(s *tlsdec.Session, t time.Time, frame uint64, why string)
	// Tick says capture time reached t (after every packet; with the wall
	// clock when a live source is idle).
	Tick(t time.Time)
}

// InfoSink is a Sink that also hears a session that learned facts before
// any record: its certificates, from the clear handshake
// (Config.OnSessionInfo).
type InfoSink interface {
	Sink
	SessionInfo(s *tlsdec.Session, t time.Time, frame uint64)
}

// NewWithSink makes a Dissector whose output goes to sink (Config.OnGap
// and Config.OnSessionEnd, if set, hear their events too; an InfoSink
// hears Config.OnSessionInfo's).
func NewWithSink(cfg Config, sink Sink) *Dissector {
	if is, ok := sink.(InfoSink); ok {
		prev := cfg.OnSessionInfo
		cfg.OnSessionInfo = func(s *tlsdec.Session, t time.Time, frame uint64) {
			if prev != nil {
				prev(s, t, frame)
			}
			is.SessionInfo(s, t, frame)
		}
	}
	gap, end := cfg.OnGap, cfg.OnSessionEnd
	cfg.OnGap = func(s *tlsdec.Session, r tlsdec.Reason, n int) {
		if gap != nil {
			gap(s, r, n)
		}
		sink.Gap(s, r, n)
	}
	cfg.OnSessionEnd = func(s *tlsdec.Session, t time.Time, frame uint64, why string) {
		if end != nil {
			end(s, t, frame, why)
		}
		sink.SessionEnd(s, t, frame, why)
	}
	d := New(cfg, sink.Record)
	d.sink = sink
	return d
}

// RunOptions tune RunSource.
type RunOptions struct {
	// OnPacket sees every packet before it is dissected (sniff -w writes
	// it).
	OnPacket func(p *capture.Packet)
	// MaxPackets stops the run after that many packets (0: no limit).
	MaxPackets uint64
	// Between runs after every packet and every idle timeout (it may call
	// Retry when keys arrived, print a status line); true stops the run.
	Between func() bool
	// Workers > 1 shards the sessions across that many workers (see
	// parallel.go); the sink gets exactly what one Dissector gives it.
	// OnPacket then runs on the reading goroutine, concurrently with the
	// sink and Between; when Between stops the run, the packets the reader
	// had already read are not delivered, but the workers have seen them
	// (what Finish flushes may then differ from one goroutine's, as for a
	// live capture stopped by a signal). 0 or 1: one goroutine. A worker
	// holds whole parts of the limits, and New chooses their number from
	// the session table alone (64 for the default table, fewer under
	// 8 192 sessions, one under 256; Config.TLS.Parts, when set, chooses
	// it), so there are at most that many workers, and with one part the
	// run has one goroutine.
	Workers int
}

// RunSource is the one packet loop of the files and the live capture: it
// reads src until its end (or MaxPackets, or Between says stop), feeds
// every packet through the pipeline and ticks the sink's clock. A
// capture file's Decryption Secrets Blocks go to the key store as they
// come. The error is the source's; everything before it was dissected.
// Call Finish after it.
//
// A fault reading a capture file mapped into memory
// (capture.OpenMapped), as when another process truncates it, ends the
// run with a *capture.FaultError.
func (d *Dissector) RunSource(src Source, opt RunOptions) (err error) {
	opt.Workers = min(opt.Workers, d.parts)
	if opt.Workers > 1 || d.par != nil {
		if d.par != nil && d.par.done {
			return errors.New("dissect: RunSource after Finish")
		}
		opt.Workers = max(opt.Workers, 2)
		return d.runParallel(src, opt)
	}
	if r, ok := src.(capture.SecretsSource); ok {
		r.SetOnSecrets(d.Secrets)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer catchFault(&err)
	var p capture.Packet
	var n uint64
	for {
		err := src.Next(&p)
		switch {
		case err == nil:
			n++
			if opt.OnPacket != nil {
				opt.OnPacket(&p)
			}
			// keys that arrived (a Decryption Secrets Block, a growing key
			// log) release the records waiting for them before the next
			// packet, whatever it is: a parallel run does the same
			if g := d.cfg.Keys.Generation(); g != d.lastGen {
				d.lastGen = g
				d.tracker.Retry(d.emitFn)
			}
			d.Packet(&p)
			if d.sink != nil && !p.Time.IsZero() {
				d.sink.Tick(p.Time)
			}
			if opt.MaxPackets > 0 && n >= opt.MaxPackets {
				return nil
			}
		case err == io.EOF:
			return nil
		case errors.Is(err, capture.ErrIdle):
			if d.sink != nil {
				d.sink.Tick(time.Now())
			}
		default:
			return err
		}
		if opt.Between != nil && opt.Between() {
			return nil
		}
	}
}

// catchFault turns a memory fault (with debug.SetPanicOnFault) into the
// run's error: a capture file mapped into memory lost pages under the
// reader. Any other panic goes on, from where it began.
func catchFault(err *error) {
	if r := recover(); r != nil {
		if f := capture.AsFault(r); f != nil {
			*err = f
			return
		}
		panic(r)
	}
}
