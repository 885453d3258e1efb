// Package live captures packets from a network interface while they
// arrive, for ompscope's live mode ("ompscope sniff"): it is the capture
// source of the pipeline (source → packets → records → messages →
// analyzer → output) when no file is read.
//
// It provides two pieces:
//
//   - a capture filter compiler (ParseFilter, CompileFilter, DefaultFilter)
//     that turns tcpdump-style expressions into classic BPF programs for the
//     kernel;
//   - Source (Open), a pure-Go Linux AF_PACKET capture (no cgo, no
//     libpcap) that delivers capture.Packet values like a capture file
//     reader does, with kernel drop counts.
//
// What a live capture also uses lives beside what it belongs with: the
// pcapng writer beside the reader (capture.PcapngWriter, which saves what
// was captured with the key log lines as Decryption Secrets Blocks), the
// key log follower beside the key store (tlsdec.FollowKeyLog).
//
// # Filters
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
// is rejected with a *FilterError naming the token and listing the
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
// DefaultFilter admits UDP to or from the DTLS control ports, TCP to or
// from the TLS ports, and — because a large OMP UPDATE is IP-fragmented and
// its later fragments carry no ports — every IP fragment of a UDP or TCP
// datagram: "(udp or tcp) and fragment", i.e. IPv4 packets with the
// more-fragments flag or a non-zero offset, and IPv6 packets whose next
// header is a Fragment header for UDP or TCP. The dissector reassembles
// them; fragments of unrelated traffic pass too and are discarded once
// reassembled (or timed out).
// Filter.WithFragments adds the same clause to a user's filter.
//
// # Live source
//
// Open creates an AF_PACKET socket (SOCK_RAW, pure Go through
// golang.org/x/sys/unix, so CGO_ENABLED=0 works) the way libpcap does: it
// is created bound to no protocol, the filter is attached and the options
// set, and only then is it bound to ETH_P_ALL on the interface, so every
// packet queued has passed the filter. It does not use gopacket's
// pcapgo.EthernetHandle because that handle keeps its socket private: its
// receive buffer cannot be enlarged (at the kernel's default of about
// 200 KiB, loopbench measured drops at 25 000 packets/s on a busy host,
// against none at well over 100 000 packets/s with the 32 MiB Open asks
// for), it binds to all protocols before a filter can be attached (a
// window of unfiltered packets), it drops the packet type (needed to see
// each loopback packet once) and the VLAN tag.
//
// Each Next is one recvmsg system call into a buffer the Source reuses
// (no allocation per packet). The kernel's receive timestamp
// (SO_TIMESTAMPNS) and the original length and VLAN tag (PACKET_AUXDATA)
// come with the packet; a tag the kernel stripped is put back into the
// frame, as libpcap does. Stats reads the kernel's counters
// (PACKET_STATISTICS, which reset on every read; Source keeps the sums).
//
// On the loopback interface a packet socket receives every packet twice,
// as sent and as received (TestLoopbackSeenTwiceByPlainSocket shows it);
// Source sets PACKET_IGNORE_OUTGOING there (Linux 4.20 and later), or
// else prefixes the filter with a test of the packet type, so each packet
// is delivered once. On other interfaces both directions are captured.
// Frames on lo are Ethernet-framed (zero MAC addresses), so the link type
// is Ethernet; tun and PPP devices give raw IP.
//
// Stop ends a capture gracefully (Next delivers what the kernel had
// queued, then io.EOF); Close ends it at once (a blocked Next returns
// ErrClosed); Wake makes a blocked Next return ErrTimeout so the loop can
// retry sessions after new keys. Without root or CAP_NET_RAW, Open returns
// a *PermissionError saying so.
//
// As with tcpdump, frames the host sends may carry checksums the network
// card has yet to fill in, and with receive offload several TCP segments
// may arrive merged into one frame larger than the MTU.
//
// # Keys and saved captures
//
// tlsdec.KeyLogFollower (tlsdec.FollowKeyLog) polls a key log file and loads each
// complete new line into a tlsdec.KeyStore; the tlsdec tracker already
// holds the records of sessions still waiting for a key, and
// dissect.Dissector.Retry decrypts them once it has arrived. The lines are
// also handed to the callback, for capture.PcapngWriter.WriteSecrets, which writes
// them as a Decryption Secrets Block at that point of the file: keys known
// at the start come before every packet, later ones right after the
// packets that were waiting for them — the order the live run saw — so
// "ompscope analyze -r" of the saved file repeats the live run. See the
// package example for the whole loop.
package live
