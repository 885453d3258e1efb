// Command hostile writes the hostile captures of issue 18 (item 3) that
// pcaps/bench/hostile.sh measures ompscope's peak memory on:
//
//	flows.pcap            N one-packet flows, a DTLS ClientHello each from
//	                      its own address to a controller's port (-flows)
//	idbflood.pcapng.gz    a pcapng of 8 000 000 Interface Description Blocks
//	dsbflood.pcapng.gz    2 000 000 Decryption Secrets Blocks of a type that
//	                      is not a TLS key log
//
// Usage: go run ./pcaps/bench/hostile -o DIR [-flows 300000]
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	dir := flag.String("o", "", "folder to write the captures to")
	flows := flag.Int("flows", 300_000, "one-packet flows in flows.pcap")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "hostile: -o DIR is required")
		os.Exit(2)
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"flows.pcap", func(w io.Writer) error { return writeFlows(w, *flows) }},
		{"idbflood.pcapng.gz", gzipped(func(w io.Writer) error {
			if _, err := w.Write(shb()); err != nil {
				return err
			}
			return writeBlocks(w, idb(), 8_000_000)
		})},
		{"dsbflood.pcapng.gz", gzipped(func(w io.Writer) error {
			if _, err := w.Write(append(shb(), idb()...)); err != nil {
				return err
			}
			return writeBlocks(w, block(0x0a, le32(0x12345678), le32(4), []byte("abcd")), 2_000_000)
		})},
	} {
		if err := writeFile(filepath.Join(*dir, f.name), f.write); err != nil {
			fmt.Fprintln(os.Stderr, "hostile:", err)
			os.Exit(1)
		}
	}
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func gzipped(write func(io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		if err := write(zw); err != nil {
			return err
		}
		return zw.Close()
	}
}

// writeFlows writes n one-packet flows: Ethernet, IPv4 from 100.x.y.z,
// UDP to 203.0.113.13:12346, a DTLS 1.2 ClientHello.
func writeFlows(w io.Writer, n int) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	for i := 0; i < n; i++ {
		body := []byte{0xfe, 0xfd}
		for k := 0; k < 32; k++ {
			body = append(body, byte(i>>(k%3*8)))
		}
		body = append(body, 0, 0, 0, 2, 0xc0, 0x2b, 1, 0)
		hs := append([]byte{1, 0, 0, byte(len(body)), 0, 0, 0, 0, 0, 0, 0, byte(len(body))}, body...)
		rec := append([]byte{22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(hs) >> 8), byte(len(hs))}, hs...)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IPv4(100, byte(i>>16), byte(i>>8), byte(i)), DstIP: net.IPv4(203, 0, 113, 13)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + i%30000), DstPort: 12346}
		udp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(rec)); err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * 100 * time.Microsecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := pw.WritePacket(ci, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// shb is a Section Header Block (version 1.0, length unknown).
func shb() []byte {
	return block(0x0a0d0d0a, le32(0x1a2b3c4d), []byte{1, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

// idb is an Interface Description Block: Ethernet, snap length 65535.
func idb() []byte { return block(1, []byte{1, 0, 0, 0}, le32(65535)) }

func writeBlocks(w io.Writer, b []byte, n int) error {
	chunk := make([]byte, 0, len(b)*4096)
	for i := 0; i < 4096; i++ {
		chunk = append(chunk, b...)
	}
	for n > 0 {
		k := min(n, 4096)
		if _, err := w.Write(chunk[:k*len(b)]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// block is one little-endian pcapng block of type t with the body parts.
func block(t uint32, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	l := uint32(12 + len(body))
	out := binary.LittleEndian.AppendUint32(nil, t)
	out = binary.LittleEndian.AppendUint32(out, l)
	out = append(out, body...)
	return binary.LittleEndian.AppendUint32(out, l)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
