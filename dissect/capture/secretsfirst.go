package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxSecretsMoved bounds the key material SecretsFirst holds in memory.
const MaxSecretsMoved = 64 << 20

// SecretsFirst copies a pcapng capture from in to out with every
// Decryption Secrets Block moved to the front of its section, after the
// Section Header Block and the Interface Description Blocks that open it,
// in their order; every other block keeps its place. A capture written
// live (sniff -w) receives keys as the key log grows, after some of the
// packets they unlock, and Wireshark and tshark load secrets only as they
// read them: they decrypt only the packets after each block. Moved to the
// front, the keys come before every packet. Blocks are copied as they are
// (either byte order). The secrets are held in memory, at most
// MaxSecretsMoved bytes (a capture with more is refused); the rest is
// streamed. It returns the number of blocks moved.
func SecretsFirst(in io.ReadSeeker, out io.Writer) (int, error) {
	// pass 1: the secrets of each section
	var secrets [][][]byte
	br := &blockReader{r: bufio.NewReaderSize(in, 1<<16)}
	held, moved := 0, 0
	for {
		blk, typ, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		switch typ {
		case blockSHB:
			secrets = append(secrets, nil)
		case blockDSB:
			if held += len(blk); held > MaxSecretsMoved {
				return 0, fmt.Errorf("pcapng: more than %d bytes of Decryption Secrets Blocks to move", MaxSecretsMoved)
			}
			secrets[len(secrets)-1] = append(secrets[len(secrets)-1], blk)
			moved++
		}
	}
	// pass 2: copy, the secrets after each section's opening blocks
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	br = &blockReader{r: bufio.NewReaderSize(in, 1<<16)}
	w := bufio.NewWriterSize(out, 1<<16)
	sec, opening := -1, false
	flush := func() error {
		if !opening {
			return nil
		}
		opening = false
		for _, b := range secrets[sec] {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		blk, typ, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		switch {
		case typ == blockSHB:
			if err := flush(); err != nil {
				return 0, err
			}
			sec, opening = sec+1, true
		case typ == blockDSB:
			continue // written after the opening blocks
		case typ == blockIDB && opening:
		default:
			if err := flush(); err != nil {
				return 0, err
			}
		}
		if _, err := w.Write(blk); err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return moved, w.Flush()
}

// SecretsFirstFile rewrites the pcapng file at path with SecretsFirst,
// through a temporary file beside it renamed over it at the end (the file
// is left as it was on any error). It returns the number of blocks moved.
func SecretsFirstFile(path string) (int, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	n, err := SecretsFirst(in, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if fi, serr := in.Stat(); serr == nil {
			os.Chmod(tmp.Name(), fi.Mode().Perm())
		}
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("pcapng: moving the secrets of %s to its front: %w", path, err)
	}
	return n, nil
}

// blockReader reads whole pcapng blocks, keeping each section's byte
// order.
type blockReader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	off   int64
}

func (b *blockReader) next() ([]byte, uint32, error) {
	hdr, err := b.r.Peek(12)
	if len(hdr) == 0 && err == io.EOF {
		return nil, 0, io.EOF
	}
	if len(hdr) < 12 {
		return nil, 0, fmt.Errorf("pcapng: truncated block header at offset %d", b.off)
	}
	if binary.LittleEndian.Uint32(hdr) == blockSHB { // the same both ways
		switch binary.LittleEndian.Uint32(hdr[8:]) {
		case 0x1A2B3C4D:
			b.order = binary.LittleEndian
		case 0x4D3C2B1A:
			b.order = binary.BigEndian
		default:
			return nil, 0, fmt.Errorf("pcapng: Section Header Block at offset %d: bad byte-order magic", b.off)
		}
	} else if b.order == nil {
		return nil, 0, fmt.Errorf("pcapng: the file does not start with a Section Header Block")
	}
	n := b.order.Uint32(hdr[4:])
	if n < 12 || n%4 != 0 || n > 1<<28 {
		return nil, 0, fmt.Errorf("pcapng: block at offset %d: length %d", b.off, n)
	}
	blk := make([]byte, n)
	if _, err := io.ReadFull(b.r, blk); err != nil {
		return nil, 0, fmt.Errorf("pcapng: block at offset %d: %d bytes, truncated: %w", b.off, n, err)
	}
	if b.order.Uint32(blk[n-4:]) != n {
		return nil, 0, fmt.Errorf("pcapng: block at offset %d: trailing length differs from %d", b.off, n)
	}
	b.off += int64(n)
	return blk, b.order.Uint32(blk), nil
}
