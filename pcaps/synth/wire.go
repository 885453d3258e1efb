package synth

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// vt is virtual time: nanoseconds since the capture epoch. Every packet the
// simulator writes is stamped with a vt; the capture timestamp is
// epoch + vt.
type vt int64

const (
	vtUS  vt = 1000
	vtMS  vt = 1000 * vtUS
	vtSec vt = 1000 * vtMS
)

func vtDur(d time.Duration) vt { return vt(d) }

// Sides of a connection. The client is always the far side of the capture
// point (the capture is taken at the controllers' data centre switch), so
// the client's answer to a server packet is captured one round trip later,
// and the server's answer to a client packet almost at once.
const (
	cli = 0
	srv = 1
)

// wire modes.
const (
	// modeHandshake: each write is delivered to the peer and stamped with
	// per-side Lamport clocks (the peer's clock moves to the stamp of what
	// it reads, plus the round trip when the peer is the client).
	modeHandshake = iota
	// modeApp: writes are recorded, not delivered; the simulator sets the
	// time of each write. Writes the simulator did not ask for are counted
	// as strays and dropped (pion never makes any once no datagram reaches
	// it, but a stray write must not race the output stage).
	modeApp
	// modeMute: writes vanish (a device that died silently).
	modeMute
)

// wire is the in-memory link under one control connection: a pair of
// endpoints (net.Conn) that pion/dtls or crypto/tls run over. It records
// every datagram (or, for TCP, every stream write) each side makes and
// gives it a virtual timestamp.
type wire struct {
	mu     sync.Mutex
	stream bool // TCP (crypto/tls) rather than UDP (pion/dtls)
	rtt    vt   // round trip between the client and the capture point
	proc   vt   // processing delay before each handshake write
	limit  vt   // handshake stamps are kept below this (the app phase start)
	mode   int
	ends   [2]*wend
	addrs  [2]net.Addr

	clock    [2]vt // handshake: Lamport clock per side
	lastW    [2]vt // handshake: stamp of the side's last write
	maxHsSeq [2]int
	sawCCS   [2]bool
	dropSide int // -1 none; else the side whose first datagram is dropped
	written  [2]int
	dropped  int
	retrans  int

	appT       [2]vt // app: time of the write the simulator is making
	lastStamp  [2]vt // app: stamp of the side's last recorded write
	busy       [2]vt // app: when the side's previous transmission ends
	writing    [2]bool
	plain      []byte // app: plaintext of the record being written
	stray      int    // app: writes nobody asked for that are not flight retransmissions
	lateFlight int    // app: handshake flights pion's wall-clock timer sent again (dropped)

	// emit receives every recorded write (called with mu held). b is a
	// copy the callee may keep. lost is true for a datagram lost after
	// the capture point (captured, never delivered).
	emit func(side int, t vt, b, plain []byte)
}

func newWire(stream bool, rtt, start vt, limit vt, cAddr, sAddr netip.AddrPort) *wire {
	w := &wire{stream: stream, rtt: rtt, proc: 40 * vtUS, limit: limit, dropSide: -1}
	w.maxHsSeq = [2]int{-1, -1}
	w.clock = [2]vt{start, start}
	if stream {
		w.addrs = [2]net.Addr{net.TCPAddrFromAddrPort(cAddr), net.TCPAddrFromAddrPort(sAddr)}
		// The TCP three-way handshake comes first: SYN at start, SYN-ACK
		// right after, the client's ACK (and its first data) a round trip
		// later.
		w.clock[cli] = start + rtt + 2*w.proc
		w.clock[srv] = start + w.proc
	} else {
		w.addrs = [2]net.Addr{net.UDPAddrFromAddrPort(cAddr), net.UDPAddrFromAddrPort(sAddr)}
	}
	for i := range w.ends {
		w.ends[i] = &wend{w: w, side: i, wake: make(chan struct{})}
	}
	return w
}

// setMode switches the wire's mode.
func (w *wire) setMode(m int) {
	w.mu.Lock()
	w.mode = m
	w.mu.Unlock()
}

// chunk is one datagram or stream write in flight to an endpoint.
type chunk struct {
	t vt
	b []byte
}

// wend is one endpoint of a wire; it implements net.Conn.
type wend struct {
	w      *wire
	side   int
	q      []chunk
	off    int // stream: bytes of q[0] already read
	closed bool
	rdl    time.Time
	wake   chan struct{}
}

var errTimeout = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "i/o timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }
func (*timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

// notify wakes a reader blocked on e (w.mu held).
func (e *wend) notify() {
	close(e.wake)
	e.wake = make(chan struct{})
}

func (e *wend) peer() *wend { return e.w.ends[1-e.side] }

// Read implements net.Conn.
func (e *wend) Read(p []byte) (int, error) {
	w := e.w
	for {
		w.mu.Lock()
		if len(e.q) > 0 {
			c := e.q[0]
			var n int
			if w.stream {
				n = copy(p, c.b[e.off:])
				e.off += n
				if e.off == len(c.b) {
					e.q[0] = chunk{}
					e.q, e.off = e.q[1:], 0
				}
			} else {
				n = copy(p, c.b)
				e.q[0] = chunk{}
				e.q = e.q[1:]
			}
			// The reader now knows what was sent at c.t; its answer is
			// captured no earlier than that (plus the round trip when the
			// reader is the far side).
			arr := c.t
			if e.side == cli {
				arr += w.rtt
			}
			if arr > w.clock[e.side] {
				w.clock[e.side] = arr
			}
			w.mu.Unlock()
			return n, nil
		}
		if e.closed || (w.stream && e.peer().closed) {
			w.mu.Unlock()
			return 0, io.EOF
		}
		dl, wake := e.rdl, e.wake
		if !dl.IsZero() && !time.Now().Before(dl) {
			w.mu.Unlock()
			return 0, errTimeout
		}
		w.mu.Unlock()
		if dl.IsZero() {
			<-wake
			continue
		}
		t := time.NewTimer(time.Until(dl))
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Write implements net.Conn.
func (e *wend) Write(b []byte) (int, error) {
	w := e.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.closed {
		return 0, net.ErrClosed
	}
	switch w.mode {
	case modeHandshake:
		w.handshakeWrite(e, b)
	case modeApp:
		if !w.writing[e.side] {
			// pion's retransmission timer runs on the wall clock: on a
			// loaded machine it may send the last handshake flight again
			// after the virtual handshake ended. That is the machine's
			// timing, not the simulation: dropped and counted apart.
			// Anything else pion writes on its own is a stray.
			if !w.stream && handshakeFlight(b) {
				w.lateFlight++
			} else {
				w.stray++
			}
			return len(b), nil
		}
		t := w.appT[e.side]
		if w.busy[e.side] > t {
			t = w.busy[e.side]
		}
		// 1 Gbit/s: 8 ns a byte on the wire, framing included.
		w.busy[e.side] = t + vt(len(b)+60)*8
		w.lastStamp[e.side] = t
		w.emit(e.side, t, append([]byte(nil), b...), w.plain)
		w.plain = nil
	}
	return len(b), nil
}

// handshakeWrite stamps, records and delivers one handshake-phase write.
func (w *wire) handshakeWrite(e *wend, b []byte) {
	side := e.side
	t := w.clock[side] + w.proc + vt(len(b))*8
	if !w.stream && w.isRetransmission(side, b) {
		// A DTLS flight sent again after its retransmission timer (1 s).
		w.retrans++
		if r := w.lastW[side] + vtSec; r > t {
			t = r
		}
	}
	if t >= w.limit {
		// Never let the handshake run into the application phase: a
		// handshake slowed down by real-time retransmissions is squeezed
		// into the last microseconds before it.
		t = w.limit - vtUS
		if t < w.lastW[side] {
			t = w.lastW[side]
		}
	}
	w.clock[side], w.lastW[side] = t, t
	w.written[side]++
	cp := append([]byte(nil), b...)
	drop := !w.stream && w.dropSide == side && w.written[side] == 1
	if drop {
		w.dropped++
		// A client datagram lost on the way never reaches the capture
		// point; a server datagram is captured and then lost.
		if side == srv {
			w.emit(side, t, cp, nil)
		}
		return
	}
	w.emit(side, t, cp, nil)
	p := e.peer()
	if !p.closed {
		p.q = append(p.q, chunk{t, append([]byte(nil), b...)})
		p.notify()
	}
}

// handshakeFlight reports whether datagram b holds only DTLS handshake and
// ChangeCipherSpec records (a flight), and at least one.
func handshakeFlight(b []byte) bool {
	n := 0
	for len(b) > 0 {
		if len(b) < 13 {
			return false
		}
		l := int(binary.BigEndian.Uint16(b[11:]))
		if 13+l > len(b) || (b[0] != 20 && b[0] != 22) {
			return false
		}
		b = b[13+l:]
		n++
	}
	return n > 0
}

// isRetransmission reports whether datagram b repeats a handshake message
// or a ChangeCipherSpec side already sent, and notes what b carries.
func (w *wire) isRetransmission(side int, b []byte) bool {
	re := false
	for len(b) >= 13 {
		ct := b[0]
		epoch := binary.BigEndian.Uint16(b[3:])
		l := int(binary.BigEndian.Uint16(b[11:]))
		if 13+l > len(b) {
			break
		}
		body := b[13 : 13+l]
		switch {
		case ct == 20:
			if w.sawCCS[side] {
				re = true
			}
			w.sawCCS[side] = true
		case ct == 22 && epoch == 0 && len(body) >= 6:
			seq := int(binary.BigEndian.Uint16(body[4:]))
			if seq <= w.maxHsSeq[side] {
				re = true
			} else {
				w.maxHsSeq[side] = seq
			}
		}
		b = b[13+l:]
	}
	return re
}

// appWrite writes one application record through conn at virtual time t,
// from side; plain is recorded with it.
func (w *wire) appWrite(side int, t vt, plain []byte, conn io.Writer) error {
	w.mu.Lock()
	w.appT[side] = t
	w.writing[side] = true
	w.plain = plain
	w.mu.Unlock()
	_, err := conn.Write(plain)
	w.mu.Lock()
	w.writing[side] = false
	w.plain = nil
	w.mu.Unlock()
	return err
}

// closeAt closes conn (side's DTLS/TLS connection) at virtual time t; its
// close_notify alert is recorded.
func (w *wire) closeAt(side int, t vt, conn io.Closer) {
	if conn == nil {
		return
	}
	w.mu.Lock()
	w.appT[side] = t
	w.writing[side] = true
	w.plain = nil
	w.mu.Unlock()
	conn.Close()
	w.mu.Lock()
	w.writing[side] = false
	w.mu.Unlock()
}

// Close implements net.Conn.
func (e *wend) Close() error {
	w := e.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.notify()
		p := e.peer()
		p.notify()
	}
	return nil
}

// LocalAddr implements net.Conn.
func (e *wend) LocalAddr() net.Addr { return e.w.addrs[e.side] }

// RemoteAddr implements net.Conn.
func (e *wend) RemoteAddr() net.Addr { return e.w.addrs[1-e.side] }

// SetDeadline implements net.Conn.
func (e *wend) SetDeadline(t time.Time) error { return e.SetReadDeadline(t) }

// SetReadDeadline implements net.Conn.
func (e *wend) SetReadDeadline(t time.Time) error {
	e.w.mu.Lock()
	e.rdl = t
	e.notify()
	e.w.mu.Unlock()
	return nil
}

// SetWriteDeadline implements net.Conn; writes never block.
func (e *wend) SetWriteDeadline(time.Time) error { return nil }

var errNoConn = errors.New("synth: connection not established")
