//go:build !linux

package live

import (
	"github.com/gopacket/gopacket/layers"
	"github.com/ompscope/ompscope/dissect/filter"
	"golang.org/x/net/bpf"

	"github.com/ompscope/ompscope/dissect/capture"
)

// Source captures packets from a network interface. Live capture is only
// implemented for Linux; elsewhere Open returns ErrUnsupported.
type Source struct{}

// Open returns ErrUnsupported: live capture needs Linux's AF_PACKET.
func Open(iface string, opt Options) (*Source, error) { return nil, ErrUnsupported }

// Next returns ErrUnsupported.
func (s *Source) Next(p *capture.Packet) error { return ErrUnsupported }

// Stats returns ErrUnsupported.
func (s *Source) Stats() (Stats, error) { return Stats{}, ErrUnsupported }

// Wake does nothing.
func (s *Source) Wake() {}

// Stop does nothing.
func (s *Source) Stop() {}

// Close does nothing.
func (s *Source) Close() error { return nil }

// Interface returns "".
func (s *Source) Interface() string { return "" }

// LinkType returns 0.
func (s *Source) LinkType() layers.LinkType { return 0 }

// SnapLen returns 0.
func (s *Source) SnapLen() int { return 0 }

// BufferSize returns 0.
func (s *Source) BufferSize() int { return 0 }

// Filter returns nil.
func (s *Source) Filter() *filter.Filter { return nil }

// Program returns nil.
func (s *Source) Program() []bpf.RawInstruction { return nil }
