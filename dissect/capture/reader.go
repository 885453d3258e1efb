package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
)

const (
	// MaxBlockLen is the largest pcapng block (or pcap record) accepted.
	// A longer length field is reported as an error, never allocated.
	MaxBlockLen = 256 << 20

	// minCapLimit is the smallest per-record limit used for classic pcap,
	// whatever snap length the header declares (as tcpdump, Wireshark and
	// pcapgo do: some writers declare a small snap length but write longer
	// records).
	minCapLimit = 262144

	// readChunk is the step in which large bodies are read, so that the
	// buffer grows only as fast as bytes actually arrive.
	readChunk = 1 << 20

	bufferSize = 256 << 10
)

// SecretsTLSKeyLog is the Decryption Secrets Block type of a TLS key log
// (NSS key log format, as written by SSLKEYLOGFILE).
const SecretsTLSKeyLog uint32 = 0x544c534b

// Packet is one captured frame. Next fills a caller-owned Packet so that
// reading allocates nothing per packet.
type Packet struct {
	// Data holds the captured bytes. It is only valid until the next call
	// to Next; copy it to keep it.
	Data []byte
	// Time is the capture timestamp. Simple Packet Blocks carry none: they
	// repeat the time of the previous packet (zero if there was none).
	Time time.Time
	// Frame is the 1-based number of the packet in the file.
	Frame uint64
	// LinkType is the link-layer header type of Data.
	LinkType layers.LinkType
	// Iface is the index of the capturing interface in Reader.Interfaces
	// (interfaces of all sections, in file order). Always 0 for pcap.
	Iface int
	// CapLen is len(Data); OrigLen is the length of the packet on the
	// wire (larger when the capture was cut to a snap length).
	CapLen, OrigLen int
	// Offset is the byte offset of the record or block in the
	// uncompressed stream.
	Offset int64
	// File and FileFrame say, for packets of several files read as one
	// (Merger), which file (0-based) and which frame of it. Zero for one
	// file.
	File      int
	FileFrame uint64
}

// Interface describes a capturing interface (one per pcapng Interface
// Description Block; a single one for a classic pcap file).
type Interface struct {
	Section  int // 0-based index of the pcapng section that defined it
	LinkType layers.LinkType
	SnapLen  uint32 // 0 means no limit
	Name     string // if_name option, if present
	// TSUnits is the number of timestamp units per second (from
	// if_tsresol; 1e6 when absent).
	TSUnits uint64
	// TSOffset is if_tsoffset, seconds added to every timestamp.
	TSOffset int64
	// Received and Dropped are isb_ifrecv and isb_ifdrop from the latest
	// Interface Statistics Block for this interface, valid when the
	// matching Known flag is set.
	Received, Dropped           uint64
	ReceivedKnown, DroppedKnown bool
}

// BlockCounts counts pcapng blocks by type.
type BlockCounts struct {
	SHB, IDB, EPB, SPB, OPB, ISB, NRB, DSB uint64
	// Custom counts Custom Blocks (0x00000BAD, 0x40000BAD), skipped.
	Custom uint64
	// Unknown counts blocks of any other type, skipped.
	Unknown uint64
}

// Stats summarises what a Reader has read so far.
type Stats struct {
	Format  string
	Bytes   int64  // bytes consumed from the uncompressed stream
	Packets uint64 // packets delivered by Next
	// Blocks counts pcapng blocks (all zero for pcap).
	Blocks BlockCounts
	// UnknownTypes counts skipped blocks by block type, for the first
	// MaxTypesCounted types; OtherUnknownTypes counts the blocks of the
	// rest (a file of 12-byte blocks of distinct types made a map entry
	// per block).
	UnknownTypes      map[uint32]uint64
	OtherUnknownTypes uint64
	// Secrets counts Decryption Secrets Blocks by secrets type, for the
	// first MaxTypesCounted types; OtherSecrets the blocks of the rest.
	Secrets      map[uint32]uint64
	OtherSecrets uint64
	// Interfaces lists every interface seen (all sections).
	Interfaces []Interface
}

// String gives a readable multi-line summary.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format %s, %d bytes, %d packets\n", s.Format, s.Bytes, s.Packets)
	if strings.HasPrefix(s.Format, "pcapng") {
		c := s.Blocks
		fmt.Fprintf(&b, "blocks: SHB %d, IDB %d, EPB %d, SPB %d, OPB %d, ISB %d, NRB %d (skipped), DSB %d, custom %d (skipped), unknown %d (skipped)\n",
			c.SHB, c.IDB, c.EPB, c.SPB, c.OPB, c.ISB, c.NRB, c.DSB, c.Custom, c.Unknown)
		for _, t := range sortedKeys(s.UnknownTypes) {
			fmt.Fprintf(&b, "  unknown block type 0x%08x: %d\n", t, s.UnknownTypes[t])
		}
		if s.OtherUnknownTypes > 0 {
			fmt.Fprintf(&b, "  unknown blocks of %d+ other types: %d\n", MaxTypesCounted, s.OtherUnknownTypes)
		}
		for _, t := range sortedKeys(s.Secrets) {
			fmt.Fprintf(&b, "  secrets type 0x%08x: %d\n", t, s.Secrets[t])
		}
		if s.OtherSecrets > 0 {
			fmt.Fprintf(&b, "  secrets blocks of %d+ other types: %d\n", MaxTypesCounted, s.OtherSecrets)
		}
	}
	for i, ifc := range s.Interfaces {
		fmt.Fprintf(&b, "interface %d (section %d) %q: link type %s, snaplen %d", i, ifc.Section, ifc.Name, ifc.LinkType, ifc.SnapLen)
		if ifc.ReceivedKnown {
			fmt.Fprintf(&b, ", received %d", ifc.Received)
		}
		if ifc.DroppedKnown {
			fmt.Fprintf(&b, ", dropped %d", ifc.Dropped)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// MaxTypesCounted is how many distinct block types, and secrets types,
// Stats counts one by one.
const MaxTypesCounted = 64

// countType counts one of type t in *m, or in *other past MaxTypesCounted.
func countType(m *map[uint32]uint64, other *uint64, t uint32) {
	if *m == nil {
		*m = make(map[uint32]uint64)
	}
	if _, ok := (*m)[t]; ok || len(*m) < MaxTypesCounted {
		(*m)[t]++
		return
	}
	*other++
}

func sortedKeys(m map[uint32]uint64) []uint32 {
	k := make([]uint32, 0, len(m))
	for t := range m {
		k = append(k, t)
	}
	slices.Sort(k)
	return k
}

// Reader streams packets from a pcap or pcapng file.
type Reader struct {
	// OnSecrets, if set, is called for every pcapng Decryption Secrets
	// Block as soon as it is read (from within Next), in stream order,
	// so that keys arrive before the packets they decrypt. kind is the
	// secrets type (SecretsTLSKeyLog for a TLS key log); data is only
	// valid during the call.
	OnSecrets func(kind uint32, data []byte)

	br      *bufio.Reader
	mem     []byte   // the whole input, mapped in memory (br is nil): packets are taken from it in place
	pos     int      // the next byte of mem
	dropped int      // mem before this was given back (releaseBehind)
	file    *os.File // the mapped file (shrunk)
	closers []io.Closer
	off     int64
	gz      bool
	ng      bool
	err     error // sticky

	// classic pcap
	be      bool
	nanos   bool
	recHdr  int // record header length: 16, or 24 for the modified format
	maxCap  int
	pcapLT  layers.LinkType
	pcapHdr [24]byte

	// pcapng
	section  int
	ifBase   int // index in stats.Interfaces of the current section's interface 0
	lastTime time.Time

	hdr   [32]byte
	buf   []byte
	stats Stats
}

// Open opens a capture file; "-" reads standard input. The format is
// detected from the content (gzip, pcap or pcapng). Close the Reader when
// done.
func Open(path string) (*Reader, error) {
	if path == "-" {
		return NewReader(os.Stdin)
	}
	return open(path, false)
}

// OpenMapped is Open reading a regular file mapped into memory, in place
// (no copy through a read buffer; a compressed file, a pipe or standard
// input is read as Open reads it). The pages read are given back as the
// reading goes on, so the resident memory stays small.
//
// A file that another process truncates while it is read makes the next
// read of a page it lost fault (SIGBUS). Read such a Reader only where
// that fault is turned into an error: dissect.RunSource does it for
// every read of its packets (debug.SetPanicOnFault and
// capture.FaultError); anywhere else use Open.
func OpenMapped(path string) (*Reader, error) {
	if path == "-" {
		return NewReader(os.Stdin)
	}
	return open(path, true)
}

func open(path string, mapped bool) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if mem, unmap := mapFile(f, mapped); mem != nil {
		r, err := newMapped(mem)
		if err == nil {
			r.file = f
			r.closers = append(r.closers, f, unmap)
			return r, nil
		}
		// compressed, or malformed: read as a stream, whose errors are
		// the ones Open gives
		_ = unmap.Close()
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			f.Close()
			return nil, serr
		}
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closers = append(r.closers, f)
	return r, nil
}

// NewReader reads a capture from src, detecting gzip, pcap or pcapng from
// the first bytes. It reads the file header (or first Section Header
// Block) before returning. Closing the Reader does not close src.
func NewReader(src io.Reader) (*Reader, error) {
	r := &Reader{br: bufio.NewReaderSize(src, bufferSize)}
	magic, err := r.br.Peek(4)
	if err := r.start(magic, err); err != nil {
		return nil, err
	}
	return r, nil
}

// newMapped reads a capture held whole in memory (a mapped file). A
// compressed one is refused (errNotMapped): it is read as a stream.
func newMapped(mem []byte) (*Reader, error) {
	r := &Reader{mem: mem}
	if isGzip(mem) {
		return nil, errNotMapped
	}
	magic := mem[:min(4, len(mem))]
	var err error
	if len(magic) < 4 {
		err = io.EOF
	}
	if err := r.start(magic, err); err != nil {
		return nil, err
	}
	return r, nil
}

var errNotMapped = errors.New("compressed: not read in place")

// isGzip tells whether b begins with gzip's magic bytes.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// start detects the format from the first bytes and reads the file
// header.
func (r *Reader) start(magic []byte, err error) error {
	if isGzip(magic) {
		zr, err := gzip.NewReader(r.br)
		if err != nil {
			return &Error{Format: "gzip", Where: "gzip header", Msg: "cannot start decompression", Err: err}
		}
		r.gz = true
		r.closers = append(r.closers, zr)
		r.br = bufio.NewReaderSize(zr, bufferSize)
		magic, err = r.br.Peek(4)
		if err != nil && len(magic) < 4 {
			return r.gzipOr(&Error{Format: "capture", Where: "file header", Field: "magic", Msg: fmt.Sprintf("input has only %d bytes", len(magic)), Err: io.ErrUnexpectedEOF}, err)
		}
	} else if len(magic) < 4 {
		if len(magic) == 0 && err == io.EOF {
			return &Error{Format: "capture", Where: "file header", Msg: "empty input", Err: io.ErrUnexpectedEOF}
		}
		if err != io.EOF {
			return &Error{Format: "capture", Where: "file header", Msg: "cannot read", Err: err}
		}
		return &Error{Format: "capture", Where: "file header", Field: "magic", Msg: fmt.Sprintf("input has only %d bytes", len(magic)), Err: io.ErrUnexpectedEOF}
	}
	m := binary.LittleEndian.Uint32(magic)
	switch m {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		err = r.readPcapHeader()
	case blockSHB:
		r.ng = true
		r.stats.Format = "pcapng"
		err = r.readFirstSHB()
	default:
		return &Error{Format: "capture", Where: "file header", Field: "magic",
			Msg: fmt.Sprintf("not a pcap or pcapng file (first bytes % x)", magic)}
	}
	if err != nil {
		return err
	}
	if r.gz {
		r.stats.Format += "+gzip"
	}
	return nil
}

// Format names the detected format: "pcap", "pcap-ns" (nanosecond
// timestamps), "pcap-modified" (Kuznetzov's format with 24-byte record
// headers) or "pcapng", with "+gzip" appended for compressed input.
func (r *Reader) Format() string { return r.stats.Format }

// Interfaces returns the interfaces seen so far (all sections, in order);
// Packet.Iface indexes it. The slice is shared with the Reader and grows
// as Next reads further Interface Description Blocks.
func (r *Reader) Interfaces() []Interface { return r.stats.Interfaces }

// Stats returns a snapshot of the counters.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Bytes = r.off
	s.Interfaces = slices.Clone(r.stats.Interfaces)
	if r.stats.UnknownTypes != nil {
		s.UnknownTypes = make(map[uint32]uint64, len(r.stats.UnknownTypes))
		for k, v := range r.stats.UnknownTypes {
			s.UnknownTypes[k] = v
		}
	}
	if r.stats.Secrets != nil {
		s.Secrets = make(map[uint32]uint64, len(r.stats.Secrets))
		for k, v := range r.stats.Secrets {
			s.Secrets[k] = v
		}
	}
	return s
}

// Close releases the file and decompressor opened by Open or NewReader,
// and the mapping of OpenMapped (a later Next returns os.ErrClosed).
func (r *Reader) Close() error {
	if r.mem != nil {
		// the mapping goes: a later Next must not read it
		r.mem, r.file = nil, nil
		r.err = os.ErrClosed
	}
	var first error
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	r.closers = nil
	return first
}

// Next reads the next packet into p. It returns io.EOF at the clean end of
// the input and an *Error for malformed or truncated input; after an error
// every later call returns the same error. Metadata blocks (interfaces,
// statistics, secrets) are consumed on the way.
func (r *Reader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	if r.mem != nil {
		r.release()
	}
	var err error
	if r.ng {
		err = r.nextNG(p)
	} else {
		err = r.nextPcap(p)
	}
	if err != nil {
		if err != io.EOF && r.mem != nil && r.shrunk() {
			err = &FaultError{}
		}
		r.err = err
		return err
	}
	r.stats.Packets++
	p.Frame = r.stats.Packets
	return nil
}

// readFull reads exactly len(b) bytes, tracking the stream offset.
func (r *Reader) readFull(b []byte) (int, error) {
	if r.br == nil {
		n := copy(b, r.mem[r.pos:])
		r.pos += n
		r.off += int64(n)
		switch {
		case n == len(b):
			return n, nil
		case n == 0:
			return 0, io.EOF
		}
		return n, io.ErrUnexpectedEOF
	}
	n, err := io.ReadFull(r.br, b)
	r.off += int64(n)
	return n, err
}

// take returns the next n bytes where they are, in the buffered reader's
// buffer, when it holds them all: the record headers and packets of a
// capture file are read with no copy (the copy into the reusable buffer
// was a tenth of `dissect -q`). They are valid until the next read, as
// the reusable buffer's were.
func (r *Reader) take(n int) ([]byte, bool) {
	if r.br == nil {
		if n > len(r.mem)-r.pos {
			return nil, false
		}
		b := r.mem[r.pos : r.pos+n : r.pos+n]
		r.pos += n
		r.off += int64(n)
		return b, true
	}
	if n > r.br.Buffered() {
		return nil, false
	}
	b, _ := r.br.Peek(n)
	_, _ = r.br.Discard(n)
	r.off += int64(n)
	return b[:n:n], true // an append must not write over the bytes after it
}

// readHeader reads a header of len(h) bytes: in place when buffered, else
// into h.
func (r *Reader) readHeader(h []byte) ([]byte, int, error) {
	if b, ok := r.take(len(h)); ok {
		return b, len(b), nil
	}
	n, err := r.readFull(h)
	return h, n, err
}

// readBody reads n bytes into the reusable buffer (or takes them in
// place, when buffered). Bodies larger than the
// buffer are read in chunks so that memory grows only with the bytes that
// really are in the input. It returns the bytes read and any error.
func (r *Reader) readBody(n int) ([]byte, error) {
	if b, ok := r.take(n); ok {
		return b, nil
	}
	if cap(r.buf) > 16<<20 && n <= readChunk {
		r.buf = nil // do not keep a huge buffer after one huge block
	}
	if n <= cap(r.buf) {
		b := r.buf[:n]
		got, err := r.readFull(b)
		return b[:got], err
	}
	b := r.buf[:0]
	for len(b) < n {
		step := min(n-len(b), readChunk)
		b = slices.Grow(b, step)
		got, err := r.readFull(b[len(b) : len(b)+step])
		b = b[:len(b)+got]
		if err != nil {
			r.buf = b[:0]
			return b, err
		}
	}
	r.buf = b
	return b, nil
}

// gzipOr returns a gzip error when the decompressor failed for a reason other
// than running out of input, and def otherwise.
func (r *Reader) gzipOr(def error, err error) error {
	if r.gz && err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return &Error{Format: "gzip", Where: "compressed stream", Offset: r.off,
			Msg: "decompression failed (offset is in the uncompressed stream)", Err: err}
	}
	return def
}

// truncated builds the error for a short read of want bytes of which got
// arrived, for a structure starting at start.
func (r *Reader) truncated(format, where string, start int64, frame uint64, want, got int, err error) error {
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		if r.gz {
			return r.gzipOr(nil, err)
		}
		return &Error{Format: format, Where: where, Offset: start, Frame: frame, Msg: "read failed", Err: err}
	}
	return &Error{Format: format, Where: where, Offset: start, Frame: frame,
		Msg: fmt.Sprintf("truncated: %d bytes expected, input ends after %d of them", want, got),
		Err: io.ErrUnexpectedEOF}
}

// order reads integers in a file's byte order.
type order bool

const (
	littleEndian order = false
	bigEndian    order = true
)

func (o order) u16(b []byte) uint16 {
	if o {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (o order) u32(b []byte) uint32 {
	if o {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o order) u64(b []byte) uint64 {
	if o {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// ErrIdle is returned by a live source's Next when no packet came before
// its timeout (or its wait was interrupted). It is not fatal: call Next
// again. A file never returns it.
var ErrIdle = errors.New("live: no packet before the timeout")
