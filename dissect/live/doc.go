// Package live captures packets from a network interface while they
// arrive, for ompscope's live mode ("ompscope sniff"): it is the capture
// source of the pipeline (source → packets → records → messages →
// analyzer → output) when no file is read.
//
// It provides Source (Open), a pure-Go Linux AF_PACKET capture (no cgo, no
// libpcap) that delivers capture.Packet values like a capture file reader
// does, with kernel drop counts.
//
// What a live capture also uses lives beside what it belongs with: the
// capture filter compiler in its own package (dissect/filter: tcpdump-style
// expressions to classic BPF, for the kernel), the pcapng writer beside
// the reader (capture.PcapngWriter, which saves what was captured with the
// key log lines as Decryption Secrets Blocks), the key log follower beside
// the key store (tlsdec.FollowKeyLog).
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
