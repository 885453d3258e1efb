package main

import (
	"fmt"
	"os"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
)

// exporter writes `dissect --export-decrypted`: every decrypted record as
// an exported PDU (dissect.AppendExportedPDU), its comment naming the
// source frame (and file, when several are merged) and session.
type exporter struct {
	f     *os.File
	w     *capture.PcapngWriter
	buf   []byte
	files []string // the input files, when several are merged
	err   error
}

func newExporter(path string, files []string) (*exporter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w, err := capture.NewPcapngWriterInterface(f, capture.PcapngInterface{LinkType: layers.LinkType(dissect.LinkTypeExportedPDU),
		Name: "ompscope decrypted export"})
	if err != nil {
		f.Close()
		return nil, err
	}
	if len(files) < 2 {
		files = nil
	}
	return &exporter{f: f, w: w, files: files}, nil
}

func (x *exporter) write(e *dissect.Event) {
	if x.err != nil || len(e.Plaintext) == 0 {
		return
	}
	x.buf = dissect.AppendExportedPDU(x.buf[:0], e)
	c := fmt.Sprintf("ompscope: frame %d", e.Frame)
	if len(x.files) > 1 && e.FileFrame != 0 && e.File >= 0 && e.File < len(x.files) {
		c = fmt.Sprintf("ompscope: frame %d (frame %d of %s)", e.Frame, e.FileFrame, x.files[e.File])
	}
	if e.Session != nil {
		c += ", session " + e.Session.ID
	} else {
		c += ", " + e.Transport + " in the clear"
	}
	p := capture.Packet{Data: x.buf, Time: e.Time, Frame: e.Frame, LinkType: layers.LinkType(dissect.LinkTypeExportedPDU),
		CapLen: len(x.buf), OrigLen: len(x.buf)}
	x.err = x.w.WritePacketComment(&p, c)
}

func (x *exporter) close() error {
	err := x.err
	if cerr := x.w.Close(); err == nil {
		err = cerr
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}
