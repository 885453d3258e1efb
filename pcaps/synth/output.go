package synth

import (
	"bufio"
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// item kinds.
const (
	kDgram  = iota // a UDP payload of a session (DTLS)
	kStream        // a TCP payload write of a session (TLS): cut into segments
	kTCPCtl        // a TCP segment without payload of a session: SYN, SYN-ACK, ACK, FIN
	kRaw           // a packet outside the control connections (background)
)

// TCP control segments.
const (
	tcpSYN = iota + 1
	tcpSYNACK
	tcpACK     // the third packet of the handshake
	tcpPureACK // an acknowledgement, sent only when it acknowledges new data
	tcpFIN
)

// item is one thing the output stage turns into frames at time t.
type item struct {
	t    vt
	seq  uint64
	s    *session
	side int8
	kind uint8
	ctl  uint8
	b    []byte
	rec  *recInfo
	raw  *rawPkt
}

// recInfo marks an item that carries one application record.
type recInfo struct {
	plain       []byte
	decryptable bool
	dup         bool // a duplicate of a datagram already captured
	lost        bool // lost before the capture point: not written
	clear       bool // a vdaemon message in the clear (no DTLS/TLS record)
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// RecordLog describes one application record as it was written, for
// tests that compare with what tshark decrypts.
type RecordLog struct {
	Frame       int       // 1-based number of the frame that completes the record
	Time        time.Time // its capture time
	Session     int       // index in the manifest's session list
	FromClient  bool
	Plain       []byte
	Dup         bool
	Decryptable bool
	// Clear: a vdaemon message sent in the clear (plaintext-control), a
	// UDP payload of its own and no DTLS/TLS record: not counted in the
	// manifest's records nor in plaintext_sha256 (params["clear_messages"]).
	Clear bool
}

// output is the stage that frames items in time order and writes them.
type output struct {
	c      *config
	epoch  time.Time
	end    vt
	h      itemHeap
	seq    uint64
	ng     *pcapgo.NgWriter
	pc     *pcapgo.Writer
	ngBuf  *bufio.Writer
	pcBuf  *bufio.Writer
	sb     gopacket.SerializeBuffer
	sb2    gopacket.SerializeBuffer
	lastTS vt
	frames int
	first  vt
	last   vt
	hash   hash.Hash
	// counters
	records, decryptable int
	clear                int // vdaemon messages in the clear (not records)
	dups, lostHellos     int
	reordered            int
	fragmented           int
	tcpSegments          int
	bytes                int64
	onRecord             func(RecordLog)
	ipid                 map[netip.Addr]uint16
	// tap, when not nil, hears every transport-level action of a control
	// connection the capture shows, in capture order (live mode).
	tap func(livePkt) error
}

var gwMAC = [6]byte{0x02, 0x5d, 0xff, 0, 0, 1}

func newOutput(c *config, epoch time.Time, ngw, pcw io.Writer) *output {
	o := &output{c: c, epoch: epoch, end: vtDur(c.Duration), sb: gopacket.NewSerializeBuffer(),
		sb2: gopacket.NewSerializeBuffer(), first: -1, hash: sha256.New(), ipid: map[netip.Addr]uint16{}}
	if ngw != nil {
		o.ngBuf = bufio.NewWriterSize(ngw, 1<<20)
	}
	if pcw != nil {
		o.pcBuf = bufio.NewWriterSize(pcw, 1<<20)
	}
	return o
}

// writeHeaders writes the file headers and, in the pcapng file, a
// Decryption Secrets Block holding keylog (the NSS key log), as
// `editcap --inject-secrets tls,KEYS` does.
func (o *output) writeHeaders(keylog []byte) error {
	if o.pcBuf != nil {
		o.pc = pcapgo.NewWriterNanos(o.pcBuf)
		if err := o.pc.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return err
		}
	}
	if o.ngBuf != nil {
		intf := pcapgo.NgInterface{Name: "span0", Description: "controller data centre SPAN port (simulated)",
			LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9}
		ng, err := pcapgo.NewNgWriterInterface(o.ngBuf, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Application: "ompscope synth", Comment: "simulated Cisco SD-WAN control plane; keys in the DSB"}})
		if err != nil {
			return err
		}
		if err := ng.Flush(); err != nil {
			return err
		}
		if len(keylog) > 0 {
			if err := writeDSB(o.ngBuf, keylog); err != nil {
				return err
			}
		}
		o.ng = ng
	}
	return nil
}

// secretsTLSKeyLog is the DSB secrets type of an NSS key log ("TLSK").
const secretsTLSKeyLog = 0x544c534b

// writeDSB writes a pcapng Decryption Secrets Block (little endian, as
// pcapgo writes the rest of the file).
func writeDSB(w io.Writer, secrets []byte) error {
	pad := (4 - len(secrets)%4) % 4
	total := 12 + 8 + len(secrets) + pad
	b := make([]byte, 0, total)
	b = binary.LittleEndian.AppendUint32(b, 0x0000000A)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, secretsTLSKeyLog)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(secrets)))
	b = append(b, secrets...)
	b = append(b, make([]byte, pad)...)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	_, err := w.Write(b)
	return err
}

func (o *output) push(it *item) {
	it.seq = o.seq
	o.seq++
	heap.Push(&o.h, it)
}

// flush writes every item stamped before upTo.
func (o *output) flush(upTo vt) error {
	for len(o.h) > 0 && o.h[0].t < upTo {
		it := heap.Pop(&o.h).(*item)
		if it.t > o.end {
			continue // after the end of the capture
		}
		if err := o.emit(it); err != nil {
			return err
		}
	}
	return nil
}

func (o *output) close() error {
	if err := o.flush(o.end + 1); err != nil {
		return err
	}
	if o.ng != nil {
		if err := o.ng.Flush(); err != nil {
			return err
		}
		if err := o.ngBuf.Flush(); err != nil {
			return err
		}
	}
	if o.pcBuf != nil {
		if err := o.pcBuf.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writeFrame writes one frame to both files at t (kept in order, to the
// microsecond so that both files carry the same times).
func (o *output) writeFrame(t vt, data []byte) error {
	t = t / vtUS * vtUS
	if t < o.lastTS {
		t = o.lastTS
	}
	o.lastTS = t
	if o.first < 0 {
		o.first = t
	}
	o.last = t
	o.frames++
	o.bytes += int64(len(data))
	ci := gopacket.CaptureInfo{Timestamp: o.epoch.Add(time.Duration(t)), CaptureLength: len(data), Length: len(data)}
	if o.pc != nil {
		if err := o.pc.WritePacket(ci, data); err != nil {
			return err
		}
	}
	if o.ng != nil {
		if err := o.ng.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return nil
}

// endpoint is one end of a packet as framed.
type endpoint struct {
	ap   netip.AddrPort
	mac  [6]byte
	ttl  uint8
	ipid netip.Addr // whose IP id counter
}

func (o *output) nextID(a netip.Addr) uint16 {
	o.ipid[a]++
	return o.ipid[a]
}

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// l2 returns the link layers of a frame.
func l2(src, dst [6]byte, vlan uint16, v6 bool) []gopacket.SerializableLayer {
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: src[:], DstMAC: dst[:], EthernetType: et}
	if vlan == 0 {
		return []gopacket.SerializableLayer{eth}
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	return []gopacket.SerializableLayer{eth, &layers.Dot1Q{VLANIdentifier: vlan, Type: et}}
}

func netLayer(src, dst endpoint, proto layers.IPProtocol, id uint16, df bool) (gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.ap.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: src.ttl, Protocol: proto, Id: id,
			SrcIP: src.ap.Addr().AsSlice(), DstIP: dst.ap.Addr().AsSlice()}
		if df {
			ip.Flags = layers.IPv4DontFragment
		}
		return ip, ip
	}
	ip := &layers.IPv6{Version: 6, HopLimit: src.ttl, NextHeader: proto,
		SrcIP: src.ap.Addr().AsSlice(), DstIP: dst.ap.Addr().AsSlice()}
	return ip, ip
}

// writeUDP frames a UDP datagram, as IP fragments when it does not fit
// the MTU.
func (o *output) writeUDP(t vt, src, dst endpoint, vlan uint16, payload []byte) (int, error) {
	v6 := src.ap.Addr().Is6()
	id := o.nextID(src.ipid)
	nl, nw := netLayer(src, dst, layers.IPProtocolUDP, id, false)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.ap.Port()), DstPort: layers.UDPPort(dst.ap.Port())}
	if err := udp.SetNetworkLayerForChecksum(nw); err != nil {
		return 0, err
	}
	hdr := 20
	if v6 {
		hdr = 40
	}
	if hdr+8+len(payload) <= o.c.MTU {
		ls := append(l2(src.mac, dst.mac, vlan, v6), nl, udp, gopacket.Payload(payload))
		if err := gopacket.SerializeLayers(o.sb, serOpts, ls...); err != nil {
			return 0, err
		}
		return 1, o.writeFrame(t, o.sb.Bytes())
	}
	// The whole datagram (UDP header and payload, checksum over all of
	// it), then cut into fragments of a multiple of 8 bytes.
	if err := gopacket.SerializeLayers(o.sb2, serOpts, udp, gopacket.Payload(payload)); err != nil {
		return 0, err
	}
	whole := o.sb2.Bytes()
	per := (o.c.MTU - hdr) &^ 7
	if v6 {
		per = (o.c.MTU - hdr - 8) &^ 7
	}
	n := 0
	for off := 0; off < len(whole); off += per {
		end := off + per
		more := true
		if end >= len(whole) {
			end, more = len(whole), false
		}
		var ls []gopacket.SerializableLayer
		if v6 {
			ip := &layers.IPv6{Version: 6, HopLimit: src.ttl, NextHeader: layers.IPProtocolIPv6Fragment,
				SrcIP: src.ap.Addr().AsSlice(), DstIP: dst.ap.Addr().AsSlice()}
			fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: uint16(off / 8),
				MoreFragments: more, Identification: uint32(id) | 0x5d000000}
			ls = append(l2(src.mac, dst.mac, vlan, true), ip, fh, gopacket.Payload(whole[off:end]))
		} else {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: src.ttl, Protocol: layers.IPProtocolUDP, Id: id,
				FragOffset: uint16(off / 8), SrcIP: src.ap.Addr().AsSlice(), DstIP: dst.ap.Addr().AsSlice()}
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
			ls = append(l2(src.mac, dst.mac, vlan, false), ip, gopacket.Payload(whole[off:end]))
		}
		if err := gopacket.SerializeLayers(o.sb, serOpts, ls...); err != nil {
			return n, err
		}
		if err := o.writeFrame(t+vt(n)*12*vtUS, o.sb.Bytes()); err != nil {
			return n, err
		}
		n++
	}
	o.fragmented++
	return n, nil
}

// tcpSeg describes one TCP segment.
type tcpSeg struct {
	seq, ack                 uint32
	syn, ack_, fin, psh, rst bool
	win                      uint16
	opts                     []layers.TCPOption
}

func (o *output) writeTCP(t vt, src, dst endpoint, vlan uint16, sg tcpSeg, payload []byte) error {
	v6 := src.ap.Addr().Is6()
	nl, nw := netLayer(src, dst, layers.IPProtocolTCP, o.nextID(src.ipid), true)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.ap.Port()), DstPort: layers.TCPPort(dst.ap.Port()),
		Seq: sg.seq, Ack: sg.ack, SYN: sg.syn, ACK: sg.ack_, FIN: sg.fin, PSH: sg.psh, RST: sg.rst,
		Window: sg.win, Options: sg.opts}
	if err := tcp.SetNetworkLayerForChecksum(nw); err != nil {
		return err
	}
	ls := append(l2(src.mac, dst.mac, vlan, v6), nl, tcp, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(o.sb, serOpts, ls...); err != nil {
		return err
	}
	o.tcpSegments++
	return o.writeFrame(t, o.sb.Bytes())
}

// endsFrom returns the framing endpoints of a session packet from side.
// Devices outside the data centre reach it through the gateway router, so
// their frames carry the gateway's MAC and a TTL lowered by their hops.
func (s *session) endsFrom(side int) (src, dst endpoint) {
	c := endpoint{ap: s.cAddr, mac: s.client.mac, ttl: 64, ipid: s.cAddr.Addr()}
	if s.client.hops > 0 {
		c.mac, c.ttl = gwMAC, uint8(64-s.client.hops)
	}
	sv := endpoint{ap: s.sAddr, mac: s.server.mac, ttl: 64, ipid: s.sAddr.Addr()}
	if side == cli {
		return c, sv
	}
	return sv, c
}

// lag is how long after a packet is captured the other side's answer is
// captured: a round trip for the far side (the client), nothing for the
// near side.
func (s *session) lag(side int) vt {
	if side == cli {
		return s.rtt
	}
	return 0
}

// tcpState is the TCP of one TLS session, as the output stage frames it.
type tcpState struct {
	isn     [2]uint32
	nxt     [2]uint32 // next relative sequence number per side
	ackSent [2]uint32
	known   [2]uint32 // what each side knows the other has sent
	sent    [2][]segMark
	mss     int
}

type segMark struct {
	t   vt
	end uint32
}

// ackFor is the relative ack number side puts in a segment captured at t.
func (ts *tcpState) ackFor(side int, t, lag vt) uint32 {
	q := ts.sent[1-side]
	for len(q) > 0 && q[0].t <= t-lag {
		ts.known[side] = q[0].end
		q = q[1:]
	}
	ts.sent[1-side] = q
	return ts.known[side]
}

func (ts *tcpState) mark(side int, t vt) {
	ts.sent[side] = append(ts.sent[side], segMark{t, ts.nxt[side]})
}

const tcpWindow = 2048 // scaled by 2^7

func (o *output) emit(it *item) error {
	switch it.kind {
	case kRaw:
		return o.emitRaw(it.t, it.raw)
	case kDgram:
		s := it.s
		if it.rec != nil && it.rec.lost {
			o.lostHellos++
			return nil
		}
		if err := o.tapPkt(it, opDatagram); err != nil {
			return err
		}
		src, dst := s.endsFrom(int(it.side))
		if _, err := o.writeUDP(it.t, src, dst, s.vlan, it.b); err != nil {
			return err
		}
		o.noteRecord(it)
		return nil
	case kStream:
		s := it.s
		ts := s.tcp
		side := int(it.side)
		if err := o.tapPkt(it, opStream); err != nil {
			return err
		}
		src, dst := s.endsFrom(side)
		t := it.t
		b := it.b
		for len(b) > 0 {
			n := len(b)
			if n > ts.mss {
				n = ts.mss
			}
			ack := ts.ackFor(side, t, s.lag(side))
			sg := tcpSeg{seq: ts.isn[side] + ts.nxt[side], ack: ts.isn[1-side] + ack, ack_: true, psh: n == len(b), win: tcpWindow}
			if err := o.writeTCP(t, src, dst, s.vlan, sg, b[:n]); err != nil {
				return err
			}
			ts.ackSent[side] = ack
			ts.nxt[side] += uint32(n)
			ts.mark(side, t)
			b = b[n:]
			t += vt(n+60) * 8
		}
		o.noteRecord(it)
		o.push(&item{t: it.t + s.lag(1-side) + 200*vtUS, s: s, side: int8(1 - side), kind: kTCPCtl, ctl: tcpPureACK})
		return nil
	case kTCPCtl:
		return o.emitCtl(it)
	}
	return fmt.Errorf("synth: unknown item kind %d", it.kind)
}

func (o *output) emitCtl(it *item) error {
	s := it.s
	ts := s.tcp
	side := int(it.side)
	if s.deadAt[side] >= 0 && it.t >= s.deadAt[side] {
		return nil // a dead device acknowledges nothing
	}
	src, dst := s.endsFrom(side)
	switch it.ctl {
	case tcpSYN, tcpSYNACK:
		if it.ctl == tcpSYN {
			if err := o.tapPkt(it, opConnect); err != nil {
				return err
			}
		}
		mss := make([]byte, 2)
		binary.BigEndian.PutUint16(mss, uint16(ts.mss))
		sg := tcpSeg{seq: ts.isn[side], syn: true, win: 65535, opts: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: mss},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		}}
		if it.ctl == tcpSYNACK {
			ack := ts.ackFor(side, it.t, s.lag(side))
			sg.ack, sg.ack_ = ts.isn[1-side]+ack, true
			ts.ackSent[side] = ack
		}
		ts.nxt[side] = 1
		ts.mark(side, it.t)
		return o.writeTCP(it.t, src, dst, s.vlan, sg, nil)
	case tcpACK, tcpPureACK:
		ack := ts.ackFor(side, it.t, s.lag(side))
		if it.ctl == tcpPureACK && ack <= ts.ackSent[side] {
			return nil // nothing new to acknowledge
		}
		ts.ackSent[side] = ack
		sg := tcpSeg{seq: ts.isn[side] + ts.nxt[side], ack: ts.isn[1-side] + ack, ack_: true, win: tcpWindow}
		return o.writeTCP(it.t, src, dst, s.vlan, sg, nil)
	case tcpFIN:
		if s.tcpClosed[side] {
			return nil
		}
		ack := ts.ackFor(side, it.t, s.lag(side))
		ts.ackSent[side] = ack
		sg := tcpSeg{seq: ts.isn[side] + ts.nxt[side], ack: ts.isn[1-side] + ack, ack_: true, fin: true, win: tcpWindow}
		if err := o.tapPkt(it, opCloseWrite); err != nil {
			return err
		}
		ts.nxt[side]++
		ts.mark(side, it.t)
		s.tcpClosed[side] = true
		if err := o.writeTCP(it.t, src, dst, s.vlan, sg, nil); err != nil {
			return err
		}
		other := 1 - side
		if !s.tcpClosed[other] {
			// The other side answers with its own FIN, which this side
			// acknowledges.
			t2 := it.t + s.lag(other) + 100*vtUS
			o.push(&item{t: t2, s: s, side: int8(other), kind: kTCPCtl, ctl: tcpFIN})
			o.push(&item{t: t2 + s.lag(side) + 100*vtUS, s: s, side: int8(side), kind: kTCPCtl, ctl: tcpPureACK})
		}
		return nil
	}
	return nil
}

// tapPkt tells the tap (if any) about an action of item it.
func (o *output) tapPkt(it *item, op uint8) error {
	if o.tap == nil {
		return nil
	}
	return o.tap(livePkt{t: it.t, sess: it.s.id, side: it.side, op: op, b: it.b})
}

// noteRecord counts and hashes an application record that was written.
func (o *output) noteRecord(it *item) {
	r := it.rec
	if r == nil {
		return
	}
	switch {
	case r.clear:
		o.clear++
	case !r.dup:
		o.records++
		if r.decryptable {
			o.decryptable++
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(r.plain)))
			o.hash.Write(l[:])
			o.hash.Write(r.plain)
		}
	default:
		o.dups++
	}
	if o.onRecord != nil {
		o.onRecord(RecordLog{Frame: o.frames, Time: o.epoch.Add(time.Duration(o.last)), Session: it.s.id, FromClient: it.side == cli, Plain: r.plain, Dup: r.dup, Decryptable: r.decryptable, Clear: r.clear})
	}
}
