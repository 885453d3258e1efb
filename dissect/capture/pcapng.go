package capture

import (
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types.
const (
	blockSHB     = 0x0A0D0D0A
	blockIDB     = 1
	blockOPB     = 2 // obsolete Packet Block
	blockSPB     = 3
	blockNRB     = 4
	blockISB     = 5
	blockEPB     = 6
	blockDSB     = 0x0A
	blockCustom  = 0x00000BAD
	blockCustom2 = 0x40000BAD
)

// pcapng option codes used here.
const (
	optEnd      = 0
	optIfName   = 2
	optTSResol  = 9
	optTSOffset = 14
	optISBRecv  = 4
	optISBDrop  = 5
)

func blockName(t uint32) string {
	switch t {
	case blockSHB:
		return "SHB"
	case blockIDB:
		return "IDB"
	case blockOPB:
		return "OPB"
	case blockSPB:
		return "SPB"
	case blockNRB:
		return "NRB"
	case blockISB:
		return "ISB"
	case blockEPB:
		return "EPB"
	case blockDSB:
		return "DSB"
	}
	return "block"
}

func isPacketBlock(t uint32) bool { return t == blockEPB || t == blockSPB || t == blockOPB }

// readBlock reads one whole pcapng block and returns its type, its body
// (after the 8-byte header, without the trailing length) and the offset at
// which it starts. io.EOF means the input ended cleanly between blocks.
func (r *Reader) readBlock() (btype uint32, body []byte, start int64, err error) {
	start = r.off
	h := r.hdr[:12]
	if btype, body, ok := r.takeBlock(); ok {
		return btype, body, start, nil
	}
	n, err := r.readFull(h[:8])
	if err != nil {
		if n == 0 && err == io.EOF {
			return 0, nil, start, io.EOF
		}
		return 0, nil, start, r.truncated("pcapng", "block header", start, 0, 8, n, err)
	}
	o := r.ord()
	btype = o.u32(h[0:4])
	var frame uint64
	if isPacketBlock(btype) {
		frame = r.stats.Packets + 1
	}
	hlen := 8
	minLen := uint32(12)
	if btype == blockSHB {
		// The byte-order magic sets the order of this block and of every
		// later block of the section.
		n, err := r.readFull(h[8:12])
		if err != nil {
			return 0, nil, start, r.truncated("pcapng", "SHB", start, 0, 12, 8+n, err)
		}
		switch {
		case h[8] == 0x4d && h[9] == 0x3c && h[10] == 0x2b && h[11] == 0x1a:
			r.be = false
		case h[8] == 0x1a && h[9] == 0x2b && h[10] == 0x3c && h[11] == 0x4d:
			r.be = true
		default:
			return 0, nil, start, &Error{Format: "pcapng", Where: "SHB", Field: "byte-order magic", Offset: start + 8,
				Msg: fmt.Sprintf("bad byte-order magic % x", h[8:12])}
		}
		o = r.ord()
		hlen = 12
		minLen = 28
	}
	blen := o.u32(h[4:8])
	switch {
	case blen < minLen:
		return 0, nil, start, &Error{Format: "pcapng", Where: blockName(btype), Field: "block total length", Offset: start + 4, Frame: frame,
			Msg: fmt.Sprintf("length %d is below the minimum %d (block type 0x%08x)", blen, minLen, btype)}
	case blen%4 != 0:
		return 0, nil, start, &Error{Format: "pcapng", Where: blockName(btype), Field: "block total length", Offset: start + 4, Frame: frame,
			Msg: fmt.Sprintf("length %d is not a multiple of 4 (block type 0x%08x)", blen, btype)}
	case blen > MaxBlockLen:
		return 0, nil, start, &Error{Format: "pcapng", Where: blockName(btype), Field: "block total length", Offset: start + 4, Frame: frame,
			Msg: fmt.Sprintf("length %d exceeds the limit %d (block type 0x%08x)", blen, MaxBlockLen, btype)}
	}
	rest := int(blen) - hlen
	body, err = r.readBody(rest)
	if err != nil {
		return 0, nil, start, r.truncated("pcapng", blockName(btype), start, frame, int(blen), hlen+len(body), err)
	}
	if trail := o.u32(body[rest-4:]); trail != blen {
		return 0, nil, start, &Error{Format: "pcapng", Where: blockName(btype), Field: "trailing block total length",
			Offset: start + int64(blen) - 4, Frame: frame,
			Msg: fmt.Sprintf("trailing length %d differs from leading length %d", trail, blen)}
	}
	return btype, body[:rest-4], start, nil
}

// takeBlock is readBlock's fast path: a whole block other than a section
// header, with sound lengths, that the buffered reader holds, taken in
// place. Anything else (false) is read, and its faults told, by readBlock.
func (r *Reader) takeBlock() (btype uint32, body []byte, ok bool) {
	if r.br == nil {
		return r.takeBlockMem()
	}
	if r.br.Buffered() < 12 {
		return 0, nil, false
	}
	h, _ := r.br.Peek(8)
	o := r.ord()
	btype, blen := o.u32(h[0:4]), o.u32(h[4:8])
	if btype == blockSHB || blen < 12 || blen%4 != 0 || blen > MaxBlockLen || int(blen) > r.br.Buffered() {
		return 0, nil, false
	}
	b, _ := r.br.Peek(int(blen))
	if o.u32(b[blen-4:]) != blen {
		return 0, nil, false
	}
	_, _ = r.br.Discard(int(blen))
	r.off += int64(blen)
	return btype, b[8 : blen-4 : blen-4], true
}

// takeBlockMem is takeBlock on a capture held in memory.
func (r *Reader) takeBlockMem() (btype uint32, body []byte, ok bool) {
	m := r.mem[r.pos:]
	if len(m) < 12 {
		return 0, nil, false
	}
	o := r.ord()
	btype, blen := o.u32(m[0:4]), o.u32(m[4:8])
	if btype == blockSHB || blen < 12 || blen%4 != 0 || blen > MaxBlockLen || int64(blen) > int64(len(m)) {
		return 0, nil, false
	}
	if o.u32(m[blen-4:]) != blen {
		return 0, nil, false
	}
	r.pos += int(blen)
	r.off += int64(blen)
	return btype, m[8 : blen-4 : blen-4], true
}

func (r *Reader) ord() order { return order(r.be) }

func (r *Reader) readFirstSHB() error {
	btype, body, start, err := r.readBlock()
	if err == io.EOF {
		err = &Error{Format: "pcapng", Where: "SHB", Msg: "empty input", Err: io.ErrUnexpectedEOF}
	}
	if err != nil {
		return err
	}
	if btype != blockSHB { // cannot happen: the magic was checked
		return &Error{Format: "pcapng", Where: "SHB", Offset: start, Msg: "first block is not a Section Header Block"}
	}
	return r.sectionHeader(body, start)
}

// sectionHeader starts a new section. body starts at the version fields
// (the byte-order magic was consumed by readBlock).
func (r *Reader) sectionHeader(body []byte, start int64) error {
	r.stats.Blocks.SHB++
	o := r.ord()
	if major := o.u16(body[0:2]); major != 1 {
		return &Error{Format: "pcapng", Where: "SHB", Field: "major version", Offset: start + 12,
			Msg: fmt.Sprintf("unsupported version %d.%d (want 1.x)", major, o.u16(body[2:4]))}
	}
	if r.stats.Blocks.SHB > 1 {
		r.section++
	}
	r.ifBase = len(r.stats.Interfaces)
	return nil
}

// iface maps a section-local interface id to the global interface index.
func (r *Reader) iface(id uint32, where, field string, off int64, frame uint64) (int, error) {
	n := len(r.stats.Interfaces) - r.ifBase
	if uint64(id) >= uint64(n) {
		return 0, &Error{Format: "pcapng", Where: where, Field: field, Offset: off, Frame: frame,
			Msg: fmt.Sprintf("interface id %d, but section %d defines only %d interfaces", id, r.section, n)}
	}
	return r.ifBase + int(id), nil
}

// options walks the options in b (which starts at stream offset base) and
// calls fn for each.
func (r *Reader) options(b []byte, base int64, where string, fn func(code uint16, val []byte, off int64) error) error {
	o := r.ord()
	pos := 0
	for len(b)-pos >= 4 {
		code := o.u16(b[pos:])
		l := int(o.u16(b[pos+2:]))
		if code == optEnd {
			return nil
		}
		if l > len(b)-pos-4 {
			return &Error{Format: "pcapng", Where: where, Field: "option length", Offset: base + int64(pos) + 2,
				Msg: fmt.Sprintf("option %d claims %d bytes, only %d left in the block", code, l, len(b)-pos-4)}
		}
		if err := fn(code, b[pos+4:pos+4+l], base+int64(pos)); err != nil {
			return err
		}
		pos += 4 + (l+3)&^3
	}
	return nil
}

// MaxInterfaces bounds the interfaces a pcapng file may describe (all
// sections): a real capture has a handful; a file of millions of
// Interface Description Blocks is refused with an error there, not held.
const MaxInterfaces = 1 << 16

func (r *Reader) interfaceDescription(body []byte, start int64) error {
	r.stats.Blocks.IDB++
	if len(r.stats.Interfaces) >= MaxInterfaces {
		return &Error{Format: "pcapng", Where: "IDB", Offset: start,
			Msg: fmt.Sprintf("more than %d interfaces described: not a capture this reader holds (a real one has a few)", MaxInterfaces)}
	}
	if len(body) < 8 {
		return &Error{Format: "pcapng", Where: "IDB", Offset: start, Msg: fmt.Sprintf("body of %d bytes is shorter than the 8 fixed bytes", len(body))}
	}
	o := r.ord()
	ifc := Interface{
		Section:  r.section,
		LinkType: layers.LinkType(o.u16(body[0:2])),
		SnapLen:  o.u32(body[4:8]),
		TSUnits:  1e6,
	}
	err := r.options(body[8:], start+16, "IDB", func(code uint16, val []byte, off int64) error {
		switch code {
		case optIfName:
			ifc.Name = string(val)
		case optTSResol:
			if len(val) != 1 {
				return &Error{Format: "pcapng", Where: "IDB", Field: "if_tsresol", Offset: off, Msg: fmt.Sprintf("length %d, want 1", len(val))}
			}
			v := val[0]
			if v&0x80 != 0 {
				e := v & 0x7f
				if e > 63 {
					return &Error{Format: "pcapng", Where: "IDB", Field: "if_tsresol", Offset: off + 4, Msg: fmt.Sprintf("resolution 2^-%d is finer than 2^-63", e)}
				}
				ifc.TSUnits = 1 << e
			} else {
				if v > 19 {
					return &Error{Format: "pcapng", Where: "IDB", Field: "if_tsresol", Offset: off + 4, Msg: fmt.Sprintf("resolution 10^-%d is finer than 10^-19", v)}
				}
				ifc.TSUnits = 1
				for range v {
					ifc.TSUnits *= 10
				}
			}
		case optTSOffset:
			if len(val) != 8 {
				return &Error{Format: "pcapng", Where: "IDB", Field: "if_tsoffset", Offset: off, Msg: fmt.Sprintf("length %d, want 8", len(val))}
			}
			ifc.TSOffset = int64(o.u64(val))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.stats.Interfaces = append(r.stats.Interfaces, ifc)
	return nil
}

// timestamp converts a pcapng timestamp of interface gi to a time.Time.
func (r *Reader) timestamp(gi int, hi, lo uint32) time.Time {
	ifc := &r.stats.Interfaces[gi]
	ts := uint64(hi)<<32 | uint64(lo)
	u := ifc.TSUnits
	sec, rem := ts/u, ts%u
	var nsec uint64
	switch {
	case u == 1e9:
		nsec = rem
	case u < 1e9 && 1e9%u == 0:
		nsec = rem * (1e9 / u)
	default:
		h, l := bits.Mul64(rem, 1e9) // rem < u, so the quotient fits
		nsec, _ = bits.Div64(h, l, u)
	}
	return time.Unix(int64(sec)+ifc.TSOffset, int64(nsec))
}

func (r *Reader) nextNG(p *Packet) error {
	for {
		btype, body, start, err := r.readBlock()
		if err != nil {
			return err
		}
		o := r.ord()
		frame := r.stats.Packets + 1
		switch btype {
		case blockSHB:
			if err := r.sectionHeader(body, start); err != nil {
				return err
			}
		case blockIDB:
			if err := r.interfaceDescription(body, start); err != nil {
				return err
			}
		case blockEPB:
			r.stats.Blocks.EPB++
			if len(body) < 20 {
				return &Error{Format: "pcapng", Where: "EPB", Offset: start, Frame: frame, Msg: fmt.Sprintf("body of %d bytes is shorter than the 20 fixed bytes", len(body))}
			}
			return r.packetBlock(p, o, body, o.u32(body[0:4]), "EPB", "captured packet length", start, frame)
		case blockOPB:
			r.stats.Blocks.OPB++
			if len(body) < 20 {
				return &Error{Format: "pcapng", Where: "OPB", Offset: start, Frame: frame, Msg: fmt.Sprintf("body of %d bytes is shorter than the 20 fixed bytes", len(body))}
			}
			return r.packetBlock(p, o, body, uint32(o.u16(body[0:2])), "OPB", "captured length", start, frame)
		case blockSPB:
			r.stats.Blocks.SPB++
			if len(body) < 4 {
				return &Error{Format: "pcapng", Where: "SPB", Offset: start, Frame: frame, Msg: fmt.Sprintf("body of %d bytes is shorter than the 4 fixed bytes", len(body))}
			}
			gi, err := r.iface(0, "SPB", "", start, frame)
			if err != nil {
				return err
			}
			orig := o.u32(body[0:4])
			data := body[4:]
			// The captured length is implicit: the original length cut
			// to the snap length, and never more than the block holds.
			if uint64(orig) < uint64(len(data)) {
				data = data[:orig]
			}
			if snap := r.stats.Interfaces[gi].SnapLen; snap != 0 && uint64(snap) < uint64(len(data)) {
				data = data[:snap]
			}
			r.fill(p, gi, data, orig, r.lastTime, start)
			return nil
		case blockISB:
			r.stats.Blocks.ISB++
			if err := r.interfaceStatistics(body, start); err != nil {
				return err
			}
		case blockDSB:
			r.stats.Blocks.DSB++
			if len(body) < 8 {
				return &Error{Format: "pcapng", Where: "DSB", Offset: start, Msg: fmt.Sprintf("body of %d bytes is shorter than the 8 fixed bytes", len(body))}
			}
			kind := o.u32(body[0:4])
			l := o.u32(body[4:8])
			if uint64(l) > uint64(len(body)-8) {
				return &Error{Format: "pcapng", Where: "DSB", Field: "secrets length", Offset: start + 12,
					Msg: fmt.Sprintf("secrets length %d exceeds the %d bytes left in the block", l, len(body)-8)}
			}
			countType(&r.stats.Secrets, &r.stats.OtherSecrets, kind)
			if r.OnSecrets != nil {
				r.OnSecrets(kind, body[8:8+l])
			}
		case blockNRB:
			r.stats.Blocks.NRB++
		case blockCustom, blockCustom2:
			r.stats.Blocks.Custom++
		default:
			r.stats.Blocks.Unknown++
			countType(&r.stats.UnknownTypes, &r.stats.OtherUnknownTypes, btype)
		}
	}
}

func (r *Reader) fill(p *Packet, gi int, data []byte, orig uint32, t time.Time, start int64) {
	r.lastTime = t
	p.Data = data
	p.Time = t
	p.LinkType = r.stats.Interfaces[gi].LinkType
	p.Iface = gi
	p.CapLen = len(data)
	p.OrigLen = int(orig)
	p.Offset = start
}

func (r *Reader) interfaceStatistics(body []byte, start int64) error {
	if len(body) < 12 {
		return &Error{Format: "pcapng", Where: "ISB", Offset: start, Msg: fmt.Sprintf("body of %d bytes is shorter than the 12 fixed bytes", len(body))}
	}
	o := r.ord()
	gi, err := r.iface(o.u32(body[0:4]), "ISB", "interface id", start+8, 0)
	if err != nil {
		return err
	}
	ifc := &r.stats.Interfaces[gi]
	return r.options(body[12:], start+20, "ISB", func(code uint16, val []byte, off int64) error {
		if code != optISBRecv && code != optISBDrop {
			return nil
		}
		if len(val) != 8 {
			return &Error{Format: "pcapng", Where: "ISB", Field: "option value", Offset: off, Msg: fmt.Sprintf("option %d has length %d, want 8", code, len(val))}
		}
		if code == optISBRecv {
			ifc.Received, ifc.ReceivedKnown = o.u64(val), true
		} else {
			ifc.Dropped, ifc.DroppedKnown = o.u64(val), true
		}
		return nil
	})
}

// packetBlock fills p from an Enhanced or (obsolete) Packet Block body:
// interface id (already read, as ifID), timestamp high and low, captured
// length, original length, data. body holds at least the 20 fixed bytes.
func (r *Reader) packetBlock(p *Packet, o order, body []byte, ifID uint32, where, capField string, start int64, frame uint64) error {
	gi, err := r.iface(ifID, where, "interface id", start+8, frame)
	if err != nil {
		return err
	}
	capLen := o.u32(body[12:16])
	if uint64(capLen) > uint64(len(body)-20) {
		return &Error{Format: "pcapng", Where: where, Field: capField, Offset: start + 20, Frame: frame,
			Msg: fmt.Sprintf("captured length %d exceeds the %d bytes left in the block", capLen, len(body)-20)}
	}
	r.fill(p, gi, body[20:20+capLen], o.u32(body[16:20]), r.timestamp(gi, o.u32(body[4:8]), o.u32(body[8:12])), start)
	return nil
}
