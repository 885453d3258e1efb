package dissect

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// DissectSchema is the schema version of `ompscope dissect -T json`.
const DissectSchema = "ompscope.dissect/3"

// EventJSON is the JSON object of one dissected record (docs/json.md).
type EventJSON struct {
	Schema    string         `json:"schema"`
	TS        string         `json:"ts"`
	Frame     uint64         `json:"frame"`
	File      *int           `json:"file,omitempty"` // merged captures: the file (0-based) and its frame
	FileFrame uint64         `json:"file_frame,omitempty"`
	Src       netip.AddrPort `json:"src"`
	Dst       netip.AddrPort `json:"dst"`
	Transport string         `json:"transport"`
	Session   string         `json:"session,omitempty"`
	Direction string         `json:"direction"`
	Epoch     uint16         `json:"epoch"`
	Seq       uint64         `json:"seq"`
	Encrypted bool           `json:"encrypted"`
	MessageJSON
	Payload string `json:"payload,omitempty"`
}

// TimeRFC3339 formats a capture time as RFC 3339 with nanoseconds, UTC.
func TimeRFC3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

// JSON returns the JSON object of e; withPayload adds the plaintext hex.
func (e *Event) JSON(withPayload bool) EventJSON {
	j := EventJSON{Schema: DissectSchema, TS: TimeRFC3339(e.Time), Frame: e.Frame, Src: e.Src, Dst: e.Dst,
		Transport: e.Transport, Direction: e.Dir.String(), Epoch: e.Epoch, Seq: e.Seq, Encrypted: e.Decrypted,
		MessageJSON: e.Msg.JSON()}
	if e.Session != nil {
		j.Session = e.Session.ID
	}
	if e.FileFrame > 0 {
		f := e.File
		j.File, j.FileFrame = &f, e.FileFrame
	}
	if withPayload {
		j.Payload = hex.EncodeToString(e.Plaintext)
	}
	return j
}

// TextLine is the one-line, tcpdump-like form:
// "12:00:01.123456 10.1.0.5:12346 > 10.0.0.1:12346 DTLS vEdge→vSmart OMP UPDATE route-ipv4 +3 −1".
func (e *Event) TextLine() string {
	tr := strings.ToUpper(e.Transport)
	if !e.Decrypted && e.Session != nil {
		tr += "(clear)"
	}
	return fmt.Sprintf("%d %s %s > %s %s %s→%s %s", e.Frame, e.Time.UTC().Format("15:04:05.000000"), e.Src, e.Dst, tr,
		e.SrcDevice, e.DstDevice, e.Msg.Summary())
}

// WriteStats writes the per-session summary: endpoints, transport, suite,
// key source, records decrypted and failed by reason, messages by type.
func (d *Dissector) WriteStats(w io.Writer) {
	sess, per := d.Sessions()
	sort.Slice(sess, func(i, j int) bool { return sess[i].FirstFrame < sess[j].FirstFrame })
	fmt.Fprintf(w, "%d packets, %d sessions, %d application records decoded (%d with decode errors)",
		d.Counters.Packets, len(sess), d.Counters.AppRecords, d.Counters.DecodeErrors)
	if d.Counters.Heuristic > 0 {
		fmt.Fprintf(w, ", %d datagrams taken as DTLS on other ports", d.Counters.Heuristic)
	}
	if d.Counters.PlainMessages > 0 {
		fmt.Fprintf(w, ", %d vdaemon messages in the clear", d.Counters.PlainMessages)
	}
	fmt.Fprintln(w)
	if st := d.dec.AttrCacheStats(); st.Resets > 0 {
		// its cap was reached: said, as every cap is (nothing is lost:
		// the sections are decoded instead)
		fmt.Fprintf(w, "attribute cache: filled and cleared %d time(s); %d sections stored in all, %d found, %d decoded (output unaffected)\n",
			st.Resets, st.Kept, st.Hits, st.Misses)
	}
	for _, e := range d.Counters.SecretErrors {
		fmt.Fprintf(w, "  key material: %v\n", e)
	}
	kinds := make([]uint32, 0, len(d.Counters.OtherSecrets))
	for k := range d.Counters.OtherSecrets {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  key material: %d decryption secrets block(s) of type 0x%08x, not a TLS key log: skipped\n", d.Counters.OtherSecrets[k], k)
	}
	if n := d.Counters.SecretErrorsMore; n > 0 {
		fmt.Fprintf(w, "  key material: %d more problem(s) not listed\n", n)
	}
	if c := d.cfg.Keys.Counts(); c.Refused > 0 || c.OlderDropped > 0 {
		// the key store's caps were reached: said, as every cap is
		fmt.Fprintf(w, "  key material: %d key(s) refused (the store held its maximum), %d older secret(s) of re-keyed client randoms or PSK identities dropped (8 kept each)\n",
			c.Refused, c.OlderDropped)
	}
	if st := d.trackerStats(); st.RecordDrops > 0 {
		fmt.Fprintf(w, "incomplete TLS records: %d dropped (%d bytes) at the bound on their bytes in all sessions; their sessions count them as lost-sync\n",
			st.RecordDrops, st.RecordBytesDropped)
	}
	fs := d.FlowStats()
	fmt.Fprintf(w, "link/IP/transport: %s", fs.String())
	for _, s := range sess {
		key := s.KeySource
		if key == "" {
			key = "none"
		}
		fmt.Fprintf(w, "session %s: %s %s ↔ %s, %s, %s, key %s", s.ID, strings.ToUpper(s.Transport), s.Client, s.Server,
			s.VersionName(), s.CipherSuiteName(), key)
		if s.ExtendedMasterSecret {
			fmt.Fprint(w, ", extended master secret")
		}
		if s.ClientCert != nil || s.ServerCert != nil {
			fmt.Fprintf(w, "\n  client certificate: %s\n  server certificate: %s", s.ClientCert, s.ServerCert)
		}
		fmt.Fprintf(w, "\n  records: %d decrypted", s.Decrypted)
		if s.Cleartext > 0 {
			fmt.Fprintf(w, ", %d in the clear", s.Cleartext)
		}
		if s.Duplicates > 0 {
			fmt.Fprintf(w, ", %d duplicates dropped", s.Duplicates)
		}
		for _, r := range tlsdec.Reasons() {
			if n := s.Failures(r); n > 0 {
				fmt.Fprintf(w, ", %d failed (%s: %s)", n, r, s.FirstFailure(r))
			}
		}
		fmt.Fprintln(w)
		if st := per[s]; st != nil {
			msgs := st.Messages()
			kinds := make([]string, 0, len(msgs))
			for k := range msgs {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			parts := make([]string, len(kinds))
			for i, k := range kinds {
				parts[i] = fmt.Sprintf("%s %d", k, msgs[k])
			}
			fmt.Fprintf(w, "  messages: %s\n", strings.Join(parts, ", "))
		}
	}
}

// MarshalJSON for Event uses the documented object without payload.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil, false), nil }

// AppendJSON appends the event's JSON object (the same as JSON gives,
// written without reflection); withPayload adds the plaintext hex.
func (e *Event) AppendJSON(b []byte, withPayload bool) []byte {
	return e.AppendJSONTime(b, withPayload, nil)
}

// AppendJSONTime is AppendJSON with a time formatter to reuse (nil: a
// fresh one); a writer of many events keeps one.
func (e *Event) AppendJSONTime(b []byte, withPayload bool, tf *jsonw.TimeFormatter) []byte {
	if tf == nil {
		tf = new(jsonw.TimeFormatter)
	}
	b = append(b, `{"schema":"`+DissectSchema+`","ts":"`...)
	b = tf.Append(b, e.Time)
	b = append(b, `","frame":`...)
	b = jsonw.Uint(b, e.Frame)
	if e.FileFrame > 0 {
		b = append(b, `,"file":`...)
		b = jsonw.Uint(b, uint64(e.File))
		b = append(b, `,"file_frame":`...)
		b = jsonw.Uint(b, e.FileFrame)
	}
	b = append(b, `,"src":`...)
	b = jsonw.AddrPort(b, e.Src)
	b = append(b, `,"dst":`...)
	b = jsonw.AddrPort(b, e.Dst)
	b = append(b, `,"transport":`...)
	b = jsonw.String(b, e.Transport)
	if e.Session != nil {
		b = append(b, `,"session":`...)
		b = jsonw.String(b, e.Session.ID)
	}
	b = append(b, `,"direction":`...)
	b = jsonw.String(b, e.Dir.String())
	b = append(b, `,"epoch":`...)
	b = jsonw.Uint(b, uint64(e.Epoch))
	b = append(b, `,"seq":`...)
	b = jsonw.Uint(b, e.Seq)
	b = append(b, `,"encrypted":`...)
	b = jsonw.Bool(b, e.Decrypted)
	b = e.Msg.AppendJSONMembers(b)
	if withPayload {
		b = append(b, `,"payload":`...)
		b = jsonw.Hex(b, e.Plaintext)
	}
	return append(b, '}')
}

// JSONWriter writes events as NDJSON (one object a line), reusing its
// buffers: the fast path of `ompscope dissect -T json`.
type JSONWriter struct {
	w       io.Writer
	payload bool
	line    []byte
	tf      jsonw.TimeFormatter
}

// NewJSONWriter writes to w (buffer it); withPayload adds "payload".
func NewJSONWriter(w io.Writer, withPayload bool) *JSONWriter {
	return &JSONWriter{w: w, payload: withPayload}
}

// Write writes one event line.
func (j *JSONWriter) Write(e *Event) error {
	j.line = append(e.AppendJSONTime(j.line[:0], j.payload, &j.tf), '\n')
	_, err := j.w.Write(j.line)
	return err
}
