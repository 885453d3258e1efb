// Package capture reads packet capture files as a stream.
//
// It is the first stage of ompscope's pipeline (capture source → packets →
// records → messages → analyzer → output): it turns the bytes of a classic
// pcap or pcapng file, optionally gzip-compressed, into a sequence of
// link-layer frames with their timestamps, and hands up the TLS key logs
// that pcapng files may carry in Decryption Secrets Blocks.
//
// Open and NewReader detect the format from magic bytes, never from the file
// name: gzip (1f 8b) is unwrapped first, then the four classic pcap magics
// (microsecond and nanosecond timestamps, either byte order), the modified
// pcap format of some old Linux tools, or the pcapng Section Header Block are
// recognised.
//
// Open's reader is streaming: it reads through a bufio.Reader and never loads the
// file into memory. Reader.Next fills a caller-owned Packet whose Data slice
// is only valid until the next call, so the steady state allocates nothing
// per packet. Large blocks are read in chunks, so a length field that
// claims more bytes than the input holds fails with an error before
// anything of that size is allocated.
//
// OpenMapped reads a regular file mapped into memory instead, taking
// records where they lie and giving the pages behind back as it goes
// (resident memory grows by about releaseStep). A file truncated under a
// mapped Reader faults on the next read of a page it lost: read it only
// where that fault becomes an error (dissect.RunSource; FaultError, and
// AsFault, which takes only faults inside a capture's mapping). The
// zeros past the new end of its last page are never taken for records:
// an all-zero pcap record header, or any error, makes the Reader look at
// the file's size first. On 2.3 M small records `dissect -j 1 -q` spent
// 4-5 % less CPU mapped than streamed (16 alternating runs,
// docs/performance.md); BenchmarkReadFile measures the reader alone.
//
// The pcapng reader is this package's own (gopacket's pcapgo.NgReader parses
// Decryption Secrets Blocks but gives no access to them). It handles several
// sections in one file (each with its own byte order and interfaces),
// Interface Description Blocks (link type, snap length, if_tsresol in both
// the power-of-10 and power-of-2 forms, if_tsoffset, if_name), Enhanced,
// Simple and obsolete Packet Blocks, Interface Statistics Blocks (the
// isb_ifdrop counter is kept per interface), Name Resolution Blocks (skipped),
// and Decryption Secrets Blocks, which are passed to Reader.OnSecrets as soon
// as they are read, in stream order. Unknown block types are skipped and
// counted in Stats.
//
// Malformed input never panics. Every problem is returned as an *Error that
// names the format, the block or record, the field and the byte offset (in
// the uncompressed stream) at which it was found, and, for packet records,
// the frame number it would have had. Every packet before the bad spot has
// already been delivered by Next. A clean end of input is io.EOF.
package capture
