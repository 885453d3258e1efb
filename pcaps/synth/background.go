package synth

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// rawPkt is a packet outside the control connections.
type rawPkt struct {
	src, dst endpoint
	proto    layers.IPProtocol
	tcp      tcpSeg
	icmpType uint8
	icmpID   uint16
	icmpSeq  uint16
	payload  []byte
}

func (o *output) emitRaw(t vt, p *rawPkt) error {
	switch p.proto {
	case layers.IPProtocolUDP:
		_, err := o.writeUDP(t, p.src, p.dst, 0, p.payload)
		return err
	case layers.IPProtocolTCP:
		return o.writeTCP(t, p.src, p.dst, 0, p.tcp, p.payload)
	case layers.IPProtocolICMPv4:
		nl, _ := netLayer(p.src, p.dst, layers.IPProtocolICMPv4, o.nextID(p.src.ipid), false)
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(p.icmpType, 0), Id: p.icmpID, Seq: p.icmpSeq}
		ls := append(l2(p.src.mac, p.dst.mac, 0, false), nl, ic, gopacket.Payload(p.payload))
		if err := gopacket.SerializeLayers(o.sb, serOpts, ls...); err != nil {
			return err
		}
		return o.writeFrame(t, o.sb.Bytes())
	}
	return fmt.Errorf("synth: background protocol %v", p.proto)
}

// data-centre hosts that make background traffic
var (
	hostMonitor = dcHost(50)
	hostDNS     = dcHost(53)
	hostSyslog  = dcHost(60)
	hostWeb     = dcHost(80)
	hostNTP     = dcHost(123)
)

func dcHost(n uint32) endpoint {
	a := addr4(0xCB007100 + n)
	return endpoint{ap: netip.AddrPortFrom(a, 0), mac: mac(int(n), 0xd0), ttl: 64, ipid: a}
}

func (e endpoint) port(p uint16) endpoint {
	e.ap = netip.AddrPortFrom(e.ap.Addr(), p)
	return e
}

var dnsNames = []string{"vbond.sdwan.example.net", "ntp.example.net", "updates.example.com", "vmanage.sdwan.example.net",
	"syslog.example.net", "smartlicensing.example.com"}

// background schedules one piece of unrelated traffic at t, and the next.
func (sm *sim) background(t vt) {
	sm.at(t, func() {
		sm.bgOne(t)
		mean := 2.5 / sm.c.Background
		gap := vt(sm.rng.ExpFloat64() * mean * float64(vtSec))
		if gap < vtUS {
			gap = vtUS
		}
		sm.background(t + gap)
	})
}

func (sm *sim) raw(t vt, p *rawPkt) {
	sm.out.push(&item{t: t, kind: kRaw, raw: p})
}

func (sm *sim) bgOne(t vt) {
	r := sm.rng
	eph := uint16(32768 + r.IntN(28000))
	switch k := r.IntN(10); {
	case k < 4: // DNS query and answer
		name := dnsNames[r.IntN(len(dnsNames))]
		id := uint16(r.Uint32())
		q := &layers.DNS{ID: id, RD: true, QDCount: 1,
			Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
		ans := addr4(0xC0000200 + uint32(r.IntN(250)) + 1) // 192.0.2.x
		a := &layers.DNS{ID: id, QR: true, RD: true, RA: true, QDCount: 1, ANCount: 1, Questions: q.Questions,
			Answers: []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: ans.AsSlice()}}}
		cl := hostMonitor.port(eph)
		sv := hostDNS.port(53)
		sm.raw(t, &rawPkt{src: cl, dst: sv, proto: layers.IPProtocolUDP, payload: serialize(q)})
		sm.raw(t+300*vtUS+sm.jitter(200*vtUS), &rawPkt{src: sv, dst: cl, proto: layers.IPProtocolUDP, payload: serialize(a)})
	case k < 6: // ICMP echo to an edge's public address
		e := sm.f.edges[r.IntN(len(sm.f.edges))]
		if e.primary().v6 {
			return
		}
		dst := endpoint{ap: netip.AddrPortFrom(e.primary().pub.Addr(), 0), mac: gwMAC, ttl: uint8(64 - e.hops), ipid: e.primary().pub.Addr()}
		src := hostMonitor
		src.mac, dst.mac = hostMonitor.mac, gwMAC
		id, seq := uint16(0x5d00+e.idx), uint16(r.IntN(65535))
		pl := make([]byte, 56)
		for i := range pl {
			pl[i] = byte(i)
		}
		sm.raw(t, &rawPkt{src: src, dst: dst, proto: layers.IPProtocolICMPv4, icmpType: layers.ICMPv4TypeEchoRequest, icmpID: id, icmpSeq: seq, payload: pl})
		sm.raw(t+e.rtt, &rawPkt{src: dst, dst: src, proto: layers.IPProtocolICMPv4, icmpType: layers.ICMPv4TypeEchoReply, icmpID: id, icmpSeq: seq, payload: pl})
	case k < 7: // NTP client and server
		req := make([]byte, 48)
		req[0] = 0x23 // LI 0, version 4, mode 3 (client)
		binary.BigEndian.PutUint64(req[40:], uint64(sm.epoch.Unix()+2208988800+int64(t/vtSec))<<32)
		resp := make([]byte, 48)
		copy(resp, req)
		resp[0], resp[1], resp[2], resp[3] = 0x24, 2, 6, 0xe9 // mode 4 (server), stratum 2
		copy(resp[24:32], req[40:48])
		binary.BigEndian.PutUint64(resp[32:], uint64(sm.epoch.Unix()+2208988800+int64(t/vtSec))<<32)
		binary.BigEndian.PutUint64(resp[40:], uint64(sm.epoch.Unix()+2208988800+int64(t/vtSec))<<32|0x1000)
		cl := sm.f.vmanage
		src := endpoint{ap: netip.AddrPortFrom(cl.addr4, 123), mac: cl.mac, ttl: 64, ipid: cl.addr4}
		sm.raw(t, &rawPkt{src: src, dst: hostNTP.port(123), proto: layers.IPProtocolUDP, payload: req})
		sm.raw(t+200*vtUS, &rawPkt{src: hostNTP.port(123), dst: src, proto: layers.IPProtocolUDP, payload: resp})
	case k < 8: // syslog from a controller
		cs := sm.f.controllers()
		d := cs[r.IntN(len(cs))]
		src := endpoint{ap: netip.AddrPortFrom(d.addr4, 514), mac: d.mac, ttl: 64, ipid: d.addr4}
		msg := fmt.Sprintf("<134>1 %s %s vdaemon %d - - control connection count %d",
			sm.ts(t).Format("2006-01-02T15:04:05.000Z"), d.name, 1000+r.IntN(9000), r.IntN(len(sm.f.edges)*3+1))
		sm.raw(t, &rawPkt{src: src, dst: hostSyslog.port(514), proto: layers.IPProtocolUDP, payload: []byte(msg)})
	case k < 9: // some other UDP: a telemetry datagram to the collector
		pl := make([]byte, 64+r.IntN(200))
		for i := range pl {
			pl[i] = byte(r.Uint32())
		}
		d := sm.f.vmanage
		src := endpoint{ap: netip.AddrPortFrom(d.addr4, eph), mac: d.mac, ttl: 64, ipid: d.addr4}
		sm.raw(t, &rawPkt{src: src, dst: hostSyslog.port(4739), proto: layers.IPProtocolUDP, payload: pl})
	default: // an HTTP health check over TCP, connection and all
		cl, sv := hostMonitor.port(eph), hostWeb.port(80)
		ci, si := r.Uint32(), r.Uint32()
		req := []byte("GET /health HTTP/1.1\r\nHost: web.example.net\r\nUser-Agent: monitor/1.0\r\n\r\n")
		resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
		rt := 250 * vtUS
		mss := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
		steps := []struct {
			fromCl bool
			sg     tcpSeg
			pl     []byte
		}{
			{true, tcpSeg{seq: ci, syn: true, win: 64240, opts: mss}, nil},
			{false, tcpSeg{seq: si, ack: ci + 1, syn: true, ack_: true, win: 65160, opts: mss}, nil},
			{true, tcpSeg{seq: ci + 1, ack: si + 1, ack_: true, win: 502}, nil},
			{true, tcpSeg{seq: ci + 1, ack: si + 1, ack_: true, psh: true, win: 502}, req},
			{false, tcpSeg{seq: si + 1, ack: ci + 1 + uint32(len(req)), ack_: true, win: 509}, nil},
			{false, tcpSeg{seq: si + 1, ack: ci + 1 + uint32(len(req)), ack_: true, psh: true, win: 509}, resp},
			{false, tcpSeg{seq: si + 1 + uint32(len(resp)), ack: ci + 1 + uint32(len(req)), ack_: true, fin: true, win: 509}, nil},
			{true, tcpSeg{seq: ci + 1 + uint32(len(req)), ack: si + 2 + uint32(len(resp)), ack_: true, fin: true, win: 502}, nil},
			{false, tcpSeg{seq: si + 2 + uint32(len(resp)), ack: ci + 2 + uint32(len(req)), ack_: true, win: 509}, nil},
		}
		tt := t
		for i, st := range steps {
			src, dst := cl, sv
			if !st.fromCl {
				src, dst = sv, cl
			}
			if i > 0 {
				tt += rt/2 + sm.jitter(50*vtUS)
			}
			sm.raw(tt, &rawPkt{src: src, dst: dst, proto: layers.IPProtocolTCP, tcp: st.sg, payload: st.pl})
		}
	}
}

func serialize(l gopacket.SerializableLayer) []byte {
	b := gopacket.NewSerializeBuffer()
	if err := l.SerializeTo(b, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic("synth: background packet does not encode: " + err.Error()) // a simulator bug
	}
	return append([]byte(nil), b.Bytes()...)
}
