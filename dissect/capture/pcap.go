package capture

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// readPcapHeader reads the 24-byte classic pcap file header.
func (r *Reader) readPcapHeader() error {
	h := r.pcapHdr[:]
	if n, err := r.readFull(h); err != nil {
		return r.truncated("pcap", "file header", 0, 0, len(h), n, err)
	}
	r.recHdr = 16
	switch {
	case h[0] == 0xd4: // d4 c3 b2 a1
		r.be, r.nanos = false, false
	case h[0] == 0x4d: // 4d 3c b2 a1
		r.be, r.nanos = false, true
	case h[0] == 0x34: // 34 cd b2 a1: Kuznetzov's modified pcap
		r.be, r.recHdr = false, 24
	case h[2] == 0xcd: // a1 b2 cd 34
		r.be, r.recHdr = true, 24
	default:
		r.be = true
		r.nanos = h[2] == 0x3c // a1 b2 3c 4d
	}
	o := order(r.be)
	if major := o.u16(h[4:6]); major != 2 {
		return &Error{Format: "pcap", Where: "file header", Field: "version_major", Offset: 4,
			Msg: fmt.Sprintf("unsupported version %d.%d (want 2.x)", major, o.u16(h[6:8]))}
	}
	snap := o.u32(h[16:20])
	r.maxCap = minCapLimit
	if snap > minCapLimit {
		r.maxCap = int(min(snap, MaxBlockLen))
	}
	// The low 16 bits are the link type; the upper bits may carry FCS
	// information, which is not needed here.
	r.pcapLT = layers.LinkType(o.u32(h[20:24]) & 0xffff)
	r.stats.Format = "pcap"
	if r.nanos {
		r.stats.Format = "pcap-ns"
	}
	if r.recHdr == 24 {
		r.stats.Format = "pcap-modified"
	}
	r.stats.Interfaces = append(r.stats.Interfaces, Interface{LinkType: r.pcapLT, SnapLen: snap, TSUnits: r.pcapUnits()})
	return nil
}

func (r *Reader) pcapUnits() uint64 {
	if r.nanos {
		return 1e9
	}
	return 1e6
}

// nextPcap reads one classic pcap record.
func (r *Reader) nextPcap(p *Packet) error {
	start := r.off
	frame := r.stats.Packets + 1
	// The modified format appends ifindex, protocol, packet type and
	// padding (8 bytes) to the usual 16-byte record header.
	h, n, err := r.readHeader(r.hdr[:r.recHdr])
	if err != nil {
		if n == 0 && err == io.EOF {
			return io.EOF
		}
		return r.truncated("pcap", "record header", start, frame, len(h), n, err)
	}
	o := order(r.be)
	sec := o.u32(h[0:4])
	frac := o.u32(h[4:8])
	capLen := o.u32(h[8:12])
	origLen := o.u32(h[12:16])
	if sec|frac|capLen|origLen == 0 && r.mem != nil && r.shrunk() {
		return &FaultError{} // zeros past the new end of a truncated file, not a record
	}
	if uint64(capLen) > uint64(r.maxCap) {
		return &Error{Format: "pcap", Where: "record header", Field: "incl_len", Offset: start + 8, Frame: frame,
			Msg: fmt.Sprintf("captured length %d exceeds limit %d (snaplen %d)", capLen, r.maxCap, r.stats.Interfaces[0].SnapLen)}
	}
	data, err := r.readBody(int(capLen))
	if err != nil {
		return r.truncated("pcap", "record", start, frame, r.recHdr+int(capLen), r.recHdr+len(data), err)
	}
	nsec := int64(frac)
	if !r.nanos {
		nsec *= 1000
	}
	p.Data = data
	p.Time = time.Unix(int64(sec), nsec)
	p.LinkType = r.pcapLT
	p.Iface = 0
	p.CapLen = int(capLen)
	p.OrigLen = int(origLen)
	p.Offset = start
	return nil
}
