package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestInterfaceFlood (issue 18, item 3): a pcapng of more Interface
// Description Blocks than MaxInterfaces is refused where the cap is
// passed, with an error that says so, instead of being held (8 million of
// them took 2 GB).
func TestInterfaceFlood(t *testing.T) {
	b := &ngBuilder{o: binary.LittleEndian}
	b.shb()
	for i := 0; i < MaxInterfaces+10; i++ {
		b.idb(uint16(layers.LinkTypeEthernet), 0)
	}
	b.epb(0, 1, []byte("p"), 1)
	r, err := NewReader(bytes.NewReader(b.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	err = r.Next(&p)
	var ce *Error
	if !errors.As(err, &ce) || ce.Where != "IDB" || !strings.Contains(err.Error(), "more than 65536 interfaces") {
		t.Fatalf("%d IDBs: %v", MaxInterfaces+10, err)
	}
	if n := len(r.Interfaces()); n != MaxInterfaces {
		t.Errorf("%d interfaces held, cap %d", n, MaxInterfaces)
	}
	if err == io.EOF {
		t.Fatal("a flood of IDBs read as a clean file")
	}
}
