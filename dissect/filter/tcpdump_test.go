package filter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// tcpdumpProgram compiles expr with tcpdump (libpcap) for the link type
// of an empty capture file: tcpdump -r FILE -ddd EXPR.
func tcpdumpProgram(t *testing.T, tcpdump, file, expr string) []bpf.RawInstruction {
	t.Helper()
	out, err := exec.Command(tcpdump, "-r", file, "-ddd", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var prog []bpf.RawInstruction
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			continue // instruction count
		}
		if len(f) != 4 {
			t.Fatalf("tcpdump output line %q", sc.Text())
		}
		var v [4]uint64
		for i := range f {
			v[i], err = strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				t.Fatalf("tcpdump output line %q: %v", sc.Text(), err)
			}
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	return prog
}

// TestFilterAgainstTcpdump compares the verdicts of our programs with
// those of the programs tcpdump (libpcap) compiles for the same
// expressions, on every test frame the two dialects agree about: frames
// without a VLAN tag (libpcap needs the vlan keyword), not ARP (libpcap's
// host also matches ARP) and not truncated (the two programs load fields
// in different orders).
func TestFilterAgainstTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install -y tcpdump); skipping the comparison with libpcap")
	}
	dir := t.TempDir()
	sets := []struct {
		lt   layers.LinkType
		pkts []pktSpec
	}{
		{layers.LinkTypeEthernet, testPackets()},
		{layers.LinkTypeRaw, rawTestPackets()},
	}
	compared := 0
	for _, set := range sets {
		// An empty classic pcap file fixes the link type.
		hdr := make([]byte, 24)
		binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
		binary.LittleEndian.PutUint16(hdr[4:], 2)
		binary.LittleEndian.PutUint16(hdr[6:], 4)
		binary.LittleEndian.PutUint32(hdr[16:], 262144)
		binary.LittleEndian.PutUint32(hdr[20:], uint32(set.lt))
		file := filepath.Join(dir, set.lt.String()+".pcap")
		if err := os.WriteFile(file, hdr, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, e := range filterExprs {
			ours, err := Compile(e, set.lt)
			if err != nil {
				t.Fatal(err)
			}
			vmOurs := newVM(t, ours)
			vmTheirs := newVM(t, tcpdumpProgram(t, tcpdump, file, e))
			for _, s := range set.pkts {
				if s.tpid != 0 || s.proto == "arp" || s.truncate > 0 {
					continue
				}
				fr := build(t, s)
				if a, b := accepts(t, vmOurs, fr), accepts(t, vmTheirs, fr); a != b {
					t.Errorf("%v %q on %q: ours accepted=%v, tcpdump's %v", set.lt, e, s.name, a, b)
				}
				compared++
			}
		}
	}
	t.Logf("%d expression/frame pairs agree with tcpdump", compared)
}
