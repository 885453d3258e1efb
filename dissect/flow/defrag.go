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
	data     []byte
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
	nh     uint8 // upper-layer protocol named by the first fragment
	gone   bool
}

// defragger reassembles IPv4 and IPv6 datagrams within fixed bounds.
type defragger struct {
	cfg     *Config
	st      *Stats
	m       map[fragKey]*fragDatagram
	queue   []*fragDatagram // creation order, for eviction; may hold gone entries
	pending int             // bytes held
	out     []byte          // reassembly buffer, reused
	lastNH  uint8           // upper-layer protocol of the datagram last completed
}

// maxDatagram bounds the reassembled payload.
const maxDatagram = 65535

func (f *defragger) init(cfg *Config, st *Stats) {
	f.cfg, f.st = cfg, st
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
		for len(f.m) >= f.cfg.MaxFragDatagrams {
			f.evictOldest(nil)
		}
		dg = &fragDatagram{key: k, total: -1, first: now}
		f.m[k] = dg
		f.queue = append(f.queue, dg)
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
			if fr.off == off && fr.end == end && bytes.Equal(fr.data, data) {
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
	for f.pending+len(data) > f.cfg.MaxFragBytes {
		if !f.evictOldest(dg) {
			f.drop(dg, FragMemory)
			return nil, 0
		}
	}
	if overlap {
		f.st.FragOverlaps++ // IPv4: the data that arrived first wins
	}
	dg.frags = append(dg.frags, fragment{off: off, end: end, data: bytes.Clone(data)})
	dg.bytes += len(data)
	f.pending += len(data)
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
		copy(out[dg.frags[i].off:], dg.frags[i].data)
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
	dg.gone = true
	dg.frags = nil
	// Drop gone entries from the head of the queue, and compact it
	// when it is mostly dead.
	for len(f.queue) > 0 && f.queue[0].gone {
		f.queue[0] = nil
		f.queue = f.queue[1:]
	}
	if len(f.queue) > 64 && len(f.queue) > 4*len(f.m) {
		live := make([]*fragDatagram, 0, len(f.m))
		for _, q := range f.queue {
			if !q.gone {
				live = append(live, q)
			}
		}
		f.queue = live
	}
}

// drop discards a datagram (nil: just the fragment at hand) for a reason.
func (f *defragger) drop(dg *fragDatagram, why FragDrop) {
	f.st.FragDrops[why]++
	if dg != nil {
		f.remove(dg)
	}
}

// evictOldest drops the oldest datagram other than keep; false if none.
func (f *defragger) evictOldest(keep *fragDatagram) bool {
	for _, q := range f.queue {
		if !q.gone && q != keep {
			f.drop(q, FragMemory)
			return true
		}
	}
	return false
}

// expire drops datagrams older than the fragment timeout.
func (f *defragger) expire(now int64) {
	for len(f.queue) > 0 {
		q := f.queue[0]
		if !q.gone && now-q.first <= int64(f.cfg.FragTimeout) {
			break
		}
		if !q.gone {
			f.drop(q, FragTimeout)
		} else {
			f.queue[0] = nil
			f.queue = f.queue[1:]
		}
	}
}

// dropAll discards every pending datagram.
func (f *defragger) dropAll(why FragDrop) {
	for len(f.queue) > 0 {
		q := f.queue[0]
		if q.gone {
			f.queue[0] = nil
			f.queue = f.queue[1:]
			continue
		}
		f.drop(q, why) // removes q from the head
	}
}
