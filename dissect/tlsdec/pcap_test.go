package tlsdec

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type tcpSeg struct {
	seq  uint32
	data []byte
	fr   uint64
}

// TestIllustratedTLS12 decrypts a capture this project did not make: the
// illustrated-tls12 session (TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA over IPv6
// loopback, BSD Null link type) with its key log. The TCP streams are
// extracted here with gopacket (in-order concatenation by sequence number
// is enough for this clean capture).
func TestIllustratedTLS12(t *testing.T) {
	dir := filepath.Join("..", "testdata", "illustrated-tls12")
	f, err := os.Open(filepath.Join(dir, "capture.pcap"))
	if err != nil {
		t.Fatalf("test vector missing from testdata: %v", err)
	}
	defer f.Close()
	kl, err := os.ReadFile(filepath.Join(dir, "keylog.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if rd.LinkType() != layers.LinkTypeNull {
		t.Fatalf("link type %v", rd.LinkType())
	}
	streams := map[[2]netip.AddrPort][]tcpSeg{}
	var order [][2]netip.AddrPort
	frame := uint64(0)
	for {
		data, _, err := rd.ReadPacketData()
		if err != nil {
			break
		}
		frame++
		p := gopacket.NewPacket(data, layers.LinkTypeNull, gopacket.Default)
		ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip6 == nil || tcp == nil || len(tcp.Payload) == 0 {
			continue
		}
		sa, _ := netip.AddrFromSlice(ip6.SrcIP)
		da, _ := netip.AddrFromSlice(ip6.DstIP)
		k := [2]netip.AddrPort{netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), netip.AddrPortFrom(da, uint16(tcp.DstPort))}
		if _, ok := streams[k]; !ok {
			order = append(order, k)
		}
		streams[k] = append(streams[k], tcpSeg{tcp.Seq, bytes.Clone(tcp.Payload), frame})
	}
	if len(order) != 2 {
		t.Fatalf("%d TCP directions with payload, want 2", len(order))
	}
	// Feed segments in capture order, each direction deduplicated by seq.
	type item struct {
		k   [2]netip.AddrPort
		seg tcpSeg
	}
	var items []item
	for _, k := range order {
		segs := streams[k]
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
		next := segs[0].seq
		for _, s := range segs {
			if s.seq != next {
				continue // retransmission or overlap: none expected here
			}
			next += uint32(len(s.data))
			items = append(items, item{k, s})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].seg.fr < items[j].seg.fr })

	ks := NewKeyStore()
	if n, errs := ks.LoadKeyLog(bytes.NewReader(kl), "keylog.txt"); n != 1 || len(errs) != 0 {
		t.Fatalf("key log: %d %v", n, errs)
	}
	tr := NewTracker(ks, Options{})
	var got [3][]string
	for _, it := range items {
		tr.TLSData(it.k[0], it.k[1], t0, it.seg.fr, it.seg.data, 0, RoleUnknown, func(r *Record) {
			if r.ContentType == ContentApplicationData {
				got[r.Dir] = append(got[r.Dir], string(r.Plaintext))
			}
		})
	}
	if len(got[FromClient]) != 1 || got[FromClient][0] != "ping" || len(got[FromServer]) != 1 || got[FromServer][0] != "pong" {
		t.Fatalf("application data: client %q server %q unknown %q", got[FromClient], got[FromServer], got[DirUnknown])
	}
	s := onlySession(t, tr)
	if s.CipherSuite != 0xc013 || s.Version != 0x0303 || s.Server.Port() != 8443 {
		t.Errorf("suite %s version %s server %v", s.CipherSuiteName(), s.VersionName(), s.Server)
	}
	if !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0 {
		t.Errorf("finished %v/%v diagnostics %v", s.ClientFinishedOK, s.ServerFinishedOK, s.Diagnostics())
	}
	if s.KeySource != "keylog:keylog.txt" {
		t.Errorf("key source %q", s.KeySource)
	}
}
