// Package filter compiles capture filters for ompscope's live capture: a
// subset of tcpdump's expression language, parsed and compiled here to
// classic BPF programs the Linux kernel runs on an AF_PACKET socket
// (dissect/live attaches them). It is written by hand because the
// alternatives (libpcap's compiler) need cgo, and ompscope builds with
// CGO_ENABLED=0; tests check it against a reference evaluator and, where
// tcpdump is installed, against tcpdump's own programs.
//
// The filter language is a subset of tcpdump's:
//
//	[udp|tcp] [src|dst] port N
//	[udp|tcp] [src|dst] portrange N-M
//	[ip|ip6] [src|dst] host ADDR      IPv4 or IPv6 address
//	[ip|ip6] [src|dst] net ADDR/LEN
//	[src|dst] ADDR                     same as host ADDR
//	udp, tcp, ip, ip6
//	fragment                           any IPv4 fragment (MF set or offset
//	                                   non-zero), or IPv6 with a Fragment header
//
// The direction may also be "src or dst" (the default) or "src and dst".
// Primitives combine with and/&&, or/||, not/! and parentheses, with the
// usual precedence (not, then and, then or). As in tcpdump, a bare value
// repeats the keywords of the primitive before it: "port 12346 or 12366"
// means "port 12346 or port 12366". Keywords are case-insensitive. Host
// and service names are not resolved. Anything else — byte offsets
// (ip[6:2]), comparisons, ether, vlan, arp, icmp, proto N, less/greater —
// is rejected with a *Error naming the token and listing the
// supported forms.
//
// Semantics follow tcpdump's (libpcap's) where they overlap, with these
// documented differences: port and portrange match TCP and UDP only (not
// SCTP); host and net match IPv4 and IPv6 only (not ARP/RARP); and every
// primitive also matches through one 802.1Q (0x8100) or 802.1ad (0x88a8)
// VLAN tag, which libpcap only does after the vlan keyword. On Linux the
// kernel removes the VLAN tag of received frames before the filter runs
// (it is handed over separately and Source puts it back into the frame), so
// the in-frame tag matters for transmitted frames and for filters run on
// stored frames.
//
// IPv4: the header length (IHL) is honoured. Port tests, like tcpdump's,
// only match unfragmented packets and first fragments (fragment offset 0):
// later fragments carry no ports. IPv6: extension headers are not walked;
// port tests match when the transport header follows the fixed header
// directly, and udp/tcp also match behind a Fragment header (as in
// libpcap). A frame too short for a field the program loads is rejected
// as a whole, as the kernel does — even under "not".
//
// The generated program first stores the IP header offset and EtherType in
// scratch memory (M[0], M[1]), then tests each primitive; port sets are
// tested by binary search, and conditional jumps farther than 255
// instructions go through trampolines, so programs of any size up to the
// kernel's 4096 instructions are valid. Supported link types are Ethernet
// (which is also what AF_PACKET delivers on the loopback interface) and raw
// IP (tun devices and other interfaces without a link-layer header).
//
// Default admits UDP to or from the DTLS control ports, TCP to or
// from the TLS ports, and — because a large OMP UPDATE is IP-fragmented and
// its later fragments carry no ports — every IP fragment of a UDP or TCP
// datagram: "(udp or tcp) and fragment", i.e. IPv4 packets with the
// more-fragments flag or a non-zero offset, and IPv6 packets whose next
// header is a Fragment header for UDP or TCP. The dissector reassembles
// them; fragments of unrelated traffic pass too and are discarded once
// reassembled (or timed out).
// Filter.WithFragments adds the same clause to a user's filter.
package filter
