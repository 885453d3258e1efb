package capture

import (
	"bytes"
	"encoding/binary"
)

// ngBuilder writes pcapng blocks by hand, in either byte order, so tests can
// produce what no library writer does (big-endian sections, several
// sections, power-of-2 resolutions, SPB/OPB, bad lengths).
type ngBuilder struct {
	o   binary.ByteOrder
	buf bytes.Buffer
	// starts records the offset of every block written.
	starts []int
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (b *ngBuilder) u16(v uint16) []byte { x := make([]byte, 2); b.o.PutUint16(x, v); return x }
func (b *ngBuilder) u32(v uint32) []byte { x := make([]byte, 4); b.o.PutUint32(x, v); return x }
func (b *ngBuilder) u64(v uint64) []byte { x := make([]byte, 8); b.o.PutUint64(x, v); return x }

// opt encodes one option (padded).
func (b *ngBuilder) opt(code uint16, val []byte) []byte {
	out := append(b.u16(code), b.u16(uint16(len(val)))...)
	return pad4(append(out, val...))
}

func (b *ngBuilder) endOpt() []byte { return []byte{0, 0, 0, 0} }

// block writes a block with the given type and body (padded to 4).
func (b *ngBuilder) block(typ uint32, body []byte) {
	body = pad4(append([]byte(nil), body...))
	l := uint32(12 + len(body))
	b.starts = append(b.starts, b.buf.Len())
	b.buf.Write(b.u32(typ))
	b.buf.Write(b.u32(l))
	b.buf.Write(body)
	b.buf.Write(b.u32(l))
}

func (b *ngBuilder) shb(opts ...[]byte) {
	body := b.u32(0x1A2B3C4D)
	body = append(body, b.u16(1)...)
	body = append(body, b.u16(0)...)
	body = append(body, b.u64(^uint64(0))...)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(blockSHB, body)
}

func (b *ngBuilder) idb(lt uint16, snap uint32, opts ...[]byte) {
	body := append(b.u16(lt), 0, 0)
	body = append(body, b.u32(snap)...)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(blockIDB, body)
}

func (b *ngBuilder) epb(ifid uint32, ts uint64, data []byte, orig uint32) {
	body := b.u32(ifid)
	body = append(body, b.u32(uint32(ts>>32))...)
	body = append(body, b.u32(uint32(ts))...)
	body = append(body, b.u32(uint32(len(data)))...)
	body = append(body, b.u32(orig)...)
	body = append(body, pad4(append([]byte(nil), data...))...)
	b.block(blockEPB, body)
}

func (b *ngBuilder) opb(ifid, drops uint16, ts uint64, data []byte, orig uint32) {
	body := append(b.u16(ifid), b.u16(drops)...)
	body = append(body, b.u32(uint32(ts>>32))...)
	body = append(body, b.u32(uint32(ts))...)
	body = append(body, b.u32(uint32(len(data)))...)
	body = append(body, b.u32(orig)...)
	body = append(body, pad4(append([]byte(nil), data...))...)
	b.block(blockOPB, body)
}

func (b *ngBuilder) spb(orig uint32, data []byte) {
	body := append(b.u32(orig), data...)
	b.block(blockSPB, body)
}

func (b *ngBuilder) isb(ifid uint32, ts uint64, opts ...[]byte) {
	body := b.u32(ifid)
	body = append(body, b.u32(uint32(ts>>32))...)
	body = append(body, b.u32(uint32(ts))...)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(blockISB, body)
}

func (b *ngBuilder) dsb(kind uint32, data []byte) {
	body := append(b.u32(kind), b.u32(uint32(len(data)))...)
	body = append(body, data...)
	b.block(blockDSB, body)
}

// pcapFile writes a classic pcap file by hand in any of the four variants.
func pcapFile(o binary.ByteOrder, nanos bool, snap uint32, lt uint32, recs []pcapRec) []byte {
	var buf bytes.Buffer
	h := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	o.PutUint32(h[0:], magic)
	o.PutUint16(h[4:], 2)
	o.PutUint16(h[6:], 4)
	o.PutUint32(h[16:], snap)
	o.PutUint32(h[20:], lt)
	buf.Write(h)
	for _, r := range recs {
		rh := make([]byte, 16)
		o.PutUint32(rh[0:], r.sec)
		o.PutUint32(rh[4:], r.frac)
		o.PutUint32(rh[8:], uint32(len(r.data)))
		o.PutUint32(rh[12:], r.orig)
		buf.Write(rh)
		buf.Write(r.data)
	}
	return buf.Bytes()
}

// modifiedPcap writes Kuznetzov's modified pcap (24-byte record headers).
func modifiedPcap(o binary.ByteOrder, recs []pcapRec) []byte {
	var buf bytes.Buffer
	h := make([]byte, 24)
	o.PutUint32(h[0:], 0xa1b2cd34)
	o.PutUint16(h[4:], 2)
	o.PutUint16(h[6:], 4)
	o.PutUint32(h[16:], 65535)
	o.PutUint32(h[20:], 1)
	buf.Write(h)
	for _, r := range recs {
		rh := make([]byte, 24)
		o.PutUint32(rh[0:], r.sec)
		o.PutUint32(rh[4:], r.frac)
		o.PutUint32(rh[8:], uint32(len(r.data)))
		o.PutUint32(rh[12:], r.orig)
		o.PutUint32(rh[16:], 7)      // ifindex
		o.PutUint16(rh[20:], 0x0800) // protocol
		rh[22] = 4                   // outgoing
		buf.Write(rh)
		buf.Write(r.data)
	}
	return buf.Bytes()
}

type pcapRec struct {
	sec, frac, orig uint32
	data            []byte
}
