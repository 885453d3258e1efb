package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// device is one fabric member.
type device struct {
	idx    int
	name   string
	typ    sdwan.DeviceType
	sysIP  netip.Addr
	siteID uint32
	mac    [6]byte
	uuid   string
	// controllers
	addr4, addr6 netip.Addr
	cores        int
	// edges
	tlocs    []*tloc
	routes   []route
	classes  []routeClass
	services []service
	tlsCtl   bool // control connections over TLS
	region   int
	hub      bool
	hops     int // routers between the device and the capture point
	rtt      vt  // round trip to the data centre
	hop      int // port-hopping step of the current control connections
	hold     uint16
	grTimer  uint32
	siteAttr uint32 // SITE_ID carried in its paths (site-id-mismatch changes it)
	version  string
	labels   map[uint32]uint32 // per VPN
	ipid     uint16
	// cloneOf: this edge advertises a TLOC with another edge's key
	cloneOf *device
	// sessions currently open to each controller, by controller idx
	cur map[int]*session
}

// tloc is a transport locator of an edge.
type tloc struct {
	color   sdwan.Color
	encap   sdwan.Encap
	v6      bool
	nat     bool
	priv    netip.AddrPort
	pub     netip.AddrPort
	pref    uint32
	weight  uint32
	carrier uint8
	genID   uint32
	spi     uint32
	bw      uint32
	up      bool
}

// routeClass is what the routes of one group share besides their TLOC:
// VPN, origin protocol and metric, preference, and the BGP extras.
type routeClass struct {
	vpn       uint32
	origin    sdwan.Origin
	metric    uint32
	pref      uint32
	tag       uint32
	asPath    []uint32
	community []uint32
}

// route is one prefix an edge originates.
type route struct {
	prefix netip.Prefix
	cls    uint16
	mask   uint8       // which TLOCs (bit i: tlocs[i]) carry it
	bad    sdwan.Color // not 0: advertised via this TLOC color only, which the edge never advertises
	down   bool        // withdrawn for now (flaps, withdrawals)
	gen    uint16      // churn: how many times it was advertised again with fresh path-ids (see pathID)
}

// service is one service route an edge originates.
type service struct {
	vpn  uint32
	svc  sdwan.Service
	tloc int
}

type fabric struct {
	devs    []*device
	vmanage *device
	vbond   *device
	vsmarts []*device
	edges   []*device
	nroutes int // route paths originated
}

func (f *fabric) controllers() []*device {
	return append([]*device{f.vmanage, f.vbond}, f.vsmarts...)
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func mac(i int, kind byte) [6]byte {
	return [6]byte{0x02, 0x5d, kind, byte(i >> 16), byte(i >> 8), byte(i)}
}

var vpnLabels = map[uint32]uint32{10: 1002, 20: 1003, 30: 1004}

// buildFabric makes the devices: 1 vManage, 1 vBond, 2 vSmarts and
// c.Edges edges, each edge with 1-3 TLOCs, service VPNs 10, 20, 30 with
// IPv4 and IPv6 prefixes, and a few service routes.
func buildFabric(c *config, rng *rand.Rand) (*fabric, error) {
	f := &fabric{}
	add := func(d *device) {
		d.idx = len(f.devs)
		d.cur = map[int]*session{}
		d.hold, d.grTimer = uint16(c.holdTime()), uint32(c.grTimer())
		d.siteAttr = d.siteID
		f.devs = append(f.devs, d)
	}
	ctl := func(name string, typ sdwan.DeviceType, n uint32, site uint32, cores int) *device {
		d := &device{name: name, typ: typ, sysIP: addr4(0x01010100 + n), siteID: site, cores: cores,
			addr4: addr4(0xCB007100 + 10 + n), addr6: netip.MustParseAddr(fmt.Sprintf("2001:db8:100::%x", 0x10+n)),
			version: "20.12.4", hops: 0}
		d.mac = mac(int(n), 0xc0)
		d.uuid = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, 0x4000|rng.Uint32()&0x0fff, 0x8000|rng.Uint32()&0x3fff, rng.Uint64()&0xffffffffffff)
		add(d)
		return d
	}
	f.vmanage = ctl("vmanage", sdwan.DeviceVManage, 1, 1000, 1)
	f.vbond = ctl("vbond", sdwan.DeviceVBond, 2, 1000, 1)
	f.vsmarts = []*device{ctl("vsmart1", sdwan.DeviceVSmart, 3, 1000, 2), ctl("vsmart2", sdwan.DeviceVSmart, 4, 1001, 2)}
	if c.sc.VSmarts == 3 {
		f.vsmarts = append(f.vsmarts, ctl("vsmart3", sdwan.DeviceVSmart, 5, 1002, 2))
	}
	for _, v := range f.vsmarts {
		v.rtt = 300 * vtUS
	}

	n := c.Edges
	tlsEdges := pick(rng, n, c.TLSFraction)
	v6Edges := pick(rng, n, c.IPv6Fraction)
	regionSize := 50
	if c.Edges < 200 {
		regionSize = (c.Edges + 3) / 4
	}
	for i := 0; i < n; i++ {
		e := &device{name: fmt.Sprintf("edge%d", i+1), typ: sdwan.DeviceVEdge, sysIP: addr4(0x0AFF0000 + uint32(i) + 1),
			siteID: 100 + uint32(i), version: "17.12.04"}
		if i%6 == 5 {
			e.siteID = 100 + uint32(i) - 1 // dual-edge site
		}
		e.mac = mac(i, 0xe0)
		e.uuid = fmt.Sprintf("C8K-%08X-%04X-%04X", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff)
		e.tlsCtl = tlsEdges[i]
		e.region = i / regionSize
		e.hub = i%regionSize == 0
		e.hops = 4 + rng.IntN(8)
		e.rtt = vt(8+rng.IntN(70))*vtMS + vt(rng.IntN(1000))*vtUS
		e.labels = vpnLabels
		add(e)
		f.edges = append(f.edges, e)
		makeTLOCs(e, i, v6Edges[i], rng)
	}
	if err := makeRoutes(f, c, rng); err != nil {
		return nil, err
	}
	return f, nil
}

// pick chooses round(frac*n) of n items (at least one when frac > 0).
func pick(rng *rand.Rand, n int, frac float64) []bool {
	out := make([]bool, n)
	k := int(frac*float64(n) + 0.5)
	if frac > 0 && k == 0 {
		k = 1
	}
	for _, i := range rng.Perm(n)[:k] {
		out[i] = true
	}
	return out
}

func makeTLOCs(e *device, i int, v6 bool, rng *rand.Rand) {
	nt := 1 + rng.IntN(3)
	internet := []sdwan.Color{sdwan.ColorBizInternet, sdwan.ColorPublicInternet}[rng.IntN(2)]
	colors := []sdwan.Color{internet, sdwan.ColorMPLS, sdwan.ColorLTE}
	if rng.IntN(4) == 0 {
		colors[1] = sdwan.ColorPrivate1
	}
	if v6 && nt < 2 {
		nt = 2 // an IPv6-only edge keeps an IPv4 transport too
	}
	for k := 0; k < nt; k++ {
		t := &tloc{color: colors[k], encap: sdwan.EncapIPsec, pref: 0, weight: 1, carrier: 1,
			genID: rng.Uint32(), spi: 256 + uint32(rng.IntN(60000)), up: true}
		if k == 0 && rng.IntN(5) == 0 {
			t.encap = sdwan.EncapGRE
		}
		if k == 1 {
			t.pref = 100
		}
		switch {
		case k == 0 && v6:
			t.v6 = true
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xe0, 0, byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 0, 0, 2})
			t.priv = netip.AddrPortFrom(a, 12346)
			t.pub = t.priv
			t.bw = 1000000
		case k == 0:
			pub := addr4(0xC6120000 + uint32(i)*4 + 1)
			t.bw = 500000
			if rng.IntN(2) == 0 {
				t.nat = true
				t.priv = netip.AddrPortFrom(addr4(0xC0A80000+uint32(i/64)<<8+uint32(i%64)*4+1), 12346)
				t.pub = netip.AddrPortFrom(pub, uint16(1024+rng.IntN(60000)))
			} else {
				t.priv = netip.AddrPortFrom(pub, 12346)
				t.pub = t.priv
			}
		case k == 1:
			a := addr4(0xAC100000 + uint32(i+1)*4 + 1)
			t.priv = netip.AddrPortFrom(a, 12346)
			t.pub = t.priv
			t.bw = 100000
		default:
			t.nat = true
			t.carrier = 2
			t.bw = 50000
			t.priv = netip.AddrPortFrom(addr4(0x64400000+uint32(i+1)*4+2), 12346)
			t.pub = netip.AddrPortFrom(addr4(0xC6130000+uint32(i+1)), uint16(1024+rng.IntN(60000)))
		}
		e.tlocs = append(e.tlocs, t)
	}
}

// prefix allocators: the k-th IPv4 prefix is a /24 counted up from
// 10.0.0.0, the k-th IPv6 prefix a /64 counted up from 2001:db8::.
type prefixAlloc struct{ v4, v6 uint32 }

func (a *prefixAlloc) next4() netip.Prefix {
	p := netip.PrefixFrom(addr4(0x0A000000+a.v4<<8), 24)
	a.v4++
	return p
}

func (a *prefixAlloc) next6() netip.Prefix {
	k := a.v6
	a.v6++
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

func allTLOCs(e *device) uint8 { return uint8(1)<<len(e.tlocs) - 1 }

// makeRoutes gives every edge its prefixes and services.
func makeRoutes(f *fabric, c *config, rng *rand.Rand) error {
	var pa prefixAlloc
	if c.Routes == 0 {
		for i, e := range f.edges {
			e.classes = []routeClass{
				{vpn: 10, origin: sdwan.OriginConnected},
				{vpn: 10, origin: sdwan.OriginStatic, metric: 1},
				{vpn: 20, origin: sdwan.OriginOSPFIntra, metric: 20 + uint32(rng.IntN(20))},
				{vpn: 20, origin: sdwan.OriginEBGP, metric: 0, asPath: []uint32{65000 + uint32(i), 64512}, community: []uint32{65000<<16 | 100}},
				{vpn: 30, origin: sdwan.OriginConnected, pref: 50, tag: 300},
				{vpn: 10, origin: sdwan.Origin(9)},
			}
			all := allTLOCs(e)
			add := func(p netip.Prefix, cls uint16, mask uint8) {
				e.routes = append(e.routes, route{prefix: p, cls: cls, mask: mask})
			}
			add(pa.next4(), 0, all)
			add(pa.next6(), 0, all)
			add(pa.next4(), 1, all)
			add(pa.next4(), 2, all)
			add(pa.next4(), 3, all)
			add(pa.next6(), 3, all)
			add(pa.next4(), 4, all)
			if i == 0 {
				// A data-centre edge with routes learned over eBGP with
				// many communities: one UPDATE of them is larger than the
				// MTU, so it travels as IP fragments (or several TCP
				// segments).
				comm := make([]uint32, 400)
				for k := range comm {
					comm[k] = 65001<<16 | uint32(k+1)
				}
				e.classes = append(e.classes, routeClass{vpn: 10, origin: sdwan.OriginEBGP, asPath: []uint32{65001, 65010}, community: comm})
				for k := 0; k < 4; k++ {
					add(pa.next4(), uint16(len(e.classes)-1), 1)
				}
			}
		}
		// Dual-edge sites share a site summary, each edge advertising it
		// through its first TLOC (so a prefix never has more paths than
		// the send-path-limit of 4).
		for i, e := range f.edges {
			if i%6 == 5 {
				p := netip.PrefixFrom(addr4(0xAC1F0000+uint32(i)<<8), 22).Masked()
				for _, d := range []*device{f.edges[i-1], e} {
					d.routes = append(d.routes, route{prefix: p, cls: 5, mask: 1})
				}
			}
		}
	} else {
		per := c.Routes / len(f.edges)
		extra := c.Routes % len(f.edges)
		for i, e := range f.edges {
			want := per
			if i < extra {
				want++
			}
			e.classes = []routeClass{
				{vpn: 10, origin: sdwan.OriginConnected},
				{vpn: 20, origin: sdwan.OriginOSPFExt2, metric: 20},
				{vpn: 30, origin: sdwan.OriginEBGP, asPath: []uint32{65000 + uint32(i%1000)}},
				{vpn: 10, origin: sdwan.OriginStatic, metric: 1},
				{vpn: 20, origin: sdwan.OriginOSPFIntra, metric: 10},
			}
			nt := len(e.tlocs)
			all := allTLOCs(e)
			nprefix := (want + nt - 1) / nt
			for k := 0; k < nprefix; k++ {
				// Three blocks of IPv4 prefixes (VPN 10, 20, 30); every
				// fifth prefix is IPv6 (VPN 10 or 20).
				block := k * 3 / nprefix
				cls := uint16(block)
				var p netip.Prefix
				if k%5 == 4 {
					p, cls = pa.next6(), 3+uint16(block%2)
				} else {
					p = pa.next4()
				}
				mask := all
				if k == nprefix-1 {
					if rest := want - k*nt; rest < nt {
						mask = uint8(1)<<rest - 1
					}
				}
				e.routes = append(e.routes, route{prefix: p, cls: cls, mask: mask})
			}
		}
	}
	for i, e := range f.edges {
		switch i % 3 {
		case 0:
			e.services = append(e.services, service{vpn: 10, svc: sdwan.ServiceFW, tloc: 0})
		case 1:
			e.services = append(e.services, service{vpn: 20, svc: sdwan.ServiceNetsvc1, tloc: len(e.tlocs) - 1})
		}
	}
	f.nroutes = 0
	for _, e := range f.edges {
		f.nroutes += e.routePaths()
	}
	if c.Routes > 0 && f.nroutes != c.Routes {
		return fmt.Errorf("internal: made %d route paths, want %d", f.nroutes, c.Routes)
	}
	return nil
}

// routePaths is the number of route paths e advertises now.
func (e *device) routePaths() int {
	n := 0
	for _, r := range e.routes {
		if r.down {
			continue
		}
		if r.bad != 0 {
			n++
			continue
		}
		for k := range e.tlocs {
			if r.mask&(1<<k) != 0 && e.tlocs[k].up {
				n++
			}
		}
	}
	return n
}

// primary is the TLOC an edge's control connections leave from.
func (e *device) primary() *tloc { return e.tlocs[0] }

func (e *device) tlocKey(k int) omp.TLOCKey {
	t := e.tlocs[k]
	return omp.TLOCKey{SystemIP: e.sysIP, Color: t.color, Encap: t.encap}
}

func (e *device) String() string { return e.name }
