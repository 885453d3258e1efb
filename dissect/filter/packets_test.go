package filter

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pktSpec describes a test frame, built with gopacket's serializers.
type pktSpec struct {
	name     string
	raw      bool   // no Ethernet header (LinkTypeRaw)
	tpid     uint16 // 0: untagged; else one VLAN tag with this TPID
	vlan     uint16
	src, dst string // IP addresses (IPv4 or IPv6)
	proto    string // "udp", "tcp", "icmp", "arp"
	sport    uint16
	dport    uint16
	fragOff  uint16 // IPv4 fragment offset in 8-byte units
	mf       bool   // IPv4 more-fragments flag
	v6frag   bool   // IPv6: insert a Fragment header
	ihlOpts  int    // IPv4: bytes of options (multiple of 4)
	payload  int    // payload bytes
	truncate int    // if > 0, cut the frame to this many bytes
}

func (s pktSpec) String() string { return s.name }

func mustAddr(t testing.TB, s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func build(t testing.TB, s pktSpec) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	srcIP, dstIP := mustAddr(t, s.src), mustAddr(t, s.dst)
	v6 := srcIP.Is6()
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	if s.proto == "arp" {
		et = layers.EthernetTypeARP
	}
	if !s.raw {
		eth := &layers.Ethernet{
			SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
			DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: et,
		}
		if s.tpid != 0 {
			eth.EthernetType = layers.EthernetType(s.tpid)
			ls = append(ls, eth, &layers.Dot1Q{VLANIdentifier: s.vlan, Type: et})
		} else {
			ls = append(ls, eth)
		}
	}
	if s.proto == "arp" {
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: srcIP.AsSlice(),
			DstHwAddress: []byte{0, 0, 0, 0, 0, 0}, DstProtAddress: dstIP.AsSlice()})
	} else {
		var ipProto layers.IPProtocol
		switch s.proto {
		case "udp":
			ipProto = layers.IPProtocolUDP
		case "tcp":
			ipProto = layers.IPProtocolTCP
		case "icmp":
			ipProto = layers.IPProtocolICMPv4
			if v6 {
				ipProto = layers.IPProtocolICMPv6
			}
		default:
			t.Fatalf("proto %q", s.proto)
		}
		var nl gopacket.NetworkLayer
		if v6 {
			ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: srcIP.AsSlice(), DstIP: dstIP.AsSlice(), NextHeader: ipProto}
			nl = ip
			ls = append(ls, ip)
			if s.v6frag {
				ip.NextHeader = layers.IPProtocolIPv6Fragment
				ls = append(ls, &layers.IPv6Fragment{NextHeader: ipProto, FragmentOffset: s.fragOff, MoreFragments: s.mf, Identification: 7})
			}
		} else {
			ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: srcIP.AsSlice(), DstIP: dstIP.AsSlice(), Protocol: ipProto, FragOffset: s.fragOff, Id: 7}
			if s.mf {
				ip.Flags = layers.IPv4MoreFragments
			}
			if s.ihlOpts > 0 {
				ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: uint8(s.ihlOpts), OptionData: make([]byte, s.ihlOpts-2)}} // router alert-like
			}
			nl = ip
			ls = append(ls, ip)
		}
		later := (s.fragOff != 0) // a later fragment: raw payload, no transport header
		switch {
		case later:
		case s.proto == "udp":
			u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
			_ = u.SetNetworkLayerForChecksum(nl)
			ls = append(ls, u)
		case s.proto == "tcp":
			tc := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1, Window: 1000, ACK: true}
			_ = tc.SetNetworkLayerForChecksum(nl)
			ls = append(ls, tc)
		case s.proto == "icmp":
			if v6 {
				ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
				_ = ic.SetNetworkLayerForChecksum(nl)
				ls = append(ls, ic)
			} else {
				ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
			}
		}
	}
	ls = append(ls, gopacket.Payload(make([]byte, s.payload)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("%s: serialize: %v", s.name, err)
	}
	b := buf.Bytes()
	if s.truncate > 0 && s.truncate < len(b) {
		b = b[:s.truncate]
	}
	return append([]byte(nil), b...)
}

// testPackets is the packet set the filter tests run every expression
// against.
func testPackets() []pktSpec {
	const (
		a4 = "10.1.1.1"
		b4 = "192.168.7.20"
		a6 = "2001:db8::1"
		b6 = "fe80::1234:5678"
	)
	return []pktSpec{
		{name: "v4 udp 12346->40000", src: a4, dst: b4, proto: "udp", sport: 12346, dport: 40000, payload: 20},
		{name: "v4 udp 40000->12366", src: b4, dst: a4, proto: "udp", sport: 40000, dport: 12366, payload: 20},
		{name: "v4 udp 53->53", src: a4, dst: b4, proto: "udp", sport: 53, dport: 53, payload: 4},
		{name: "v4 udp 12345->12347", src: a4, dst: b4, proto: "udp", sport: 12345, dport: 12347},
		{name: "v4 udp 13126->1", src: a4, dst: b4, proto: "udp", sport: 13126, dport: 1},
		{name: "v4 udp 13127->1", src: a4, dst: b4, proto: "udp", sport: 13127, dport: 1},
		{name: "v4 tcp 23456->50000", src: a4, dst: b4, proto: "tcp", sport: 23456, dport: 50000, payload: 10},
		{name: "v4 tcp 50000->12346", src: b4, dst: a4, proto: "tcp", sport: 50000, dport: 12346},
		{name: "v4 tcp 443->80", src: a4, dst: b4, proto: "tcp", sport: 443, dport: 80},
		{name: "v4 icmp", src: a4, dst: b4, proto: "icmp", payload: 8},
		{name: "v4 udp options 12346", src: a4, dst: b4, proto: "udp", sport: 1000, dport: 12346, ihlOpts: 8},
		{name: "v4 udp first frag 12346", src: a4, dst: b4, proto: "udp", sport: 12346, dport: 12346, mf: true, payload: 64},
		{name: "v4 udp later frag", src: a4, dst: b4, proto: "udp", fragOff: 185, payload: 64},
		{name: "v4 udp last frag", src: b4, dst: a4, proto: "udp", fragOff: 370, payload: 12},
		{name: "v4 tcp later frag", src: a4, dst: b4, proto: "tcp", fragOff: 10, mf: true, payload: 16},
		{name: "v4 icmp later frag", src: a4, dst: b4, proto: "icmp", fragOff: 10, payload: 16},
		{name: "v4 udp vlan 12346", tpid: 0x8100, vlan: 42, src: a4, dst: b4, proto: "udp", sport: 5000, dport: 12346},
		{name: "v4 tcp qinq-tpid 23456", tpid: 0x88a8, vlan: 7, src: b4, dst: a4, proto: "tcp", sport: 23456, dport: 5000},
		{name: "v4 udp vlan later frag", tpid: 0x8100, vlan: 42, src: a4, dst: b4, proto: "udp", fragOff: 100, payload: 8},
		{name: "v6 udp 12346->5000", src: a6, dst: b6, proto: "udp", sport: 12346, dport: 5000, payload: 30},
		{name: "v6 udp 5000->12446", src: b6, dst: a6, proto: "udp", sport: 5000, dport: 12446},
		{name: "v6 tcp 23456->6000", src: a6, dst: b6, proto: "tcp", sport: 23456, dport: 6000},
		{name: "v6 tcp 80->6000", src: b6, dst: a6, proto: "tcp", sport: 80, dport: 6000},
		{name: "v6 icmp", src: a6, dst: b6, proto: "icmp"},
		{name: "v6 udp first frag 12346", src: a6, dst: b6, proto: "udp", sport: 12346, dport: 9, v6frag: true, mf: true, payload: 40},
		{name: "v6 udp later frag", src: a6, dst: b6, proto: "udp", v6frag: true, fragOff: 100, payload: 40},
		{name: "v6 vlan udp 12346", tpid: 0x8100, vlan: 5, src: b6, dst: a6, proto: "udp", sport: 12346, dport: 12346},
		{name: "arp", src: a4, dst: b4, proto: "arp"},
		{name: "v4 udp truncated in ports", src: a4, dst: b4, proto: "udp", sport: 12346, dport: 1, truncate: 35},
		{name: "runt 10 bytes", src: a4, dst: b4, proto: "udp", sport: 1, dport: 2, truncate: 10},
	}
}

// rawTestPackets are frames without link header (LinkTypeRaw).
func rawTestPackets() []pktSpec {
	var out []pktSpec
	for _, s := range testPackets() {
		if s.tpid != 0 || s.proto == "arp" || s.truncate > 0 {
			continue
		}
		s.raw = true
		s.name = "raw " + s.name
		out = append(out, s)
	}
	return out
}
