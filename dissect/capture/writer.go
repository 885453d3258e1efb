package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// maxSecretsBlock bounds one Decryption Secrets Block; longer key log text
// is split at line ends over several blocks.
const maxSecretsBlock = 1 << 20

// PcapngInterface describes the capturing interface in the file's
// Interface Description Block.
type PcapngInterface struct {
	LinkType layers.LinkType
	Name     string // if_name; may be empty
	Filter   string // if_filter (the filter expression); may be empty
	SnapLen  int    // 0: no limit
}

// PcapngWriter writes a capture as pcapng (one section, one interface,
// nanosecond timestamps) through gopacket's pcapgo.NgWriter. Key log text
// goes into Decryption Secrets Blocks (type TLS key log, 0x544c534b)
// wherever WriteSecrets is called, so a reader meets each key before the
// packets that follow it — ompscope's reader (dissect/capture) and
// Wireshark both load them. Its methods may be called from several
// goroutines (packets from the capture loop, secrets from a key log
// follower). Writes are buffered: call Flush now and then (and Close at
// the end) to push them to the underlying writer, which the caller closes.
type PcapngWriter struct {
	mu       sync.Mutex
	ng       *pcapgo.NgWriter
	linkType layers.LinkType
	packets  uint64
	secrets  uint64
	err      error // sticky
	closed   bool
}

// NewPcapngWriter starts a pcapng file on w for packets of linkType; the
// Section Header and Interface Description Blocks are written at once.
func NewPcapngWriter(w io.Writer, linkType layers.LinkType) (*PcapngWriter, error) {
	return NewPcapngWriterInterface(w, PcapngInterface{LinkType: linkType})
}

// NewPcapngWriterInterface is NewPcapngWriter with the interface's name,
// filter and snap length recorded in the file.
func NewPcapngWriterInterface(w io.Writer, ifc PcapngInterface) (*PcapngWriter, error) {
	snap := ifc.SnapLen
	if snap < 0 {
		snap = 0
	}
	intf := pcapgo.NgInterface{
		Name:                ifc.Name,
		Filter:              ifc.Filter,
		OS:                  runtime.GOOS,
		LinkType:            ifc.LinkType,
		SnapLength:          uint32(snap),
		TimestampResolution: 9,
	}
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "ompscope", OS: runtime.GOOS}}
	ng, err := pcapgo.NewNgWriterInterface(w, intf, opts)
	if err != nil {
		return nil, fmt.Errorf("pcapng: writing the file header: %w", err)
	}
	return &PcapngWriter{ng: ng, linkType: ifc.LinkType}, nil
}

var errWriterClosed = errors.New("pcapng: writer closed")

// WritePacket appends p as an Enhanced Packet Block. Its link type must
// be the file's.
func (w *PcapngWriter) WritePacket(p *Packet) error { return w.WritePacketComment(p, "") }

// WritePacketComment is WritePacket with a packet comment (opt_comment;
// none when empty).
func (w *PcapngWriter) WritePacketComment(p *Packet, comment string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	if p.LinkType != w.linkType {
		return fmt.Errorf("pcapng: packet %d has link type %v, the file %v", p.Frame, p.LinkType, w.linkType)
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: max(p.OrigLen, len(p.Data))}
	var opts pcapgo.NgPacketOptions
	if comment != "" {
		opts.Comments = []string{comment}
	}
	if err := w.ng.WritePacketWithOptions(ci, p.Data, opts); err != nil {
		w.err = fmt.Errorf("pcapng: writing packet %d: %w", p.Frame, err)
		return w.err
	}
	w.packets++
	return nil
}

// WriteSecrets appends TLS key log text (NSS key log lines) as a
// Decryption Secrets Block; text over 1 MiB is split at line ends into
// several blocks. A missing final newline is added. Empty text writes
// nothing.
func (w *PcapngWriter) WriteSecrets(keylog []byte) error {
	if len(keylog) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	for len(keylog) > 0 {
		chunk := keylog
		if len(chunk) > maxSecretsBlock {
			chunk = chunk[:maxSecretsBlock]
			if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
				chunk = chunk[:i+1]
			}
		}
		keylog = keylog[len(chunk):]
		if chunk[len(chunk)-1] != '\n' {
			chunk = append(bytes.Clone(chunk), '\n')
		}
		if err := w.ng.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_TLS, chunk); err != nil {
			w.err = fmt.Errorf("pcapng: writing a decryption secrets block: %w", err)
			return w.err
		}
		w.secrets++
	}
	return nil
}

// WriteStats appends an Interface Statistics Block with the capture's
// counters: packets received and dropped by the kernel, and the capture's
// start and end times (zero: left out). The reader gives the drop count
// back (Interface.Dropped).
func (w *PcapngWriter) WriteStats(received, dropped uint64, start, end time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	last := end
	if last.IsZero() {
		last = time.Now()
	}
	err := w.ng.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
		LastUpdate:      last,
		StartTime:       start,
		EndTime:         end,
		PacketsReceived: received,
		PacketsDropped:  dropped,
	})
	if err != nil {
		w.err = fmt.Errorf("pcapng: writing interface statistics: %w", err)
	}
	return w.err
}

// Counts returns the number of packets and Decryption Secrets Blocks
// written.
func (w *PcapngWriter) Counts() (packets, secretsBlocks uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.packets, w.secrets
}

// Flush pushes buffered blocks to the underlying writer.
func (w *PcapngWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if err := w.ng.Flush(); err != nil {
		w.err = fmt.Errorf("pcapng: %w", err)
	}
	return w.err
}

// Close flushes the file; later writes fail. It does not close the
// underlying writer.
func (w *PcapngWriter) Close() error {
	err := w.Flush()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return err
}

func (w *PcapngWriter) check() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errWriterClosed
	}
	return nil
}
