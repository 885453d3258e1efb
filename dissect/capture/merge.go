package capture

import (
	"fmt"
	"io"
)

// SecretsSource is a source of packets that may also carry keys (a pcapng
// Decryption Secrets Block): the dissector sets the callback before
// reading. Reader and Merger are.
type SecretsSource interface {
	SetOnSecrets(func(kind uint32, data []byte))
}

// SetOnSecrets sets OnSecrets.
func (r *Reader) SetOnSecrets(f func(kind uint32, data []byte)) { r.OnSecrets = f }

// Merger reads several captures as one, in time order, as mergecap does:
// captures of one fabric taken by several sensors. Frames are numbered in
// merged order; Packet.File and Packet.FileFrame say where each came from.
// Packets with equal times come in the order of the files. The keys of
// every file (Decryption Secrets Blocks) go to OnSecrets as each file's
// reading reaches them.
type Merger struct {
	rs    []*Reader
	names []string
	next  []Packet // each file's next packet (valid while next[i].Data != nil)
	state []error  // each file's end (io.EOF) or error
	frame uint64
	on    func(kind uint32, data []byte)
}

// NewMerger merges readers (names are for error messages).
func NewMerger(rs []*Reader, names []string) *Merger {
	m := &Merger{rs: rs, names: names, next: make([]Packet, len(rs)), state: make([]error, len(rs))}
	for _, r := range rs {
		r.OnSecrets = m.secrets
	}
	return m
}

// SetOnSecrets sets the callback for the files' Decryption Secrets Blocks.
func (m *Merger) SetOnSecrets(f func(kind uint32, data []byte)) { m.on = f }

func (m *Merger) secrets(kind uint32, data []byte) {
	if m.on != nil {
		m.on(kind, data)
	}
}

// Next fills p with the earliest packet of all files. An error of one file
// (a truncated file) ends the merge, naming the file; io.EOF when every
// file is done.
func (m *Merger) Next(p *Packet) error {
	best := -1
	for i := range m.rs {
		if m.state[i] != nil {
			continue
		}
		if m.next[i].Data == nil {
			if err := m.rs[i].Next(&m.next[i]); err != nil {
				m.next[i].Data = nil
				if err == io.EOF {
					m.state[i] = io.EOF
					continue
				}
				m.state[i] = err
				return fmt.Errorf("%s: %w", m.names[i], err)
			}
			if m.next[i].Data == nil {
				m.next[i].Data = []byte{} // an empty frame is still a frame
			}
		}
		if best < 0 || m.next[i].Time.Before(m.next[best].Time) {
			best = i
		}
	}
	if best < 0 {
		return io.EOF
	}
	*p = m.next[best]
	m.next[best].Data = nil // read again next time (p.Data is valid until then)
	m.frame++
	p.File, p.FileFrame, p.Frame = best, p.Frame, m.frame
	return nil
}

// Close closes every file.
func (m *Merger) Close() error {
	var first error
	for _, r := range m.rs {
		if err := r.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
