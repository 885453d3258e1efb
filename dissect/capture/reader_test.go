package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/internal/race"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const illustrated = "../testdata/illustrated-tls12/capture.pcap"

// got is a copy of one delivered packet.
type got struct {
	Data            []byte
	Time            time.Time
	Frame           uint64
	LinkType        layers.LinkType
	Iface           int
	CapLen, OrigLen int
	Offset          int64
}

// readAll reads every packet of b and returns them with the final error
// (io.EOF for a clean end).
// It reads b again as OpenMapped reads a mapped file (in place, from
// memory) and fails the test unless both read the same.
func readAll(t testing.TB, b []byte, onSecrets func(uint32, []byte)) ([]got, *Reader, error) {
	t.Helper()
	var ss, ms []string
	out, r, err := readFrom(t, bytes.NewReader(b), func(k uint32, d []byte) {
		ss = append(ss, fmt.Sprint(k, d))
		if onSecrets != nil {
			onSecrets(k, d)
		}
	})
	mout, mr, merr := readMem(t, b, func(k uint32, d []byte) { ms = append(ms, fmt.Sprint(k, d)) })
	if fmt.Sprint(err) != fmt.Sprint(merr) || !reflect.DeepEqual(out, mout) || !reflect.DeepEqual(ss, ms) ||
		(r != nil) != (mr != nil) || r != nil && !reflect.DeepEqual(r.Stats(), mr.Stats()) {
		t.Fatalf("streamed: %d packets, %v; from memory: %d packets, %v", len(out), err, len(mout), merr)
	}
	return out, r, err
}

// readMem reads b as OpenMapped reads a mapped file: in place from
// memory, or streamed when that is refused (compressed, malformed).
func readMem(t testing.TB, b []byte, onSecrets func(uint32, []byte)) ([]got, *Reader, error) {
	t.Helper()
	if len(b) == 0 { // an empty file is not mapped
		return readFrom(t, bytes.NewReader(b), onSecrets)
	}
	r, err := newMapped(b)
	if err != nil {
		return readFrom(t, bytes.NewReader(b), onSecrets)
	}
	return readPackets(t, r, onSecrets)
}

// readFrom is readAll from any source.
func readFrom(t testing.TB, src io.Reader, onSecrets func(uint32, []byte)) ([]got, *Reader, error) {
	t.Helper()
	r, err := NewReader(src)
	if err != nil {
		return nil, nil, err
	}
	return readPackets(t, r, onSecrets)
}

func readPackets(t testing.TB, r *Reader, onSecrets func(uint32, []byte)) ([]got, *Reader, error) {
	t.Helper()
	r.OnSecrets = onSecrets
	var out []got
	var p Packet
	for {
		err := r.Next(&p)
		if err != nil {
			return out, r, err
		}
		if len(p.Data) != p.CapLen {
			t.Fatalf("frame %d: len(Data) %d != CapLen %d", p.Frame, len(p.Data), p.CapLen)
		}
		out = append(out, got{bytes.Clone(p.Data), p.Time, p.Frame, p.LinkType, p.Iface, p.CapLen, p.OrigLen, p.Offset})
	}
}

func mustEOF(t *testing.T, err error) {
	t.Helper()
	if err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

func TestPcapAllMagics(t *testing.T) {
	recs := []pcapRec{
		{sec: 1700000000, frac: 123456, orig: 3, data: []byte{1, 2, 3}},
		{sec: 1700000001, frac: 999999, orig: 1500, data: []byte{4, 5, 6, 7}},
		{sec: 1700000002, frac: 0, orig: 0, data: []byte{}},
	}
	for _, tc := range []struct {
		name   string
		o      binary.ByteOrder
		nanos  bool
		format string
	}{
		{"le-us", binary.LittleEndian, false, "pcap"},
		{"be-us", binary.BigEndian, false, "pcap"},
		{"le-ns", binary.LittleEndian, true, "pcap-ns"},
		{"be-ns", binary.BigEndian, true, "pcap-ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 0x0400_0001: upper bits carry FCS information, link type 1.
			file := pcapFile(tc.o, tc.nanos, 65535, 0x04000001, recs)
			pk, r, err := readAll(t, file, nil)
			mustEOF(t, err)
			if r.Format() != tc.format {
				t.Errorf("Format() = %q, want %q", r.Format(), tc.format)
			}
			if len(pk) != len(recs) {
				t.Fatalf("got %d packets, want %d", len(pk), len(recs))
			}
			off := int64(24)
			for i, p := range pk {
				mul := int64(1000)
				if tc.nanos {
					mul = 1
				}
				want := time.Unix(int64(recs[i].sec), int64(recs[i].frac)*mul)
				if !p.Time.Equal(want) {
					t.Errorf("packet %d time %v, want %v", i, p.Time, want)
				}
				if !bytes.Equal(p.Data, recs[i].data) || p.CapLen != len(recs[i].data) || p.OrigLen != int(recs[i].orig) {
					t.Errorf("packet %d: data %x caplen %d origlen %d", i, p.Data, p.CapLen, p.OrigLen)
				}
				if p.Frame != uint64(i+1) || p.LinkType != layers.LinkTypeEthernet || p.Iface != 0 || p.Offset != off {
					t.Errorf("packet %d: frame %d linktype %v iface %d offset %d (want %d)", i, p.Frame, p.LinkType, p.Iface, p.Offset, off)
				}
				off += 16 + int64(len(recs[i].data))
			}
			st := r.Stats()
			if st.Packets != 3 || st.Bytes != off || len(st.Interfaces) != 1 || st.Interfaces[0].SnapLen != 65535 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestModifiedPcap(t *testing.T) {
	recs := []pcapRec{{sec: 10, frac: 20, orig: 5, data: []byte("abc")}, {sec: 11, frac: 0, orig: 2, data: []byte("de")}}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		pk, r, err := readAll(t, modifiedPcap(o, recs), nil)
		mustEOF(t, err)
		if r.Format() != "pcap-modified" || len(pk) != 2 || string(pk[0].Data) != "abc" || pk[0].OrigLen != 5 ||
			!pk[0].Time.Equal(time.Unix(10, 20000)) || string(pk[1].Data) != "de" || pk[1].Offset != 24+24+3 {
			t.Fatalf("%v: %q %+v", o, r.Format(), pk)
		}
	}
}

func TestPcapgoWriterRoundTrip(t *testing.T) {
	for _, nanos := range []bool{false, true} {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if nanos {
			w = pcapgo.NewWriterNanos(&buf)
		}
		if err := w.WriteFileHeader(65536, layers.LinkTypeLinuxSLL2); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
		var want []gopacket.CaptureInfo
		var datas [][]byte
		for i := range 50 {
			d := bytes.Repeat([]byte{byte(i)}, i*7)
			ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d) + i}
			if err := w.WritePacket(ci, d); err != nil {
				t.Fatal(err)
			}
			want = append(want, ci)
			datas = append(datas, d)
		}
		pk, _, err := readAll(t, buf.Bytes(), nil)
		mustEOF(t, err)
		if len(pk) != 50 {
			t.Fatalf("got %d packets", len(pk))
		}
		for i, p := range pk {
			wt := want[i].Timestamp
			if !nanos {
				wt = wt.Truncate(time.Microsecond)
			}
			if !p.Time.Equal(wt) || !bytes.Equal(p.Data, datas[i]) || p.OrigLen != want[i].Length || p.LinkType != layers.LinkTypeLinuxSLL2 {
				t.Errorf("nanos=%v packet %d: %v %d %v", nanos, i, p.Time, p.OrigLen, p.LinkType)
			}
		}
	}
}

func TestNgWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 9000},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	id1, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, TimestampOffset: 10})
	if err != nil || id1 != 1 {
		t.Fatal(id1, err)
	}
	keylog := []byte("CLIENT_RANDOM 00112233 44556677\n")
	if err := w.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_TLS, keylog); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2023, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 5, Length: 5, InterfaceIndex: 0}, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	wg := []byte("wireguard-keys")
	if err := w.WriteDecryptionSecretsBlock(pcapgo.DSB_SECRETS_TYPE_WIREGUARD, wg); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Second), CaptureLength: 3, Length: 60, InterfaceIndex: 1}, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteInterfaceStats(1, pcapgo.NgInterfaceStatistics{LastUpdate: t0, PacketsDropped: 42, PacketsReceived: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	// Record the interleaving of secrets and packets.
	var events []string
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	r.OnSecrets = func(kind uint32, data []byte) {
		events = append(events, "secrets:"+string(binary.BigEndian.AppendUint32(nil, kind))+":"+string(data))
	}
	var p Packet
	var pk []got
	for {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, "packet:"+string(p.Data))
		pk = append(pk, got{bytes.Clone(p.Data), p.Time, p.Frame, p.LinkType, p.Iface, p.CapLen, p.OrigLen, p.Offset})
	}
	wantEv := []string{"secrets:TLSK:" + string(keylog), "packet:hello", "secrets:WGKL:wireguard-keys", "packet:abc"}
	if strings.Join(events, "|") != strings.Join(wantEv, "|") {
		t.Errorf("events %q\nwant   %q", events, wantEv)
	}
	if r.Format() != "pcapng" {
		t.Errorf("format %q", r.Format())
	}
	if !pk[0].Time.Equal(t0) || pk[0].LinkType != layers.LinkTypeEthernet || pk[0].Iface != 0 || pk[0].Frame != 1 {
		t.Errorf("packet 1: %+v", pk[0])
	}
	// if_tsoffset 10 s is added to the second interface's timestamps.
	if !pk[1].Time.Equal(t0.Add(11*time.Second)) || pk[1].LinkType != layers.LinkTypeRaw || pk[1].Iface != 1 || pk[1].OrigLen != 60 || pk[1].CapLen != 3 || pk[1].Frame != 2 {
		t.Errorf("packet 2: %+v", pk[1])
	}
	st := r.Stats()
	if st.Blocks.SHB != 1 || st.Blocks.IDB != 2 || st.Blocks.EPB != 2 || st.Blocks.DSB != 2 || st.Blocks.ISB != 1 {
		t.Errorf("blocks %+v", st.Blocks)
	}
	if st.Secrets[SecretsTLSKeyLog] != 1 || st.Secrets[pcapgo.DSB_SECRETS_TYPE_WIREGUARD] != 1 {
		t.Errorf("secrets %v", st.Secrets)
	}
	if len(st.Interfaces) != 2 || st.Interfaces[0].Name != "eth0" || st.Interfaces[0].SnapLen != 9000 || st.Interfaces[1].Name != "tun0" ||
		st.Interfaces[1].TSUnits != 1e9 || st.Interfaces[1].TSOffset != 10 {
		t.Errorf("interfaces %+v", st.Interfaces)
	}
	if ifc := st.Interfaces[1]; !ifc.DroppedKnown || ifc.Dropped != 42 || !ifc.ReceivedKnown || ifc.Received != 1000 || st.Interfaces[0].DroppedKnown {
		t.Errorf("interface stats %+v", st.Interfaces)
	}
	if s := st.String(); !strings.Contains(s, "dropped 42") || !strings.Contains(s, "secrets type 0x544c534b: 1") {
		t.Errorf("summary lacks drops or secrets:\n%s", s)
	}
}

// TestNgHandBuilt covers what writers rarely produce: several sections of
// both byte orders, power-of-2 and power-of-10 resolutions, SPB, OPB, NRB,
// custom and unknown blocks.
func TestNgHandBuilt(t *testing.T) {
	var file []byte
	// Section 0, little-endian: one interface at 10^-3 with +100 s offset.
	le := &ngBuilder{o: binary.LittleEndian}
	le.shb(le.opt(4, []byte("app")), le.endOpt())
	le.idb(uint16(layers.LinkTypeEthernet), 0, le.opt(2, []byte("em0")), le.opt(optTSResol, []byte{3}), le.opt(optTSOffset, le.u64(100)), le.endOpt())
	le.epb(0, 1_700_000_000_123, []byte("p1"), 2) // ms
	le.block(4, []byte{0, 0, 0, 0})               // NRB: end of records only
	le.block(0x00000BAD, []byte("custom..."))
	le.block(0x12345678, []byte("unknown"))
	le.spb(10, []byte("spb-data-long")) // orig 10 < 13 bytes present: cut to 10
	file = append(file, le.buf.Bytes()...)

	// Section 1, big-endian: interfaces are reset; two interfaces at 2^-10
	// and at 10^-9, an OPB and a snap-limited SPB, a DSB of another type.
	be := &ngBuilder{o: binary.BigEndian}
	be.shb()
	be.idb(uint16(layers.LinkTypeLinuxSLL), 4, be.opt(optTSResol, []byte{0x80 | 10}))
	be.idb(uint16(layers.LinkTypeIPv6), 0, be.opt(optTSResol, []byte{9}), be.endOpt())
	be.epb(1, 5_000_000_001, []byte("p3"), 2)
	be.opb(0, 7, 3*1024+512, []byte("opb"), 99) // 3.5 s
	be.dsb(0x5353484b, []byte("ssh"))
	be.spb(100, []byte("abcdefgh")) // snaplen 4 on interface 0
	be.isb(0, 0, be.opt(optISBDrop, be.u64(17)), be.endOpt())
	file = append(file, be.buf.Bytes()...)

	var secrets []string
	pk, r, err := readAll(t, file, func(k uint32, d []byte) { secrets = append(secrets, string(d)) })
	mustEOF(t, err)
	if len(pk) != 5 {
		t.Fatalf("got %d packets: %+v", len(pk), pk)
	}
	if p := pk[0]; string(p.Data) != "p1" || !p.Time.Equal(time.Unix(1_700_000_000+100, 123e6)) || p.LinkType != layers.LinkTypeEthernet || p.Iface != 0 || p.Offset != int64(le.starts[2]) {
		t.Errorf("EPB: %+v", p)
	}
	if p := pk[1]; string(p.Data) != "spb-data-l" || p.OrigLen != 10 || !p.Time.Equal(pk[0].Time) || p.Iface != 0 || p.Frame != 2 {
		t.Errorf("SPB: %+v", p)
	}
	if p := pk[2]; string(p.Data) != "p3" || !p.Time.Equal(time.Unix(5, 1)) || p.LinkType != layers.LinkTypeIPv6 || p.Iface != 2 || p.Offset != int64(len(le.buf.Bytes())+be.starts[3]) {
		t.Errorf("EPB section 1: %+v", p)
	}
	if p := pk[3]; string(p.Data) != "opb" || p.OrigLen != 99 || !p.Time.Equal(time.Unix(3, 500e6)) || p.LinkType != layers.LinkTypeLinuxSLL || p.Iface != 1 {
		t.Errorf("OPB: %+v", p)
	}
	if p := pk[4]; string(p.Data) != "abcd" || p.OrigLen != 100 || !p.Time.Equal(pk[3].Time) || p.Iface != 1 {
		t.Errorf("SPB snap: %+v", p)
	}
	if len(secrets) != 1 || secrets[0] != "ssh" {
		t.Errorf("secrets %q", secrets)
	}
	st := r.Stats()
	want := BlockCounts{SHB: 2, IDB: 3, EPB: 2, SPB: 2, OPB: 1, ISB: 1, NRB: 1, DSB: 1, Custom: 1, Unknown: 1}
	if st.Blocks != want {
		t.Errorf("blocks %+v, want %+v", st.Blocks, want)
	}
	if st.UnknownTypes[0x12345678] != 1 {
		t.Errorf("unknown types %v", st.UnknownTypes)
	}
	ifs := st.Interfaces
	if len(ifs) != 3 || ifs[0].Section != 0 || ifs[0].Name != "em0" || ifs[0].TSUnits != 1000 || ifs[0].TSOffset != 100 ||
		ifs[1].Section != 1 || ifs[1].TSUnits != 1024 || ifs[1].SnapLen != 4 || !ifs[1].DroppedKnown || ifs[1].Dropped != 17 || ifs[2].TSUnits != 1e9 {
		t.Errorf("interfaces %+v", ifs)
	}
	if st.Bytes != int64(len(file)) {
		t.Errorf("bytes %d, want %d", st.Bytes, len(file))
	}
}

func TestTimestampResolutions(t *testing.T) {
	for _, tc := range []struct {
		resol byte
		ts    uint64
		want  time.Time
	}{
		{0, 7, time.Unix(7, 0)},
		{6, 1_500_000, time.Unix(1, 500_000_000)},
		{9, 1_000_000_001, time.Unix(1, 1)},
		{12, 2_000_000_000_999, time.Unix(2, 0)}, // ps: sub-ns part dropped
		{12, 2_000_000_001_999, time.Unix(2, 1)},
		{19, 10_000_000_000_000_000_000 - 1, time.Unix(0, 999_999_999)},
		{0x80 | 0, 3, time.Unix(3, 0)},
		{0x80 | 1, 3, time.Unix(1, 500_000_000)},
		{0x80 | 20, 1<<20 + 1<<19, time.Unix(1, 500_000_000)},
		{0x80 | 63, 1<<63 + 1<<62, time.Unix(1, 500_000_000)},
	} {
		b := &ngBuilder{o: binary.LittleEndian}
		b.shb()
		b.idb(1, 0, b.opt(optTSResol, []byte{tc.resol}))
		b.epb(0, tc.ts, []byte{1}, 1)
		pk, _, err := readAll(t, b.buf.Bytes(), nil)
		mustEOF(t, err)
		if len(pk) != 1 || !pk[0].Time.Equal(tc.want) {
			t.Errorf("tsresol %#x ts %d: got %v, want %v", tc.resol, tc.ts, pk, tc.want)
		}
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestGzip(t *testing.T) {
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	b.idb(1, 0)
	for i := range 100 {
		b.epb(0, uint64(i), bytes.Repeat([]byte{byte(i)}, 100), 100)
	}
	pk, r, err := readAll(t, gz(b.buf.Bytes()), nil)
	mustEOF(t, err)
	if len(pk) != 100 || r.Format() != "pcapng+gzip" || pk[99].Data[0] != 99 {
		t.Fatalf("%d packets, format %q", len(pk), r.Format())
	}
	pc := pcapFile(binary.BigEndian, true, 0, 101, []pcapRec{{sec: 1, frac: 2, orig: 1, data: []byte{9}}})
	pk, r, err = readAll(t, gz(pc), nil)
	mustEOF(t, err)
	if len(pk) != 1 || r.Format() != "pcap-ns+gzip" || !pk[0].Time.Equal(time.Unix(1, 2)) {
		t.Fatalf("%+v %q", pk, r.Format())
	}

	// Corrupt compressed data: a gzip error, not a panic or a silent EOF.
	z := gz(b.buf.Bytes())
	for i := 20; i < len(z)-8; i++ {
		z[i] ^= 0xff
	}
	_, _, err = readAll(t, z, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("corrupt gzip: got %v", err)
	}
	// Truncated gzip.
	_, _, err = readAll(t, gz(b.buf.Bytes())[:200], nil)
	if !errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated gzip: got %v", err)
	}
}

func TestOpenFileAndStdin(t *testing.T) {
	dir := t.TempDir()
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	b.idb(1, 0)
	b.epb(0, 1, []byte("x"), 1)
	// The name says .pcap; the content is gzip'd pcapng. Detection is by magic.
	path := filepath.Join(dir, "misnamed.pcap")
	if err := os.WriteFile(path, gz(b.buf.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := r.Next(&p); err != nil || string(p.Data) != "x" || r.Format() != "pcapng+gzip" {
		t.Fatalf("%v %q %q", err, p.Data, r.Format())
	}
	if err := r.Next(&p); err != io.EOF {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}

	// "-" reads standard input.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	r, err = Open("-")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Next(&p); err != nil || string(p.Data) != "x" {
		t.Fatalf("stdin: %v %q", err, p.Data)
	}
	r.Close()
}

func TestIllustratedCapture(t *testing.T) {
	r, err := Open(illustrated)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Format() != "pcap" {
		t.Errorf("format %q", r.Format())
	}
	var p Packet
	n := 0
	var total int
	var first, last time.Time
	for {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		total += p.CapLen
		if p.LinkType != layers.LinkTypeNull {
			t.Fatalf("frame %d link type %v", p.Frame, p.LinkType)
		}
		// BSD null header, host byte order: AF_INET6 on Darwin is 30.
		if binary.LittleEndian.Uint32(p.Data) != 30 {
			t.Fatalf("frame %d: AF %x", p.Frame, p.Data[:4])
		}
		if n == 1 {
			first = p.Time
		}
		last = p.Time
	}
	// Figures from capinfos: 22 packets, 3405 data bytes,
	// 2018-10-10 19:25:44.286001 to .291164 (UTC).
	if n != 22 || total != 3405 {
		t.Errorf("%d packets, %d bytes", n, total)
	}
	if want := time.Date(2018, 10, 10, 19, 25, 44, 286001000, time.UTC); !first.Equal(want) {
		t.Errorf("first %v want %v", first.UTC(), want)
	}
	if d := last.Sub(first); d != 5163*time.Microsecond {
		t.Errorf("duration %v", d)
	}
}

// cutFile returns a pcapng file and the offsets at which each of its
// packets' blocks ends, and a pcap file likewise.
func sampleFiles() (ng []byte, ngEnds, ngBounds []int, pc []byte, pcEnds []int) {
	b := &ngBuilder{o: binary.BigEndian}
	b.shb()
	b.idb(1, 0, b.opt(optTSResol, []byte{6}), b.endOpt())
	b.dsb(SecretsTLSKeyLog, []byte("CLIENT_RANDOM aa bb\n"))
	for i := range 6 {
		b.epb(0, uint64(i)*1000, bytes.Repeat([]byte{byte(i)}, 13+i), 60)
		ngEnds = append(ngEnds, b.buf.Len())
	}
	b.spb(5, []byte("hello"))
	ngEnds = append(ngEnds, b.buf.Len())
	var recs []pcapRec
	for i := range 6 {
		recs = append(recs, pcapRec{sec: uint32(i), orig: 99, data: bytes.Repeat([]byte{byte(i)}, 10+i)})
	}
	pc = pcapFile(binary.LittleEndian, false, 65535, 1, recs)
	end := 24
	for _, r := range recs {
		end += 16 + len(r.data)
		pcEnds = append(pcEnds, end)
	}
	return b.buf.Bytes(), ngEnds, b.starts, pc, pcEnds
}

// TestTruncatedEverywhere cuts files at every byte and checks that every
// packet before the cut is delivered and that the error names the offset.
func TestTruncatedEverywhere(t *testing.T) {
	ng, ngEnds, ngBounds, pc, pcEnds := sampleFiles()
	for _, tc := range []struct {
		name   string
		file   []byte
		ends   []int
		bounds []int // other offsets where a clean end is possible
		header int   // length of the file header (or first SHB)
	}{
		{"pcapng", ng, ngEnds, ngBounds, 28},
		{"pcap", pc, pcEnds, []int{24}, 24},
	} {
		boundaries := map[int]bool{}
		for _, e := range append(tc.ends, tc.bounds...) {
			boundaries[e] = true
		}
		for cut := 0; cut < len(tc.file); cut++ {
			pk, _, err := readAll(t, tc.file[:cut], nil)
			if cut < tc.header {
				var ce *Error
				if !errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%s cut %d: header error want truncation, got %v", tc.name, cut, err)
				}
				continue
			}
			wantN := 0
			lastEnd := 0
			for _, e := range tc.ends {
				if e <= cut {
					wantN++
					lastEnd = e
				}
			}
			if len(pk) != wantN {
				t.Fatalf("%s cut %d: %d packets, want %d", tc.name, cut, len(pk), wantN)
			}
			if boundaries[cut] {
				if err != io.EOF {
					t.Fatalf("%s cut %d at a record boundary: want io.EOF, got %v", tc.name, cut, err)
				}
				continue
			}
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
				// Cut inside the pcapng preamble (IDB, DSB) is also truncation.
				t.Fatalf("%s cut %d: want truncation error, got %v", tc.name, cut, err)
			}
			if cut > tc.header && lastEnd > 0 && ce.Offset != int64(lastEnd) {
				t.Fatalf("%s cut %d: error offset %d, want %d (start of the cut record): %v", tc.name, cut, ce.Offset, lastEnd, err)
			}
			if lastEnd > 0 && ce.Frame != 0 && ce.Frame != uint64(wantN+1) {
				t.Fatalf("%s cut %d: frame %d, want %d: %v", tc.name, cut, ce.Frame, wantN+1, err)
			}
			if !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("%s cut %d: message %q", tc.name, cut, err)
			}
		}
	}
}

// TestErrorsAndSticky checks every malformed-input path for a precise error.
func TestMalformed(t *testing.T) {
	le := func() *ngBuilder {
		b := &ngBuilder{o: binary.LittleEndian}
		b.shb()
		b.idb(1, 0)
		return b
	}
	type tc struct {
		name   string
		file   []byte
		where  string
		field  string
		offset int64
		msg    string
	}
	var cases []tc
	add := func(name string, file []byte, where, field string, offset int64, msg string) {
		cases = append(cases, tc{name, file, where, field, offset, msg})
	}
	add("empty", nil, "file header", "", 0, "empty input")
	add("short", []byte{0xd4, 0xc3}, "file header", "magic", 0, "only 2 bytes")
	add("text", []byte("hello world, not a capture"), "file header", "magic", 0, "not a pcap or pcapng")
	{
		f := pcapFile(binary.LittleEndian, false, 65535, 1, nil)
		binary.LittleEndian.PutUint16(f[4:], 3)
		add("pcap version", f, "file header", "version_major", 4, "unsupported version 3.4")
	}
	{
		f := pcapFile(binary.LittleEndian, false, 65535, 1, []pcapRec{{data: []byte{1}}})
		binary.LittleEndian.PutUint32(f[24+8:], 0xffffffff)
		add("pcap caplen", f, "record header", "incl_len", 24+8, "exceeds limit 262144")
	}
	{
		b := le()
		start := b.buf.Len()
		b.epb(0, 0, []byte{1, 2, 3, 4}, 4)
		orig := bytes.Clone(b.buf.Bytes())
		f := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(f[start+4:], 0x7ffffff0)
		add("block too long", f, "EPB", "block total length", int64(start+4), "exceeds the limit")
		g := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(g[start+4:], 34)
		add("block not aligned", g, "EPB", "block total length", int64(start+4), "not a multiple of 4")
		h := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(h[start+4:], 8)
		add("block too short", h, "EPB", "block total length", int64(start+4), "below the minimum 12")
		i := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(i[len(i)-4:], 40)
		add("trailer", i, "EPB", "trailing block total length", int64(len(i)-4), "differs")
		j := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(j[start+20:], 100)
		add("epb caplen", j, "EPB", "captured packet length", int64(start+20), "exceeds the 4 bytes left")
		k := bytes.Clone(orig)
		binary.LittleEndian.PutUint32(k[start+8:], 1)
		add("epb iface", k, "EPB", "interface id", int64(start+8), "interface id 1, but section 0 defines only 1")
	}
	{
		b := &ngBuilder{o: binary.LittleEndian}
		b.shb()
		f := b.buf.Bytes()
		f[8] = 0x99
		add("bom", f, "SHB", "byte-order magic", 8, "bad byte-order magic")
		g := bytes.Clone(b.buf.Bytes())
		g[8] = 0x4d
		binary.LittleEndian.PutUint16(g[12:], 2)
		add("shb version", g, "SHB", "major version", 12, "unsupported version 2.0")
	}
	{
		b := le()
		start := b.buf.Len()
		b.idb(1, 0, b.opt(optTSResol, []byte{20}))
		add("tsresol10", b.buf.Bytes(), "IDB", "if_tsresol", int64(start+16+4), "10^-20")
		b2 := le()
		b2.idb(1, 0, b2.opt(optTSResol, []byte{0x80 | 64}))
		add("tsresol2", b2.buf.Bytes(), "IDB", "if_tsresol", int64(start+16+4), "2^-64")
		b3 := le()
		b3.idb(1, 0, b3.u16(2), b3.u16(200), []byte("abcd"))
		add("option length", b3.buf.Bytes(), "IDB", "option length", int64(start+16+2), "claims 200 bytes, only 4 left")
	}
	{
		b := le()
		start := b.buf.Len()
		b.dsb(SecretsTLSKeyLog, []byte("abcd"))
		f := b.buf.Bytes()
		binary.LittleEndian.PutUint32(f[start+12:], 5000)
		add("dsb length", f, "DSB", "secrets length", int64(start+12), "5000 exceeds the 4 bytes")
	}
	{
		b := &ngBuilder{o: binary.LittleEndian}
		b.shb()
		start := b.buf.Len()
		b.spb(1, []byte{1})
		add("spb without idb", b.buf.Bytes(), "SPB", "", int64(start), "defines only 0 interfaces")
		b2 := le()
		start2 := b2.buf.Len()
		b2.isb(3, 0)
		add("isb iface", b2.buf.Bytes(), "ISB", "interface id", int64(start2+8), "interface id 3")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, r, err := readAll(t, c.file, nil)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Where != c.where || ce.Field != c.field || ce.Offset != c.offset || !strings.Contains(ce.Msg, c.msg) {
				t.Fatalf("got where=%q field=%q offset=%d msg=%q\nwant where=%q field=%q offset=%d msg~%q", ce.Where, ce.Field, ce.Offset, ce.Msg, c.where, c.field, c.offset, c.msg)
			}
			if r != nil {
				var p Packet
				if err2 := r.Next(&p); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
			}
		})
	}
}

// TestAbsurdLengthsDoNotAllocate checks that a length field claiming far
// more than the input holds costs no more memory than the input.
func TestAbsurdLengthsDoNotAllocate(t *testing.T) {
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	b.idb(1, 0)
	start := b.buf.Len()
	b.epb(0, 0, make([]byte, 64), 64)
	ng := b.buf.Bytes()
	binary.LittleEndian.PutUint32(ng[start+4:], 200<<20) // 200 MiB, under the cap

	pc := pcapFile(binary.LittleEndian, false, 0xffffffff, 1, []pcapRec{{data: make([]byte, 64)}})
	binary.LittleEndian.PutUint32(pc[24+8:], 200<<20)

	for name, f := range map[string][]byte{"pcapng": ng, "pcap": pc} {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		_, _, err := readAll(t, f, nil)
		runtime.ReadMemStats(&m1)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "209715") {
			t.Errorf("%s: want truncation naming the length, got %v", name, err)
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 8<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, alloc, len(f))
		}
	}
}

func TestNextAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	b.idb(1, 0, b.opt(optTSResol, []byte{9}))
	for i := range 2000 {
		b.epb(0, uint64(i), make([]byte, 100+i%200), 300)
	}
	ng := b.buf.Bytes()
	var recs []pcapRec
	for i := range 2000 {
		recs = append(recs, pcapRec{sec: uint32(i), data: make([]byte, 100+i%200)})
	}
	pc := pcapFile(binary.LittleEndian, false, 65535, 1, recs)
	for name, f := range map[string][]byte{"pcapng": ng, "pcap": pc} {
		r, err := NewReader(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		r.Next(&p) // warm the buffer
		allocs := testing.AllocsPerRun(1000, func() {
			if err := r.Next(&p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per packet", name, allocs)
		}
	}
}

func benchFile(b *testing.B, ng bool, size int) []byte {
	const n = 10000
	if ng {
		w := &ngBuilder{o: binary.LittleEndian}
		w.shb()
		w.idb(1, 0)
		for i := range n {
			w.epb(0, uint64(i), make([]byte, size), uint32(size))
		}
		return w.buf.Bytes()
	}
	var recs []pcapRec
	for i := range n {
		recs = append(recs, pcapRec{sec: uint32(i), data: make([]byte, size), orig: uint32(size)})
	}
	return pcapFile(binary.LittleEndian, false, 65535, 1, recs)
}

func benchRead(b *testing.B, f []byte) {
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	var p Packet
	var n int
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(f))
		if err != nil {
			b.Fatal(err)
		}
		for r.Next(&p) == nil {
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkReadPcap(b *testing.B)   { benchRead(b, benchFile(b, false, 200)) }
func BenchmarkReadPcapNG(b *testing.B) { benchRead(b, benchFile(b, true, 200)) }

// TestTypesCountedBounded: a file of blocks of 10 000 distinct unknown
// types and 10 000 distinct secrets types keeps MaxTypesCounted of each
// one by one and counts the rest together.
func TestTypesCountedBounded(t *testing.T) {
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	b.idb(uint16(layers.LinkTypeEthernet), 0)
	const n = 10_000
	for i := range uint32(n) {
		b.block(0x50000000+i, []byte("x"))
		b.dsb(0x60000000+i, []byte("s"))
	}
	b.block(0x50000000, []byte("x")) // a type already counted
	_, r, err := readAll(t, b.buf.Bytes(), func(uint32, []byte) {})
	mustEOF(t, err)
	st := r.Stats()
	if len(st.UnknownTypes) != MaxTypesCounted || st.UnknownTypes[0x50000000] != 2 || st.OtherUnknownTypes != n-MaxTypesCounted {
		t.Errorf("unknown types: %d counted one by one (first %d), %d others", len(st.UnknownTypes), st.UnknownTypes[0x50000000], st.OtherUnknownTypes)
	}
	if len(st.Secrets) != MaxTypesCounted || st.OtherSecrets != n-MaxTypesCounted || st.Blocks.DSB != n {
		t.Errorf("secrets types: %d counted one by one, %d others, %d blocks", len(st.Secrets), st.OtherSecrets, st.Blocks.DSB)
	}
	s := st.String()
	if strings.Count(s, "\n") > 2*MaxTypesCounted+10 || !strings.Contains(s, "unknown blocks of 64+ other types: 9936") ||
		!strings.Contains(s, "secrets blocks of 64+ other types: 9936") {
		t.Errorf("summary of %d lines:\n%s", strings.Count(s, "\n"), s[:min(len(s), 300)])
	}
}
