package flow

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/internal/part"
)

// Config tunes a Decoder. Zero fields take the documented defaults.
type Config struct {
	// UDPFilter selects the datagrams delivered to Handler.UDP; nil
	// accepts all. It is called for every UDP datagram, so it should be
	// cheap (compare ports first).
	UDPFilter func(src, dst netip.AddrPort) bool
	// TCPFilter selects the TCP packets to reassemble; nil accepts all.
	// It is called for every TCP packet, in both directions, and must
	// give the same answer for both directions of a connection.
	TCPFilter func(src, dst netip.AddrPort) bool

	// FragTimeout drops a datagram whose fragments are still incomplete
	// this long (in capture time) after its first fragment. Default 30 s.
	FragTimeout time.Duration
	// MaxFragments is the most fragments one datagram may have.
	// Default 64.
	MaxFragments int
	// MaxFragDatagrams is the most datagrams awaiting fragments at once.
	// Default 1024.
	MaxFragDatagrams int
	// MaxFragBytes is the most fragment bytes held at once. Default
	// 4 MiB; never less than 65535.
	MaxFragBytes int

	// TCPIdleTimeout closes a connection that saw no packet for this
	// long in capture time. Default 10 minutes.
	TCPIdleTimeout time.Duration
	// TCPGapTimeout gives up waiting for a missing segment once data
	// after it has waited this long in capture time; the gap is then
	// skipped and reported. Default 10 s.
	TCPGapTimeout time.Duration
	// MaxConnBuffer is the most out-of-order bytes buffered for one
	// connection. Default 4 MiB.
	MaxConnBuffer int
	// MaxTCPBuffer is the most out-of-order bytes buffered over all
	// connections. Default 64 MiB.
	MaxTCPBuffer int
	// MaxConns is the most connections tracked at once (each costs
	// about half a kilobyte besides its buffered data). Default 262144.
	MaxConns int

	// Parts cuts the bounds over all flows (MaxFragDatagrams,
	// MaxFragBytes, MaxTCPBuffer, MaxConns) into parts by the flow's pair
	// of IP addresses (dissect/internal/part), each part held to its
	// share on its own: a full part evicts or refuses within itself.
	// Default 1 (the bounds are over all flows), at most 64. A dissector
	// sets it from its configuration alone, and gives a parallel run's
	// workers whole parts, so that what the bounds keep does not depend
	// on the number of workers. A share is the bound divided by Parts,
	// rounded up, and at least what one flow may hold on its own (one
	// connection, MaxConnBuffer; one datagram, 65 535 bytes): the parts
	// together may then hold more than the bound, up to Parts times that
	// (with 64 parts and the defaults, 256 MiB of out-of-order TCP data
	// and 4 MiB of fragments).
	Parts int

	// ExternalClock makes the caller run the clock: Packet no longer
	// takes its time as the clock nor applies the timeouts; Advance does.
	// A worker of a parallel run (dissect's -j) sees part of the packets,
	// and gets the clock of all of them, so its timeouts fire where one
	// decoder's would.
	ExternalClock bool
}

// WithDefaults returns c with the defaults in place of its zero values.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.FragTimeout <= 0 {
		c.FragTimeout = 30 * time.Second
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = 64
	}
	if c.MaxFragDatagrams <= 0 {
		c.MaxFragDatagrams = 1024
	}
	if c.MaxFragBytes <= 0 {
		c.MaxFragBytes = 4 << 20
	}
	c.MaxFragBytes = max(c.MaxFragBytes, 65535)
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 10 * time.Minute
	}
	if c.TCPGapTimeout <= 0 {
		c.TCPGapTimeout = 10 * time.Second
	}
	if c.MaxConnBuffer <= 0 {
		c.MaxConnBuffer = 4 << 20
	}
	if c.MaxTCPBuffer <= 0 {
		c.MaxTCPBuffer = 64 << 20
	}
	c.MaxTCPBuffer = max(c.MaxTCPBuffer, c.MaxConnBuffer)
	if c.MaxConns <= 0 {
		c.MaxConns = 262144
	}
	c.Parts = min(max(c.Parts, 1), part.Max)
}

// partLimits are a part's shares of the bounds over all flows
// (Config.Parts).
type partLimits struct {
	fragDatagrams, fragBytes, tcpBuffer, conns int
}

func (c *Config) partLimits() partLimits {
	n := c.Parts
	return partLimits{fragDatagrams: part.Share(c.MaxFragDatagrams, n, 1), fragBytes: part.Share(c.MaxFragBytes, n, maxDatagram),
		tcpBuffer: part.Share(c.MaxTCPBuffer, n, c.MaxConnBuffer), conns: part.Share(c.MaxConns, n, 1)}
}

// partOf is the part of the flows between a and b (16-byte forms).
func (c *Config) partOf(a, b [16]byte) int {
	if c.Parts <= 1 {
		return 0
	}
	return part.Of(part.Hash16(a, b), c.Parts)
}

// sweepInterval is how often (in capture time) timeouts are checked.
const sweepInterval = int64(time.Second)

// Decoder turns link-layer frames into UDP datagrams and reassembled TCP
// streams. It is not safe for concurrent use, and the Handler must not call
// back into it.
type Decoder struct {
	cfg Config
	h   Handler

	now       int64 // latest capture time seen (Unix ns)
	nextSweep int64

	st         Stats
	linkCount  [512]uint64
	linkOther  map[layers.LinkType]uint64
	otherProto [256]uint64

	dg   Datagram
	frag defragger
	tcp  tcpState
	lim  partLimits // each part's share of the bounds (Config.Parts)
}

// NewDecoder returns a Decoder that reports to h.
func NewDecoder(cfg Config, h Handler) *Decoder {
	cfg.setDefaults()
	d := &Decoder{cfg: cfg, h: h, lim: cfg.partLimits()}
	d.frag.init(&d.cfg, &d.lim, &d.st)
	d.tcp.init(d)
	return d
}

// Decode decodes one captured packet.
func (d *Decoder) Decode(p *capture.Packet) {
	d.Packet(p.Data, p.LinkType, p.Time, p.Frame)
}

// Packet decodes one frame of the given link type, captured at t, with
// 1-based frame number frame. data is not retained after the call.
func (d *Decoder) Packet(data []byte, lt layers.LinkType, t time.Time, frame uint64) {
	d.st.Packets++
	if int(lt) < len(d.linkCount) {
		d.linkCount[lt]++
	} else {
		if d.linkOther == nil {
			d.linkOther = make(map[layers.LinkType]uint64)
		}
		d.linkOther[lt]++
	}
	if !d.cfg.ExternalClock {
		d.Advance(d.Clock(t))
	}
	pk := pkt{data: data, t: t, frame: frame}

	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			d.problem(&pk, LayerEthernet, 0, true, "shorter than the 14-byte header")
			return
		}
		d.ether(&pk, binary.BigEndian.Uint16(data[12:14]), 14, LayerEthernet)
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			d.problem(&pk, LayerSLL, 0, true, "shorter than the 16-byte header")
			return
		}
		d.ether(&pk, binary.BigEndian.Uint16(data[14:16]), 16, LayerSLL)
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			d.problem(&pk, LayerSLL2, 0, true, "shorter than the 20-byte header")
			return
		}
		d.ether(&pk, binary.BigEndian.Uint16(data[0:2]), 20, LayerSLL2)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			d.problem(&pk, LayerNull, 0, true, "shorter than the 4-byte header")
			return
		}
		// The address family is in the capturing host's byte order
		// (DLT_NULL) or in network order (DLT_LOOP); accept both.
		af := binary.LittleEndian.Uint32(data)
		if af&0xffff0000 != 0 {
			af = binary.BigEndian.Uint32(data)
		}
		switch af {
		case 2:
			d.ipv4(&pk, 4)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			d.ipv6(&pk, 4)
		default:
			d.st.NonIP++
		}
	case layers.LinkTypeRaw, 12, 14:
		d.rawIP(&pk, 0)
	case layers.LinkTypeIPv4:
		d.ipv4(&pk, 0)
	case layers.LinkTypeIPv6:
		d.ipv6(&pk, 0)
	default:
		d.st.UnsupportedLink++
	}
}

// pkt carries the frame being decoded.
type pkt struct {
	data  []byte
	t     time.Time
	frame uint64
}

func (d *Decoder) problem(p *pkt, l Layer, off int, truncated bool, what string) {
	if truncated {
		d.st.Truncated[l]++
	} else {
		d.st.Malformed[l]++
	}
	if len(d.st.Problems) < MaxProblems {
		d.st.Problems = append(d.st.Problems, Problem{Frame: p.frame, Layer: l, Offset: off, Truncated: truncated, What: what})
	}
}

const maxVLANTags = 8

// ether dispatches on an EtherType found at the end of a link header,
// unwrapping 802.1Q / 802.1ad (QinQ) tags.
func (d *Decoder) ether(p *pkt, et uint16, off int, l Layer) {
	for tags := 0; et == 0x8100 || et == 0x88a8 || et == 0x9100; tags++ {
		if tags == maxVLANTags {
			d.problem(p, LayerVLAN, off, false, "more than 8 stacked VLAN tags")
			return
		}
		if len(p.data)-off < 4 {
			d.problem(p, LayerVLAN, off, true, "shorter than the 4-byte tag")
			return
		}
		et = binary.BigEndian.Uint16(p.data[off+2:])
		off += 4
	}
	switch et {
	case 0x0800:
		d.ipv4(p, off)
	case 0x86dd:
		d.ipv6(p, off)
	default:
		d.st.NonIP++
	}
}

func (d *Decoder) rawIP(p *pkt, off int) {
	if len(p.data) <= off {
		d.problem(p, LayerIPv4, off, true, "no IP header")
		return
	}
	switch p.data[off] >> 4 {
	case 4:
		d.ipv4(p, off)
	case 6:
		d.ipv6(p, off)
	default:
		d.st.NonIP++
	}
}

// ipv4 decodes an IPv4 header at off.
func (d *Decoder) ipv4(p *pkt, off int) {
	b := p.data[off:]
	if len(b) < 20 {
		d.problem(p, LayerIPv4, off, true, "shorter than the 20-byte header")
		return
	}
	d.st.IPv4++
	if b[0]>>4 != 4 {
		d.problem(p, LayerIPv4, off, false, "version is not 4")
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		d.problem(p, LayerIPv4, off, false, "header length below 20")
		return
	}
	if ihl > len(b) {
		d.problem(p, LayerIPv4, off, true, "options extend past the captured bytes")
		return
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		// Segmentation offload on the capturing host: the real length
		// is what was captured.
		total = len(b)
	}
	if total < ihl {
		d.problem(p, LayerIPv4, off+2, false, "total length below header length")
		return
	}
	if total > len(b) {
		d.problem(p, LayerIPv4, off+2, true, "total length exceeds the captured bytes")
		return
	}
	b = b[:total] // drop link-layer padding
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	ff := binary.BigEndian.Uint16(b[6:8])
	more := ff&0x2000 != 0
	fragOff := int(ff&0x1fff) * 8
	payload := b[ihl:]
	if more || fragOff != 0 {
		var k fragKey
		k.src = src.As16()
		k.dst = dst.As16()
		k.id = uint32(binary.BigEndian.Uint16(b[4:6]))
		k.proto = proto
		full, n := d.frag.add(k, fragOff, payload, more, proto, d.now)
		if full == nil {
			d.st.FragHeld++
			return
		}
		d.transport(p, proto, src, dst, full, -1, n)
		return
	}
	d.transport(p, proto, src, dst, payload, off+ihl, 0)
}

// ipv6 decodes an IPv6 header at off and walks its extension headers.
func (d *Decoder) ipv6(p *pkt, off int) {
	b := p.data[off:]
	if len(b) < 40 {
		d.problem(p, LayerIPv6, off, true, "shorter than the 40-byte header")
		return
	}
	d.st.IPv6++
	if b[0]>>4 != 6 {
		d.problem(p, LayerIPv6, off, false, "version is not 6")
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		// Jumbogram or segmentation offload: use what was captured.
		plen = len(b) - 40
	}
	if 40+plen > len(b) {
		d.problem(p, LayerIPv6, off+4, true, "payload length exceeds the captured bytes")
		return
	}
	b = b[:40+plen]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	d.ipv6Next(p, b[6], src, dst, b[40:], off+40, 0)
}

const maxExtHeaders = 16

// ipv6Next walks IPv6 extension headers starting with header nh at
// payload (at frame offset off, or -1 when payload is a reassembled
// buffer).
func (d *Decoder) ipv6Next(p *pkt, nh uint8, src, dst netip.Addr, payload []byte, off int, frags int) {
	pos := 0
	for range maxExtHeaders {
		b := payload[pos:]
		switch nh {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(b) < 8 {
				d.problem(p, LayerIPv6Ext, at(off, pos), true, "shorter than 8 bytes")
				return
			}
			l := (int(b[1]) + 1) * 8
			if l > len(b) {
				d.problem(p, LayerIPv6Ext, at(off, pos), true, "header length exceeds the payload")
				return
			}
			nh = b[0]
			pos += l
		case 51: // authentication header
			if len(b) < 12 {
				d.problem(p, LayerIPv6Ext, at(off, pos), true, "AH shorter than 12 bytes")
				return
			}
			l := (int(b[1]) + 2) * 4
			if l > len(b) {
				d.problem(p, LayerIPv6Ext, at(off, pos), true, "AH length exceeds the payload")
				return
			}
			nh = b[0]
			pos += l
		case 44: // fragment
			if len(b) < 8 {
				d.problem(p, LayerFragment, at(off, pos), true, "shorter than the 8-byte fragment header")
				return
			}
			if frags != 0 {
				d.problem(p, LayerFragment, at(off, pos), false, "fragment header inside a reassembled datagram")
				return
			}
			fo := binary.BigEndian.Uint16(b[2:4])
			fragOff := int(fo &^ 7)
			more := fo&1 != 0
			if fragOff == 0 && !more {
				// Atomic fragment (RFC 6946): not really fragmented.
				nh = b[0]
				pos += 8
				continue
			}
			var k fragKey
			k.src = src.As16()
			k.dst = dst.As16()
			k.id = binary.BigEndian.Uint32(b[4:8])
			k.v6 = true
			full, n := d.frag.add(k, fragOff, b[8:], more, b[0], d.now)
			if full == nil {
				d.st.FragHeld++
				return
			}
			// The reassembled fragmentable part starts with the next
			// header named by the first fragment.
			nh, payload, pos, off, frags = d.frag.lastNH, full, 0, -1, n
		default:
			d.transport(p, nh, src, dst, payload[pos:], at(off, pos), frags)
			return
		}
	}
	d.problem(p, LayerIPv6Ext, at(off, pos), false, "more than 16 extension headers")
}

// transport dispatches an IP payload. off is its offset in the frame, or
// -1 when it is a reassembled buffer; frags is the number of fragments it
// was reassembled from.
func (d *Decoder) transport(p *pkt, proto uint8, src, dst netip.Addr, b []byte, off int, frags int) {
	switch proto {
	case 17:
		d.udp(p, src, dst, b, off, frags)
	case 6:
		d.tcpPacket(p, src, dst, b, off)
	default:
		d.otherProto[proto]++
	}
}

func (d *Decoder) udp(p *pkt, src, dst netip.Addr, b []byte, off int, frags int) {
	if len(b) < 8 {
		d.problem(p, LayerUDP, off, true, "shorter than the 8-byte header")
		return
	}
	ulen := int(binary.BigEndian.Uint16(b[4:6]))
	if ulen == 0 && len(b) > 65535 {
		ulen = len(b) // jumbogram (RFC 2675)
	}
	if ulen < 8 {
		d.problem(p, LayerUDP, at(off, 4), false, "length below 8")
		return
	}
	if ulen > len(b) {
		d.problem(p, LayerUDP, at(off, 4), true, "length exceeds the IP payload")
		return
	}
	sp := netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:2]))
	dp := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:4]))
	if d.cfg.UDPFilter != nil && !d.cfg.UDPFilter(sp, dp) {
		d.st.UDPFiltered++
		return
	}
	d.st.UDP++
	dg := &d.dg
	dg.Time = p.t
	dg.Frame = p.frame
	dg.Src = sp
	dg.Dst = dp
	dg.Payload = b[8:ulen]
	dg.Fragments = frags
	d.h.UDP(dg)
	dg.Payload = nil
}

// at returns off+n, or -1 when off is -1 (a reassembled buffer).
func at(off, n int) int {
	if off < 0 {
		return -1
	}
	return off + n
}

// Flush ends the input: buffered TCP data is delivered across its gaps,
// every connection is closed with CloseEnd, and incomplete fragment sets are
// dropped (counted as FragEndOfInput).
func (d *Decoder) Flush() {
	d.tcp.flushAll()
	d.frag.dropAll(FragEndOfInput)
}

// Clock is what the clock reads after a packet captured at t: the latest
// capture time seen, and whether the timeouts are due (a caller running
// the clock for several decoders keeps its own Clock and gives the result
// to Advance; the decoder's state does not change).
func (d *Decoder) Clock(t time.Time) (now int64, sweep bool) {
	now = max(d.now, t.UnixNano())
	return now, now >= d.nextSweep
}

// Advance sets the clock to now and, with sweep, applies the timeouts.
func (d *Decoder) Advance(now int64, sweep bool) {
	d.now = max(d.now, now)
	if sweep {
		d.sweep()
	}
}

// sweep applies the capture-time timeouts.
func (d *Decoder) sweep() {
	d.nextSweep = d.now + sweepInterval
	d.frag.expire(d.now)
	d.tcp.expire(d.now)
}

// Stats returns a snapshot of the counters.
func (d *Decoder) Stats() Stats {
	s := d.st
	s.Problems = slices.Clone(d.st.Problems)
	s.LinkTypes = make(map[layers.LinkType]uint64)
	for lt, n := range d.linkCount {
		if n != 0 {
			s.LinkTypes[layers.LinkType(lt)] = n
		}
	}
	for lt, n := range d.linkOther {
		s.LinkTypes[lt] = n
	}
	s.OtherTransport = make(map[uint8]uint64)
	for p, n := range d.otherProto {
		if n != 0 {
			s.OtherTransport[uint8(p)] = n
		}
	}
	s.FragPending = len(d.frag.m)
	s.FragBytes = d.frag.pending
	s.TCPOpen = len(d.tcp.conns)
	s.TCPBuffered = d.tcp.buffered
	return s
}
