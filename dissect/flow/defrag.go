package flow

import "bytes"

// fragKey identifies the fragments of one IP datagram.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8 // IPv4 protocol (part of the IPv4 key)
	v6       bool
}

type fragment struct {
	off, end int
	at       int // where its bytes are in the datagram's buf
}

type span struct{ off, end int }

// fragDatagram holds the fragments of one datagram, in arrival order.
type fragDatagram struct {
	key    fragKey
	frags  []fragment
	cover  []span // union of the fragments' extents, sorted, merged
	total  int    // datagram length, -1 until the final fragment arrives
	maxEnd int
	first  int64 // capture time of the first fragment (Unix ns)
	bytes  int
	nh     uint8  // upper-layer protocol named by the first fragment
	part   int    // the part of the bounds it counts in (Config.Parts)
	buf    []byte // the fragments' bytes, in arrival order
	// prev, next: the part's datagrams in creation order
	prev, next *fragDatagram
}

func (dg *fragDatagram) data(fr *fragment) []byte { return dg.buf[fr.at : fr.at+fr.end-fr.off] }

// defragger reassembles IPv4 and IPv6 datagrams within fixed bounds.
type defragger struct {
	cfg     *Config
	lim     *partLimits
	st      *Stats
	parts   []fragPart // by Config.Parts
	m       map[fragKey]*fragDatagram
	free    []*fragDatagram // removed: reused (no allocation per datagram)
	pending int             // bytes held
	out     []byte          // reassembly buffer, reused
	lastNH  uint8           // upper-layer protocol of the datagram last completed
}

// fragPart is what a part of the bounds holds: counts, and its datagrams
// in creation order (evictOldest takes the head, whatever the other
// parts hold; expire looks at the heads).
type fragPart struct {
	datagrams, bytes int
	head, tail       *fragDatagram
}

// maxDatagram bounds the reassembled payload.
const maxDatagram = 65535

func (f *defragger) init(cfg *Config, lim *partLimits, st *Stats) {
	f.cfg, f.lim, f.st = cfg, lim, st
	f.parts = make([]fragPart, cfg.Parts)
	f.m = make(map[fragKey]*fragDatagram)
}

// add takes one fragment (its payload after the IP or fragment header, at
// byte offset off of the datagram) seen at capture time now. When it completes the datagram, add
// returns the reassembled payload (valid until the next call) and the
// number of fragments; otherwise nil.
func (f *defragger) add(k fragKey, off int, data []byte, more bool, nh uint8, now int64) ([]byte, int) {
	f.st.Fragments++
	end := off + len(data)
	dg := f.m[k]
	if dg != nil && now-dg.first > int64(f.cfg.FragTimeout) {
		f.drop(dg, FragTimeout)
		dg = nil
	}
	if end > maxDatagram {
		f.drop(dg, FragTooBig)
		return nil, 0
	}
	if more && len(data)%8 != 0 {
		f.st.FragDrops[FragMisaligned]++
		return nil, 0
	}
	if dg == nil {
		pi := f.cfg.partOf(k.src, k.dst)
		for f.parts[pi].datagrams >= f.lim.fragDatagrams {
			f.evictOldest(pi, nil)
		}
		dg = f.newDatagram()
		dg.key, dg.first, dg.part = k, now, pi
		pt := &f.parts[pi]
		pt.datagrams++
		if dg.prev = pt.tail; pt.tail != nil {
			pt.tail.next = dg
		} else {
			pt.head = dg
		}
		pt.tail = dg
		f.m[k] = dg
	}
	if !more {
		if (dg.total >= 0 && dg.total != end) || dg.maxEnd > end {
			f.drop(dg, FragInconsistent)
			return nil, 0
		}
		dg.total = end
	} else if dg.total >= 0 && end > dg.total {
		f.drop(dg, FragInconsistent)
		return nil, 0
	}
	overlap := false
	for i := range dg.frags {
		fr := &dg.frags[i]
		if fr.off < end && off < fr.end {
			if fr.off == off && fr.end == end && bytes.Equal(dg.data(fr), data) {
				f.st.FragDrops[FragDuplicate]++
				return nil, 0
			}
			if k.v6 {
				// RFC 5722: overlapping IPv6 fragments void the datagram.
				f.drop(dg, FragOverlap)
				return nil, 0
			}
			overlap = true
		}
	}
	if len(dg.frags) >= f.cfg.MaxFragments {
		f.drop(dg, FragTooMany)
		return nil, 0
	}
	pt := &f.parts[dg.part]
	for pt.bytes+len(data) > f.lim.fragBytes {
		if !f.evictOldest(dg.part, dg) {
			f.drop(dg, FragMemory)
			return nil, 0
		}
	}
	if overlap {
		f.st.FragOverlaps++ // IPv4: the data that arrived first wins
	}
	dg.frags = append(dg.frags, fragment{off: off, end: end, at: len(dg.buf)})
	dg.buf = append(dg.buf, data...)
	dg.bytes += len(data)
	f.pending += len(data)
	pt.bytes += len(data)
	dg.maxEnd = max(dg.maxEnd, end)
	dg.addSpan(off, end)
	if off == 0 {
		dg.nh = nh
	}
	if dg.total < 0 || len(dg.cover) != 1 || dg.cover[0].off != 0 || dg.cover[0].end != dg.total {
		return nil, 0
	}
	if cap(f.out) < dg.total {
		f.out = make([]byte, maxDatagram)
	}
	out := f.out[:dg.total]
	// Copy in reverse arrival order so that the first data received for
	// any byte is what remains.
	for i := len(dg.frags) - 1; i >= 0; i-- {
		copy(out[dg.frags[i].off:], dg.data(&dg.frags[i]))
	}
	n := len(dg.frags)
	f.lastNH = dg.nh
	f.remove(dg)
	f.st.Reassembled++
	return out, n
}

// addSpan merges [off, end) into the sorted coverage list.
func (dg *fragDatagram) addSpan(off, end int) {
	if off == end {
		return
	}
	c := dg.cover
	i := 0
	for i < len(c) && c[i].end < off {
		i++
	}
	j := i
	for j < len(c) && c[j].off <= end {
		off = min(off, c[j].off)
		end = max(end, c[j].end)
		j++
	}
	// Replace c[i:j] by the merged span.
	if i == j {
		c = append(c, span{})
		copy(c[i+1:], c[i:])
	} else {
		c = append(c[:i+1], c[j:]...)
	}
	c[i] = span{off, end}
	dg.cover = c
}

func (f *defragger) remove(dg *fragDatagram) {
	delete(f.m, dg.key)
	f.pending -= dg.bytes
	pt := &f.parts[dg.part]
	pt.datagrams--
	pt.bytes -= dg.bytes
	if dg.prev != nil {
		dg.prev.next = dg.next
	} else {
		pt.head = dg.next
	}
	if dg.next != nil {
		dg.next.prev = dg.prev
	} else {
		pt.tail = dg.prev
	}
	f.recycle(dg)
}

// maxFreeDatagrams bounds the datagrams kept for reuse, maxFreeBuf the
// buffer one keeps.
const (
	maxFreeDatagrams = 64
	maxFreeBuf       = 64 << 10
)

func (f *defragger) recycle(dg *fragDatagram) {
	if len(f.free) >= maxFreeDatagrams {
		return
	}
	buf := dg.buf[:0]
	if cap(buf) > maxFreeBuf {
		buf = nil
	}
	*dg = fragDatagram{frags: dg.frags[:0], cover: dg.cover[:0], buf: buf}
	f.free = append(f.free, dg)
}

func (f *defragger) newDatagram() *fragDatagram {
	if n := len(f.free); n > 0 {
		dg := f.free[n-1]
		f.free[n-1] = nil
		f.free = f.free[:n-1]
		dg.total = -1
		return dg
	}
	return &fragDatagram{total: -1}
}

// drop discards a datagram (nil: just the fragment at hand) for a reason.
func (f *defragger) drop(dg *fragDatagram, why FragDrop) {
	f.st.FragDrops[why]++
	if dg != nil {
		f.remove(dg)
	}
}

// evictOldest drops the oldest datagram of part pi other than keep; false
// if none: the head of the part's list, or the one after it.
func (f *defragger) evictOldest(pi int, keep *fragDatagram) bool {
	q := f.parts[pi].head
	if q == keep && q != nil {
		q = q.next
	}
	if q == nil {
		return false
	}
	f.drop(q, FragMemory)
	return true
}

// expire drops datagrams older than the fragment timeout: from the head
// of each part's list (creation order), to the first that is not.
func (f *defragger) expire(now int64) {
	for i := range f.parts {
		for q := f.parts[i].head; q != nil && now-q.first > int64(f.cfg.FragTimeout); q = f.parts[i].head {
			f.drop(q, FragTimeout)
		}
	}
}

// dropAll discards every pending datagram.
func (f *defragger) dropAll(why FragDrop) {
	for i := range f.parts {
		for q := f.parts[i].head; q != nil; q = f.parts[i].head {
			f.drop(q, why)
		}
	}
}
