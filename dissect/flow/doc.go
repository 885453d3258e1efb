// Package flow decodes link, network and transport layers of captured
// frames: it delivers UDP datagrams and reassembled TCP byte streams to a
// Handler.
//
// It is the stage of ompscope's pipeline between the capture source
// (package capture) and the record layers (DTLS over UDP, TLS over TCP).
//
// # Link and network layers
//
// Decoder.Packet takes one frame and its link type. Supported link types:
// Ethernet (with any stack of up to 8 802.1Q / 802.1ad / 0x9100 tags), Linux
// cooked captures SLL and SLL2, raw IP (LINKTYPE_RAW 101 and its aliases 12
// and 14, LINKTYPE_IPV4 228, LINKTYPE_IPV6 229), and BSD null / loopback
// (LINKTYPE_NULL 0 and LINKTYPE_LOOP 108; the address family in either byte
// order, with AF_INET 2 and AF_INET6 24, 28 or 30). IPv4 and IPv6 are
// decoded by hand (no gopacket.Packet, no allocation); IPv6 extension headers
// are walked (hop-by-hop, routing, destination options, mobility, HIP,
// shim6, AH, fragment). Link-layer padding is trimmed using the IP length;
// an IP length of zero (segmentation offload on the capturing host) means
// "what was captured".
//
// # Fragments
//
// IPv4 and IPv6 fragments are reassembled with fixed bounds: at most
// Config.MaxFragments fragments per datagram, 65535 bytes per datagram,
// Config.MaxFragDatagrams datagrams and Config.MaxFragBytes bytes pending in
// total (the oldest datagram is evicted beyond that; with Config.Parts, in
// total for each part of the address pairs, the oldest of the part), and a
// timeout in capture time (Config.FragTimeout, 30 s by default). Exact
// duplicates are discarded; overlapping IPv4 fragments keep the bytes that
// arrived first; overlapping IPv6 fragments void the datagram (RFC 5722).
// Every discard is counted by reason in Stats.FragDrops.
//
// # UDP
//
// Every UDP datagram accepted by Config.UDPFilter is passed to Handler.UDP
// with its capture time, frame number (of the last fragment), addresses and
// payload.
//
// # TCP
//
// TCP packets accepted by Config.TCPFilter go to the package's own
// reassembler, which delivers each direction of each connection as in-order
// chunks (Handler.TCPData) and reports the end of the connection once
// (Handler.TCPClose). In-order data is passed straight from the packet
// without copying; only segments that arrive ahead of a gap are copied and
// buffered. Retransmitted and overlapping bytes are trimmed (the data
// delivered first wins). A connection whose beginning is not in the capture
// is picked up at its first data packet and marked Conn.MidStream. When a
// SYN or SYN-ACK is seen, Conn.A is the client (Conn.ClientKnown).
//
// Lost data never stalls a stream for long: a gap is skipped, and reported
// as Segment.Gap bytes before the next chunk, when data behind it has
// waited Config.TCPGapTimeout of capture time, when buffering would exceed
// Config.MaxConnBuffer per connection or Config.MaxTCPBuffer in total (or
// in its part's share, with Config.Parts; or 1024 segments per direction),
// and when the connection ends. Connections end
// on FIN from both sides, RST, Config.TCPIdleTimeout of capture-time
// inactivity, reuse of the 4-tuple by a new SYN, or Flush.
//
// All timeouts run on capture time (the latest timestamp seen), never on
// the wall clock, so a capture file gives the same result however fast it
// is read. Work triggered by timeouts is done in connection order, so the
// output is deterministic.
//
// # Accounting
//
// Bad input never panics and is never dropped silently. Every packet ends
// in exactly one outcome counter of Stats (Stats.Accounted equals
// Stats.Packets); truncated and malformed packets are counted per layer,
// and the first MaxProblems are kept with their frame number, layer and
// byte offset.
package flow
