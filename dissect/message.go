package dissect

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// Message is the decode of one control-connection record plaintext: the
// vdaemon message and, for DATA, the OMP messages inside it.
type Message struct {
	VDaemon *vdaemon.Message
	OMP     []omp.Message
	// Err is the first decode error: the vdaemon layer (VDaemon is then
	// nil) or the OMP layer (OMP then holds the messages before the bad
	// one).
	Err error
	// Header is the vdaemon header of a message whose body did not decode
	// (VDaemon nil, Err set): who sent what, even so.
	Header *vdaemon.Header
}

// DecodeMessage decodes one record plaintext. It never panics.
func DecodeMessage(b []byte) Message {
	var m Message
	v, err := vdaemon.Decode(b)
	if err != nil {
		m.Err = err
		var h vdaemon.Header
		if h.DecodeFromBytes(b) == nil {
			m.Header = &h
		}
		return m
	}
	m.VDaemon = v
	if d, ok := v.Body.(*vdaemon.Data); ok {
		m.OMP, m.Err = omp.DecodeAll(d.Payload)
	}
	return m
}

// MessageDecoder decodes record plaintexts as DecodeMessage does, but into
// values it keeps from one call to the next: the vdaemon message and its
// body, and the OMP UPDATEs with their NLRI and attributes (a record of a
// hundred NLRI costs no allocation per NLRI, and a steady stream of DATA
// and HELLO records none at all). The Message it returns is valid
// until the next Decode; a caller that keeps anything copies it. The
// attributes of a section seen before are the decoder's cached values
// (omp.AttrCache): shared by the UPDATEs that carry it, never to be
// changed.
type MessageDecoder struct {
	v      vdaemon.Message
	bodies vdaemon.Bodies
	upds   []famUpdates // by address family, in the order first seen
	msgs   []omp.Message
	attrs  *omp.AttrCache // the UPDATEs' attribute sections, by their bytes
}

// famUpdates are the reused UPDATEs of one address family (a short list
// searched in turn: a fabric uses a handful of families; a decoder is
// small, so a parallel run keeps one per record in flight).
type famUpdates struct {
	fam  uint8
	used int // taken in the record being decoded
	list []*omp.Update
}

// Decode decodes one record plaintext. It never panics.
func (d *MessageDecoder) Decode(b []byte) Message {
	var m Message
	d.v = vdaemon.Message{}
	if err := d.v.DecodeReusing(b, &d.bodies); err != nil {
		m.Err = err
		if d.v.Header.DecodeFromBytes(b) == nil {
			m.Header = &d.v.Header
		}
		return m
	}
	m.VDaemon = &d.v
	if data, ok := d.v.Body.(*vdaemon.Data); ok {
		m.OMP, m.Err = d.decodeOMP(data.Payload)
	}
	return m
}

// decodeOMP is omp.DecodeAll with the UPDATEs decoded into reused values,
// one set per address family (the attribute layout of a family's UPDATEs
// repeats, so each attribute value is overwritten by one of its type).
func (d *MessageDecoder) decodeOMP(data []byte) ([]omp.Message, error) {
	out := d.msgs[:0]
	defer func() { d.msgs = out[:0] }()
	for i := range d.upds {
		d.upds[i].used = 0
	}
	off := 0
	for i := 0; off < len(data); i++ {
		h, err := omp.DecodeHeader(data[off:])
		if err == nil && h.Version == omp.Version && h.Type == omp.TypeUpdate && int(h.Length) > omp.HeaderLen {
			f := d.family(data[off+omp.HeaderLen])
			if f.used == len(f.list) {
				u := &omp.Update{}
				u.ReuseAttributes(true)
				if d.attrs == nil {
					d.attrs = omp.NewAttrCache()
				}
				u.UseAttrCache(d.attrs)
				f.list = append(f.list, u)
			}
			u := f.list[f.used]
			f.used++
			if err := u.DecodeFromBytes(data[off+omp.HeaderLen : off+int(h.Length)]); err != nil {
				return out, &omp.SeqError{Index: i, Offset: off, Err: err}
			}
			out = append(out, u)
			off += int(h.Length)
			continue
		}
		m, n, err := omp.Decode(data[off:])
		if err != nil {
			return out, &omp.SeqError{Index: i, Offset: off, Err: err}
		}
		out = append(out, m)
		off += n
	}
	if len(out) == 0 {
		_, err := omp.DecodeAll(nil)
		return nil, err
	}
	return out, nil
}

// AttrCacheStats returns the counts of the decoder's attribute cache.
func (d *MessageDecoder) AttrCacheStats() omp.AttrCacheStats { return d.attrs.Stats() }

func (d *MessageDecoder) family(fam uint8) *famUpdates {
	for i := range d.upds {
		if d.upds[i].fam == fam {
			return &d.upds[i]
		}
	}
	d.upds = append(d.upds, famUpdates{fam: fam})
	return &d.upds[len(d.upds)-1]
}

// Summary is the one-line text of a message: the vdaemon summary, or for
// DATA the OMP summaries joined with "; ".
func (m *Message) Summary() string {
	if m.VDaemon == nil {
		return "undecodable: " + m.Err.Error()
	}
	if _, ok := m.VDaemon.Body.(*vdaemon.Data); ok && len(m.OMP) > 0 {
		s := m.VDaemon.Header.Device.String() + " "
		for i, o := range m.OMP {
			if i > 0 {
				s += "; "
			}
			s += omp.Summary(o)
		}
		if m.Err != nil {
			s += "; error: " + m.Err.Error()
		}
		return s
	}
	s := vdaemon.Summary(m.VDaemon)
	if m.Err != nil {
		s += "; error: " + m.Err.Error()
	}
	return s
}

// WriteText writes the full decode tree.
func (m *Message) WriteText(w io.Writer, indent string) {
	if m.VDaemon != nil {
		vdaemon.WriteText(w, m.VDaemon, indent)
		for _, o := range m.OMP {
			omp.WriteText(w, o, indent+"  ")
		}
	}
	if m.Err != nil {
		fmt.Fprintf(w, "%serror: %v\n", indent, m.Err)
	}
}

// MessageJSON is the JSON form of a decoded message, the "vdaemon", "omp"
// and "error" members of every dissect output object (docs/json.md).
type MessageJSON struct {
	VDaemon *vdaemon.Message `json:"vdaemon,omitempty"`
	OMP     []omp.Message    `json:"omp,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// JSON returns the JSON form.
func (m *Message) JSON() MessageJSON {
	j := MessageJSON{VDaemon: m.VDaemon, OMP: m.OMP}
	if m.Err != nil {
		j.Error = m.Err.Error()
	}
	return j
}

// MarshalJSON implements json.Marshaler.
func (m Message) MarshalJSON() ([]byte, error) { return json.Marshal(m.JSON()) }

// AppendJSONMembers appends the members "vdaemon", "omp" and "error" (each
// when present), each preceded by a comma: they go inside an object the
// caller opened.
func (m *Message) AppendJSONMembers(b []byte) []byte {
	if m.VDaemon != nil {
		b = append(b, `,"vdaemon":`...)
		b = vdaemon.AppendJSON(b, m.VDaemon)
	}
	if len(m.OMP) > 0 {
		b = append(b, `,"omp":[`...)
		for i, o := range m.OMP {
			if i > 0 {
				b = append(b, ',')
			}
			b = omp.AppendJSON(b, o)
		}
		b = append(b, ']')
	}
	if m.Err != nil {
		b = append(b, `,"error":`...)
		b = jsonw.String(b, m.Err.Error())
	}
	return b
}
