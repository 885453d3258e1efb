package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzReader feeds whole files to the reader. Whatever the bytes, it must
// end with io.EOF or an *Error, deliver consistent packets, and never read
// past the input.
func FuzzReader(f *testing.F) {
	ng, _, _, pc, _ := sampleFiles()
	f.Add(ng)
	f.Add(pc)
	f.Add(gz(ng))
	le := &ngBuilder{o: binary.LittleEndian}
	le.shb()
	le.idb(1, 0, le.opt(optTSResol, []byte{0x80 | 20}), le.opt(optTSOffset, le.u64(5)), le.endOpt())
	le.epb(0, 1<<40, []byte("abc"), 3)
	le.spb(3, []byte("xyz"))
	le.opb(0, 1, 5, []byte("q"), 1)
	le.isb(0, 0, le.opt(optISBDrop, le.u64(3)), le.opt(optISBRecv, le.u64(9)), le.endOpt())
	le.block(4, nil)
	le.block(0x99, []byte("zz"))
	be := &ngBuilder{o: binary.BigEndian}
	be.shb()
	be.idb(113, 4)
	be.dsb(SecretsTLSKeyLog, []byte("CLIENT_RANDOM a b\n"))
	be.epb(0, 7, []byte("defgh"), 9)
	f.Add(append(bytes.Clone(le.buf.Bytes()), be.buf.Bytes()...))
	f.Add(pcapFile(binary.BigEndian, true, 10, 101, []pcapRec{{sec: 1, frac: 2, orig: 3, data: []byte{1, 2, 3}}}))
	f.Add(modifiedPcap(binary.LittleEndian, []pcapRec{{sec: 1, orig: 2, data: []byte{1, 2}}}))
	if real, err := os.ReadFile(illustrated); err == nil {
		f.Add(real)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("NewReader: not an *Error: %v", err)
			}
			return
		}
		r.OnSecrets = func(kind uint32, d []byte) {
			if !r.gz && len(d) > len(data) {
				t.Fatalf("secrets of %d bytes from %d-byte input", len(d), len(data))
			}
		}
		var p Packet
		for i := uint64(1); ; i++ {
			err := r.Next(&p)
			if err == io.EOF {
				break
			}
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("Next: not an *Error: %v", err)
				}
				if err2 := r.Next(&p); err2 != err {
					t.Fatalf("error not sticky")
				}
				break
			}
			if p.Frame != i || len(p.Data) != p.CapLen || p.Iface < 0 || p.Iface >= len(r.Interfaces()) {
				t.Fatalf("inconsistent packet: frame %d (want %d), len %d caplen %d iface %d of %d", p.Frame, i, len(p.Data), p.CapLen, p.Iface, len(r.Interfaces()))
			}
			if r.Interfaces()[p.Iface].LinkType != p.LinkType {
				t.Fatalf("link type %v differs from interface's %v", p.LinkType, r.Interfaces()[p.Iface].LinkType)
			}
		}
		if st := r.Stats(); !r.gz && st.Bytes > int64(len(data)) {
			t.Fatalf("consumed %d bytes of %d", st.Bytes, len(data))
		}
		_ = r.Stats().String()
		// the same bytes a byte at a time: the buffered reader then rarely
		// holds a whole record, so records go the copying way rather than
		// being taken in place; both must read the same
		var fs, ss []string
		fast, fr, ferr := readFrom(t, bytes.NewReader(data), func(k uint32, d []byte) { fs = append(fs, fmt.Sprint(k, d)) })
		slow, sr, serr := readFrom(t, iotest.OneByteReader(bytes.NewReader(data)), func(k uint32, d []byte) { ss = append(ss, fmt.Sprint(k, d)) })
		if fmt.Sprint(ferr) != fmt.Sprint(serr) || !reflect.DeepEqual(fast, slow) || !reflect.DeepEqual(fs, ss) ||
			(fr != nil) != (sr != nil) || fr != nil && !reflect.DeepEqual(fr.Stats(), sr.Stats()) {
			t.Fatalf("read in place: %d packets, %v; a byte at a time: %d packets, %v", len(fast), ferr, len(slow), serr)
		}
		// and from memory, as a mapped file is read
		var ms []string
		mem, mr, merr := readMem(t, data, func(k uint32, d []byte) { ms = append(ms, fmt.Sprint(k, d)) })
		if fmt.Sprint(ferr) != fmt.Sprint(merr) || !reflect.DeepEqual(fast, mem) || !reflect.DeepEqual(fs, ms) ||
			(fr != nil) != (mr != nil) || fr != nil && !reflect.DeepEqual(fr.Stats(), mr.Stats()) {
			t.Fatalf("streamed: %d packets, %v; from memory: %d packets, %v", len(fast), ferr, len(mem), merr)
		}
	})
}

// FuzzSecretsFirst: whatever the bytes, SecretsFirst returns an error or a
// file of the same size with the same blocks, every secrets block of a
// section before its other blocks but the opening ones; and the output
// rewritten again is unchanged.
func FuzzSecretsFirst(f *testing.F) {
	ng, _, _, _, _ := sampleFiles()
	f.Add(ng)
	be := &ngBuilder{o: binary.BigEndian}
	be.shb()
	be.idb(113, 4)
	be.epb(0, 7, []byte("defgh"), 9)
	be.dsb(SecretsTLSKeyLog, []byte("CLIENT_RANDOM a b\n"))
	be.shb()
	be.dsb(SecretsTLSKeyLog, []byte("CLIENT_RANDOM c d\n"))
	f.Add(be.buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		n, err := SecretsFirst(bytes.NewReader(data), &out)
		if err != nil {
			return
		}
		if out.Len() != len(data) {
			t.Fatalf("%d bytes in, %d out", len(data), out.Len())
		}
		var again bytes.Buffer
		n2, err := SecretsFirst(bytes.NewReader(out.Bytes()), &again)
		if err != nil || n2 != n || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("a second rewrite: %d/%d moved, %v, same %v", n2, n, err, bytes.Equal(again.Bytes(), out.Bytes()))
		}
	})
}
