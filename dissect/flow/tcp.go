package flow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10

	// maxOOOSegments bounds the out-of-order segments held per direction,
	// so that insertion stays cheap even for floods of tiny segments.
	maxOOOSegments = 1024
	// closedLinger keeps a closed connection's entry (in capture time) so
	// that late retransmissions are recognised instead of opening a new
	// connection.
	closedLinger = int64(10 * time.Second)
)

// connKey is a direction-independent 4-tuple.
type connKey struct {
	a, b   [16]byte
	pa, pb uint16
}

func makeKey(src, dst netip.AddrPort) connKey {
	sa, da := src.Addr().As16(), dst.Addr().As16()
	sp, dp := src.Port(), dst.Port()
	c := bytes.Compare(sa[:], da[:])
	if c < 0 || (c == 0 && sp <= dp) {
		return connKey{sa, da, sp, dp}
	}
	return connKey{da, sa, dp, sp}
}

type oooSeg struct {
	seq   uint32
	data  []byte
	t     time.Time
	frame uint64
}

// half is one direction of a connection.
type half struct {
	started bool   // next is valid
	syn     bool   // the SYN of this direction was seen
	fin     bool   // a FIN was seen; finSeq is valid
	done    bool   // all data up to the FIN was delivered
	isn     uint32 // sequence number of the SYN
	next    uint32 // next sequence number to deliver
	finSeq  uint32
	offset  uint64 // stream offset of next (delivered bytes plus gaps)
	gap     uint64 // bytes skipped since the last delivered chunk
	ooo     []oooSeg
	head    int // ooo[head:] are live
	bytes   int // bytes buffered in ooo
	// waitSince is when data (or a FIN) started waiting behind the
	// current gap, in Unix ns; 0 when nothing waits.
	waitSince int64
}

func (h *half) live() []oooSeg { return h.ooo[h.head:] }

type conn struct {
	Conn
	key      connKey
	h        [2]half
	last     int64 // capture time of the latest packet (Unix ns)
	closed   bool
	buffered int
	part     *tcpPart // the part of the bounds it counts in (Config.Parts)
}

// tcpPart is what a part of the bounds holds.
type tcpPart struct {
	conns, buffered int
}

// tcpState is the TCP reassembler.
type tcpState struct {
	d        *Decoder
	conns    map[connKey]*conn
	parts    []tcpPart // by Config.Parts
	buffered int       // over all parts
	ids      uint64
	seg      Segment
	scratch  []*conn
	free     [][]byte
}

func (t *tcpState) init(d *Decoder) {
	t.d = d
	t.conns = make(map[connKey]*conn)
	t.parts = make([]tcpPart, d.cfg.Parts)
}

// tcpPacket decodes a TCP header and hands the segment to the reassembler.
func (d *Decoder) tcpPacket(p *pkt, src, dst netip.Addr, b []byte, off int) {
	if len(b) < 20 {
		d.problem(p, LayerTCP, off, true, "shorter than the 20-byte header")
		return
	}
	doff := int(b[12]>>4) * 4
	if doff < 20 {
		d.problem(p, LayerTCP, at(off, 12), false, "data offset below 20")
		return
	}
	if doff > len(b) {
		d.problem(p, LayerTCP, at(off, 12), true, "options extend past the IP payload")
		return
	}
	sp := netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:2]))
	dp := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:4]))
	if d.cfg.TCPFilter != nil && !d.cfg.TCPFilter(sp, dp) {
		d.st.TCPFiltered++
		return
	}
	d.st.TCP++
	d.tcp.packet(sp, dp, b[13], binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[8:12]), b[doff:], p)
}

func (t *tcpState) packet(src, dst netip.AddrPort, flags uint8, seq, ackNum uint32, payload []byte, p *pkt) {
	st := &t.d.st
	syn, ack, rst, fin := flags&tcpSYN != 0, flags&tcpACK != 0, flags&tcpRST != 0, flags&tcpFIN != 0
	k := makeKey(src, dst)
	c := t.conns[k]
	if c != nil && c.closed {
		if !syn || ack {
			st.TCPAfterClose++
			return
		}
		t.remove(c) // a new connection on the same 4-tuple
		c = nil
	}
	if c == nil {
		if rst || (!syn && len(payload) == 0) {
			st.TCPNoConn++
			return
		}
		if t.full(src, dst) {
			st.TCPConnLimit++
			return
		}
		c = t.newConn(k, src, dst, syn, ack, p.frame)
	}
	dir := AtoB
	if src != c.A {
		dir = BtoA
	}
	h := &c.h[dir]
	c.last = t.d.now
	if rst {
		t.close(c, CloseRST)
		return
	}
	dataSeq := seq
	if syn {
		dataSeq = seq + 1
		switch {
		case !h.started:
			if !c.ClientKnown {
				client := src
				if ack {
					client = dst
				}
				if client == c.A {
					c.ClientKnown = true
				} else if c.Delivered == [2]uint64{} && c.buffered == 0 {
					// Nothing delivered yet: re-orient so A is the client.
					c.A, c.B = c.B, c.A
					c.h[0], c.h[1] = c.h[1], c.h[0]
					c.ClientKnown = true
					dir ^= 1
					h = &c.h[dir]
				}
			}
			h.started, h.syn, h.isn, h.next = true, true, seq, seq+1
			if peer := &c.h[dir^1]; ack && !peer.started {
				// A SYN-ACK acknowledges the client's SYN: the client's
				// stream starts at its acknowledgement number even if
				// the SYN itself was not captured.
				peer.started, peer.next = true, ackNum
			}
		case h.syn && seq == h.isn:
			// Retransmitted SYN.
		case !ack:
			// A new SYN with another ISN: the 4-tuple is reused.
			t.close(c, CloseReused)
			t.remove(c)
			if t.full(src, dst) {
				st.TCPConnLimit++
				return
			}
			c = t.newConn(k, src, dst, true, false, p.frame)
			c.last = t.d.now
			dir = AtoB
			h = &c.h[dir]
			h.started, h.syn, h.isn, h.next = true, true, seq, seq+1
		}
	}
	if !h.started {
		if len(payload) == 0 && !fin {
			return // a bare ACK: nothing to reassemble yet
		}
		h.started = true
		h.next = dataSeq
		c.MidStream = true
	}
	if h.done {
		if len(payload) > 0 {
			st.TCPRetransBytes += uint64(len(payload))
		}
		return
	}
	if fin && !h.fin {
		h.fin = true
		h.finSeq = dataSeq + uint32(len(payload))
	}
	if len(payload) > 0 {
		t.data(c, dir, dataSeq, payload, p.t, p.frame)
	}
	t.checkDone(c, dir)
}

// full reports whether the part of the bounds a connection between src and
// dst would count in holds all the connections it may.
func (t *tcpState) full(src, dst netip.AddrPort) bool {
	return t.parts[t.d.cfg.partOf(src.Addr().As16(), dst.Addr().As16())].conns >= t.d.lim.conns
}

func (t *tcpState) newConn(k connKey, src, dst netip.AddrPort, syn, ack bool, frame uint64) *conn {
	t.ids++
	c := &conn{key: k, part: &t.parts[t.d.cfg.partOf(src.Addr().As16(), dst.Addr().As16())]}
	c.part.conns++
	c.ID = t.ids
	c.FirstFrame = frame
	if syn && ack {
		c.A, c.B = dst, src
	} else {
		c.A, c.B = src, dst
	}
	c.ClientKnown = syn
	t.conns[k] = c
	t.d.st.TCPConns++
	return c
}

// data takes a payload starting at sequence number seq.
func (t *tcpState) data(c *conn, dir Dir, seq uint32, payload []byte, ts time.Time, frame uint64) {
	st := &t.d.st
	h := &c.h[dir]
	for {
		rel := int32(seq - h.next)
		if rel < 0 {
			old := int(-int64(rel))
			if old >= len(payload) {
				st.TCPRetransBytes += uint64(len(payload))
				return
			}
			st.TCPRetransBytes += uint64(old)
			st.TCPOverlapBytes += uint64(old)
			payload = payload[old:]
			seq = h.next
			rel = 0
		}
		if rel == 0 {
			t.deliver(c, dir, payload, ts, frame)
			t.drain(c, dir)
			return
		}
		// Ahead of a gap: buffer, making room if needed.
		n := bufCap(len(payload))
		if c.buffered+n <= t.d.cfg.MaxConnBuffer && c.part.buffered+n <= t.d.lim.tcpBuffer && len(h.live()) < maxOOOSegments {
			t.buffer(c, dir, seq, payload, ts, frame)
			return
		}
		st.TCPMemorySkips++
		switch other := &c.h[dir^1]; {
		case len(h.live()) > 0:
			t.skipGap(c, dir)
		case c.buffered+n > t.d.cfg.MaxConnBuffer && len(other.live()) > 0:
			t.skipGap(c, dir^1)
		default:
			// Nothing of ours is buffered: stop waiting for this gap.
			t.skip(c, dir, seq)
		}
	}
}

// Buffers for out-of-order segments of typical sizes are recycled through a
// bounded free list, so that steady reordering does not allocate. Buffered
// bytes are accounted by capacity, so the limits bound real memory.
const (
	poolBufSize = 2048
	poolMinSize = 256
	maxFreeBufs = 1024
)

func bufCap(n int) int {
	if n > poolMinSize && n <= poolBufSize {
		return poolBufSize
	}
	return n
}

func (t *tcpState) getBuf(n int) []byte {
	var b []byte
	switch {
	case bufCap(n) != poolBufSize:
		b = make([]byte, n)
	case len(t.free) > 0:
		b = t.free[len(t.free)-1][:n]
		t.free[len(t.free)-1] = nil
		t.free = t.free[:len(t.free)-1]
	default:
		b = make([]byte, n, poolBufSize)
	}
	return b
}

func (t *tcpState) putBuf(b []byte) {
	if cap(b) == poolBufSize && len(t.free) < maxFreeBufs {
		t.free = append(t.free, b[:0])
	}
}

// buffer stores an out-of-order segment.
func (t *tcpState) buffer(c *conn, dir Dir, seq uint32, payload []byte, ts time.Time, frame uint64) {
	h := &c.h[dir]
	live := h.live()
	// Keep the list sorted by sequence number (relative to next, so that
	// wrap-around is handled).
	base := h.next
	i, found := slices.BinarySearchFunc(live, seq-base, func(s oooSeg, rel uint32) int {
		a := s.seq - base
		switch {
		case a < rel:
			return -1
		case a > rel:
			return 1
		}
		return 0
	})
	if found && len(live[i].data) >= len(payload) {
		t.d.st.TCPRetransBytes += uint64(len(payload))
		return
	}
	if h.head > 0 && h.head == len(h.ooo) {
		h.ooo, h.head = h.ooo[:0], 0
	}
	buf := t.getBuf(len(payload))
	copy(buf, payload)
	h.ooo = slices.Insert(h.ooo, h.head+i, oooSeg{seq: seq, data: buf, t: ts, frame: frame})
	n := cap(buf)
	h.bytes += n
	c.buffered += n
	c.part.buffered += n
	t.buffered += n
	t.d.st.TCPOutOfOrder++
	if h.waitSince == 0 {
		h.waitSince = t.d.now
	}
}

// drain delivers buffered segments that have become contiguous.
func (t *tcpState) drain(c *conn, dir Dir) {
	st := &t.d.st
	h := &c.h[dir]
	progressed := false
	for h.head < len(h.ooo) {
		s := h.ooo[h.head]
		rel := int32(s.seq - h.next)
		if rel > 0 {
			break
		}
		h.ooo[h.head] = oooSeg{}
		h.head++
		n := cap(s.data)
		h.bytes -= n
		c.buffered -= n
		c.part.buffered -= n
		t.buffered -= n
		data := s.data
		if rel < 0 {
			old := int(-int64(rel))
			if old >= len(data) {
				st.TCPRetransBytes += uint64(len(data))
				t.putBuf(s.data)
				continue
			}
			st.TCPRetransBytes += uint64(old)
			st.TCPOverlapBytes += uint64(old)
			data = data[old:]
		}
		t.deliver(c, dir, data, s.t, s.frame)
		t.putBuf(s.data)
		progressed = true
	}
	if h.head == len(h.ooo) {
		h.ooo, h.head = h.ooo[:0], 0
		h.waitSince = 0
	} else {
		if progressed {
			h.waitSince = t.d.now
		}
		if h.head > 64 && 2*h.head > len(h.ooo) {
			// Compact so the dead prefix does not grow without bound.
			n := copy(h.ooo, h.ooo[h.head:])
			clear(h.ooo[n:])
			h.ooo, h.head = h.ooo[:n], 0
		}
	}
}

// deliver hands one in-order chunk to the handler.
func (t *tcpState) deliver(c *conn, dir Dir, data []byte, ts time.Time, frame uint64) {
	if len(data) == 0 {
		return
	}
	h := &c.h[dir]
	s := &t.seg
	s.Conn = &c.Conn
	s.Dir = dir
	if dir == AtoB {
		s.Src, s.Dst = c.A, c.B
	} else {
		s.Src, s.Dst = c.B, c.A
	}
	s.Time = ts
	s.Frame = frame
	s.Data = data
	s.Gap = h.gap
	s.Offset = h.offset
	n := uint64(len(data))
	h.gap = 0
	h.offset += n
	h.next += uint32(n)
	c.Delivered[dir] += n
	t.d.st.TCPBytes += n
	t.d.h.TCPData(s)
	s.Data = nil
	s.Conn = nil
}

// skip gives up on the bytes before seq.
func (t *tcpState) skip(c *conn, dir Dir, seq uint32) {
	h := &c.h[dir]
	gap := uint64(seq - h.next)
	h.gap += gap
	h.offset += gap
	h.next = seq
	c.Lost[dir] += gap
	t.d.st.TCPGaps++
	t.d.st.TCPGapBytes += gap
}

// skipGap skips the gap before the first buffered segment and delivers what
// follows it.
func (t *tcpState) skipGap(c *conn, dir Dir) {
	h := &c.h[dir]
	t.skip(c, dir, h.ooo[h.head].seq)
	t.drain(c, dir)
}

// flushHalf delivers everything buffered in one direction, skipping gaps,
// and gives up on data missing before a FIN.
func (t *tcpState) flushHalf(c *conn, dir Dir) {
	h := &c.h[dir]
	for h.head < len(h.ooo) {
		t.skipGap(c, dir)
	}
	if h.fin && !h.done && int32(h.finSeq-h.next) > 0 {
		t.skip(c, dir, h.finSeq)
	}
	h.waitSince = 0
}

func (t *tcpState) checkDone(c *conn, dir Dir) {
	h := &c.h[dir]
	if h.fin && !h.done {
		if int32(h.next-h.finSeq) >= 0 {
			h.done = true
		} else if h.waitSince == 0 {
			h.waitSince = t.d.now // the FIN waits behind a gap
		}
	}
	if c.h[0].done && c.h[1].done && !c.closed {
		t.close(c, CloseFIN)
	}
}

func (t *tcpState) close(c *conn, why CloseReason) {
	t.flushHalf(c, AtoB)
	t.flushHalf(c, BtoA)
	c.closed = true
	t.d.st.TCPClosed[why]++
	t.d.h.TCPClose(&c.Conn, why)
}

func (t *tcpState) remove(c *conn) {
	t.buffered -= c.buffered
	c.part.buffered -= c.buffered
	c.part.conns--
	c.buffered = 0
	delete(t.conns, c.key)
}

// expire applies the idle and gap timeouts, in connection order.
func (t *tcpState) expire(now int64) {
	cfg := &t.d.cfg
	due := t.scratch[:0]
	for _, c := range t.conns {
		idle := now - c.last
		switch {
		case c.closed && idle > closedLinger,
			!c.closed && idle > int64(cfg.TCPIdleTimeout):
			due = append(due, c)
		case !c.closed:
			for i := range c.h {
				if w := c.h[i].waitSince; w != 0 && now-w > int64(cfg.TCPGapTimeout) {
					due = append(due, c)
					break
				}
			}
		}
	}
	slices.SortFunc(due, func(a, b *conn) int { return cmpU64(a.ID, b.ID) })
	for _, c := range due {
		idle := now - c.last
		switch {
		case c.closed:
			t.remove(c)
		case idle > int64(cfg.TCPIdleTimeout):
			t.close(c, CloseIdle)
			t.remove(c)
		default:
			for dir := AtoB; dir <= BtoA; dir++ {
				if w := c.h[dir].waitSince; w != 0 && now-w > int64(cfg.TCPGapTimeout) {
					t.flushHalf(c, dir)
					t.checkDone(c, dir)
					if c.closed {
						break
					}
				}
			}
		}
	}
	clear(due)
	t.scratch = due[:0]
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// flushAll closes every open connection (CloseEnd) and forgets them all.
func (t *tcpState) flushAll() {
	all := t.scratch[:0]
	for _, c := range t.conns {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b *conn) int { return cmpU64(a.ID, b.ID) })
	for _, c := range all {
		if !c.closed {
			t.close(c, CloseEnd)
		}
		t.remove(c)
	}
	clear(all)
	t.scratch = all[:0]
}
