package flow

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// Layer names a protocol layer in Stats and Problems.
type Layer uint8

const (
	LayerEthernet Layer = iota
	LayerVLAN
	LayerSLL
	LayerSLL2
	LayerNull
	LayerIPv4
	LayerIPv6
	LayerIPv6Ext // an IPv6 extension header
	LayerFragment
	LayerUDP
	LayerTCP
	NumLayers
)

var layerNames = [NumLayers]string{"ethernet", "vlan", "sll", "sll2", "null", "ipv4", "ipv6", "ipv6-ext", "fragment", "udp", "tcp"}

func (l Layer) String() string {
	if l < NumLayers {
		return layerNames[l]
	}
	return "unknown"
}

// FragDrop is a reason for discarding IP fragments.
type FragDrop uint8

const (
	FragDuplicate    FragDrop = iota // fragment identical to one already held (discarded, datagram kept)
	FragOverlap                      // IPv6 fragments overlapping with different extents (RFC 5722: datagram dropped)
	FragMisaligned                   // a non-final fragment whose length is not a multiple of 8
	FragTooBig                       // the datagram would exceed 65535 bytes
	FragTooMany                      // more than Config.MaxFragments fragments for one datagram
	FragInconsistent                 // final fragments disagree on the datagram length
	FragMemory                       // evicted to stay within Config.MaxFragBytes / MaxFragDatagrams
	FragTimeout                      // incomplete after Config.FragTimeout of capture time
	FragEndOfInput                   // incomplete at Flush
	NumFragDrops
)

var fragDropNames = [NumFragDrops]string{"duplicate", "overlap", "misaligned", "too-big", "too-many", "inconsistent", "memory", "timeout", "end-of-input"}

func (r FragDrop) String() string {
	if r < NumFragDrops {
		return fragDropNames[r]
	}
	return "unknown"
}

// Problem records where one malformed or truncated packet went wrong.
type Problem struct {
	Frame     uint64
	Layer     Layer
	Offset    int  // byte offset of the layer (or field) in the frame; -1 inside a reassembled datagram
	Truncated bool // the bytes ended early; otherwise a field is invalid
	What      string
}

func (p Problem) String() string {
	kind := "malformed"
	if p.Truncated {
		kind = "truncated"
	}
	return fmt.Sprintf("frame %d: %s %s at byte %d: %s", p.Frame, kind, p.Layer, p.Offset, p.What)
}

// MaxProblems is the number of Problems kept in Stats (the counters count
// all of them).
const MaxProblems = 32

// Stats counts everything the Decoder did. Every packet lands in exactly
// one outcome counter: see Accounted.
type Stats struct {
	Packets   uint64
	LinkTypes map[layers.LinkType]uint64 // packets per link type

	// Outcomes (one per packet).
	UnsupportedLink uint64               // link type not decoded
	NonIP           uint64               // link layer carried something other than IPv4/IPv6
	Truncated       [NumLayers]uint64    // packet ended inside this layer
	Malformed       [NumLayers]uint64    // invalid field in this layer
	FragHeld        uint64               // IP fragments that did not (yet) complete a datagram when they arrived
	UDP             uint64               // datagrams delivered to Handler.UDP
	UDPFiltered     uint64               // datagrams rejected by Config.UDPFilter
	TCP             uint64               // TCP packets given to the reassembler
	TCPFiltered     uint64               // TCP packets rejected by Config.TCPFilter
	OtherTransport  map[uint8]uint64     // other IP protocols (ICMP, ESP, no-next-header, ...) by protocol number
	Problems        []Problem            // the first MaxProblems malformed/truncated packets
	IPv4, IPv6      uint64               // IP packets seen (before reassembly)
	Fragments       uint64               // IP fragments seen
	Reassembled     uint64               // datagrams completed from fragments
	FragOverlaps    uint64               // IPv4 fragments overlapping held data (first data kept)
	FragDrops       [NumFragDrops]uint64 // fragments/datagrams discarded, by reason (a dropped datagram counts once)
	FragPending     int                  // datagrams awaiting fragments now
	FragBytes       int                  // bytes held for them

	TCPConns        uint64                  // connections created
	TCPClosed       [numCloseReasons]uint64 // connections ended, by reason
	TCPOpen         int                     // connections tracked now (including recently closed)
	TCPConnLimit    uint64                  // packets not tracked because Config.MaxConns was reached
	TCPNoConn       uint64                  // packets without data or SYN for an unknown connection (ignored)
	TCPAfterClose   uint64                  // packets for a connection already closed (ignored)
	TCPBytes        uint64                  // stream bytes delivered
	TCPRetransBytes uint64                  // bytes discarded because they had been delivered already
	TCPOverlapBytes uint64                  // of those, bytes in segments that partly overlapped delivered data
	TCPOutOfOrder   uint64                  // segments buffered ahead of a gap
	TCPGaps         uint64                  // gaps skipped (bytes never seen)
	TCPGapBytes     uint64                  // bytes in those gaps
	TCPMemorySkips  uint64                  // gaps skipped early to stay within the buffer limits
	TCPBuffered     int                     // bytes buffered out of order now
}

// Accounted is the sum of the per-packet outcome counters; it equals
// Packets: no packet is dropped without being counted.
func (s *Stats) Accounted() uint64 {
	n := s.UnsupportedLink + s.NonIP + s.FragHeld + s.UDP + s.UDPFiltered + s.TCP + s.TCPFiltered
	for i := range NumLayers {
		n += s.Truncated[i] + s.Malformed[i]
	}
	for _, v := range s.OtherTransport {
		n += v
	}
	return n
}

// String gives a readable summary, omitting zero counters.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "packets %d", s.Packets)
	for _, lt := range slices.Sorted(maps.Keys(s.LinkTypes)) {
		fmt.Fprintf(&b, ", %s %d", lt, s.LinkTypes[lt])
	}
	b.WriteString("\n")
	line := func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&b, "  %s: %d\n", name, v)
		}
	}
	line("unsupported link type", s.UnsupportedLink)
	line("non-IP", s.NonIP)
	line("IPv4 packets", s.IPv4)
	line("IPv6 packets", s.IPv6)
	for i := range NumLayers {
		line("truncated "+i.String(), s.Truncated[i])
		line("malformed "+i.String(), s.Malformed[i])
	}
	line("fragments", s.Fragments)
	line("fragments awaiting more", s.FragHeld)
	line("datagrams reassembled", s.Reassembled)
	line("fragment overlaps (first kept)", s.FragOverlaps)
	for i := range NumFragDrops {
		line("fragments dropped: "+i.String(), s.FragDrops[i])
	}
	line("UDP delivered", s.UDP)
	line("UDP filtered out", s.UDPFiltered)
	for _, p := range slices.Sorted(maps.Keys(s.OtherTransport)) {
		line(fmt.Sprintf("other IP protocol %d", p), s.OtherTransport[p])
	}
	line("TCP packets", s.TCP)
	line("TCP filtered out", s.TCPFiltered)
	line("TCP connections", s.TCPConns)
	for i := range numCloseReasons {
		line("TCP closed: "+i.String(), s.TCPClosed[i])
	}
	line("TCP connection limit reached (packets)", s.TCPConnLimit)
	line("TCP packets for unknown connections", s.TCPNoConn)
	line("TCP packets after close", s.TCPAfterClose)
	line("TCP bytes delivered", s.TCPBytes)
	line("TCP bytes retransmitted", s.TCPRetransBytes)
	line("TCP bytes overlapping", s.TCPOverlapBytes)
	line("TCP segments out of order", s.TCPOutOfOrder)
	line("TCP gaps", s.TCPGaps)
	line("TCP bytes lost in gaps", s.TCPGapBytes)
	line("TCP gaps skipped for memory", s.TCPMemorySkips)
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// Add adds the counters of o to s (the decoders of a parallel run, each
// with part of the packets). Problems keeps the first MaxProblems by
// frame: each decoder kept its first ones, so these are the capture's.
// Counters are summed field by field by reflection, so that a counter
// added to Stats is never left out.
func (s *Stats) Add(o *Stats) {
	sv, ov := reflect.ValueOf(s).Elem(), reflect.ValueOf(o).Elem()
	for i := 0; i < sv.NumField(); i++ {
		addValue(sv.Field(i), ov.Field(i))
	}
	slices.SortStableFunc(s.Problems, func(x, y Problem) int { return cmp.Compare(x.Frame, y.Frame) })
	if len(s.Problems) > MaxProblems {
		s.Problems = s.Problems[:MaxProblems]
	}
}

func addValue(dst, src reflect.Value) {
	switch dst.Kind() {
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		dst.SetUint(dst.Uint() + src.Uint())
	case reflect.Int, reflect.Int64:
		dst.SetInt(dst.Int() + src.Int())
	case reflect.Array:
		for i := 0; i < dst.Len(); i++ {
			addValue(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMap(dst.Type()))
		}
		it := src.MapRange()
		for it.Next() {
			cur := dst.MapIndex(it.Key())
			if !cur.IsValid() {
				cur = reflect.Zero(dst.Type().Elem())
			}
			sum := reflect.New(dst.Type().Elem()).Elem()
			sum.Set(cur)
			addValue(sum, it.Value())
			dst.SetMapIndex(it.Key(), sum)
		}
	case reflect.Slice:
		dst.Set(reflect.AppendSlice(dst, src))
	}
	// (TestStatsAdd checks that every field of Stats has a kind handled
	// here.)
}
