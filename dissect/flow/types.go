package flow

import (
	"net/netip"
	"time"
)

// Handler receives what the Decoder extracts. All pointers passed to it,
// and the byte slices they hold, are only valid during the call: copy what
// must outlive it. Calls are made synchronously from Decode and Flush, in
// capture order.
type Handler interface {
	// UDP is called for every UDP datagram accepted by Config.UDPFilter,
	// after IP reassembly.
	UDP(d *Datagram)
	// TCPData is called with each in-order chunk of a reassembled TCP
	// stream accepted by Config.TCPFilter.
	TCPData(s *Segment)
	// TCPClose is called once when a connection ends; data still buffered
	// has been delivered (across gaps) before.
	TCPClose(c *Conn, why CloseReason)
}

// Datagram is one UDP datagram.
type Datagram struct {
	Time  time.Time // capture time of the packet (of the last fragment if reassembled)
	Frame uint64    // frame number of the packet (of the last fragment if reassembled)
	Src   netip.AddrPort
	Dst   netip.AddrPort
	// Payload is the UDP payload; valid only during the call.
	Payload []byte
	// Fragments is the number of IP fragments the datagram was
	// reassembled from; 0 when it was not fragmented.
	Fragments int
}

// Dir is the direction of a TCP chunk within its connection.
type Dir uint8

const (
	// AtoB is data sent by Conn.A (the client, when Conn.ClientKnown).
	AtoB Dir = 0
	// BtoA is data sent by Conn.B.
	BtoA Dir = 1
)

func (d Dir) String() string {
	if d == AtoB {
		return "A→B"
	}
	return "B→A"
}

// Conn is a TCP connection. The Decoder owns it; the handler may store its
// own per-connection state in User.
type Conn struct {
	// ID numbers connections 1, 2, ... in the order they were first seen.
	ID uint64
	// A and B are the two endpoints. A is the client (the sender of the
	// SYN) when ClientKnown; otherwise A sent the first packet seen.
	A, B netip.AddrPort
	// ClientKnown is set when a SYN or SYN-ACK told which side is the
	// client.
	ClientKnown bool
	// MidStream is set when a direction carried data before any SYN was
	// seen for it: the capture started within the connection and the
	// beginning of that direction's stream is missing.
	MidStream bool
	// FirstFrame is the frame that created the connection.
	FirstFrame uint64
	// Delivered and Lost count stream bytes per direction (index Dir):
	// delivered to the handler, and skipped over in gaps.
	Delivered, Lost [2]uint64
	// User is free for the handler.
	User any
}

// Segment is an in-order chunk of one direction of a TCP stream.
type Segment struct {
	Conn *Conn
	Dir  Dir
	Src  netip.AddrPort // sender of Data
	Dst  netip.AddrPort
	// Time and Frame are those of the packet that carried Data.
	Time  time.Time
	Frame uint64
	// Data is valid only during the call.
	Data []byte
	// Gap is the number of stream bytes lost immediately before Data (0
	// when Data follows the previous chunk of this direction directly).
	Gap uint64
	// Offset is the position of Data[0] in this direction's stream,
	// counting from the first byte seen (or the byte after the SYN) and
	// counting gaps.
	Offset uint64
}

// CloseReason tells why a TCP connection ended.
type CloseReason uint8

const (
	CloseFIN    CloseReason = iota // both sides sent FIN and all data up to it was delivered
	CloseRST                       // a RST was seen
	CloseIdle                      // no packet for Config.TCPIdleTimeout of capture time
	CloseReused                    // a new SYN with another sequence number reused the 4-tuple
	CloseEnd                       // Flush at the end of input
	numCloseReasons
)

var closeNames = [numCloseReasons]string{"fin", "rst", "idle", "reused", "end-of-input"}

func (r CloseReason) String() string {
	if r < numCloseReasons {
		return closeNames[r]
	}
	return "unknown"
}
