package capture

import (
	"fmt"
	"strings"
)

// Error describes malformed or truncated capture input. It names the format
// layer, the structure and field at fault and the byte offset in the
// uncompressed stream. A truncated file gives an Error whose Err is
// io.ErrUnexpectedEOF, so errors.Is(err, io.ErrUnexpectedEOF) detects it.
type Error struct {
	Format string // "pcap", "pcapng", "gzip" or "capture" (before the format is known)
	Where  string // structure being read: "file header", "record header", "EPB", "IDB", ...
	Field  string // field at fault, empty if the structure as a whole is
	Offset int64  // byte offset of Where in the uncompressed stream
	Frame  uint64 // frame number the packet being read would have had; 0 if not a packet
	Msg    string // what is wrong
	Err    error  // underlying cause, if any (io.ErrUnexpectedEOF for truncation)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Format)
	b.WriteString(": ")
	b.WriteString(e.Where)
	fmt.Fprintf(&b, " at offset %d", e.Offset)
	if e.Frame != 0 {
		fmt.Fprintf(&b, " (frame %d)", e.Frame)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }
