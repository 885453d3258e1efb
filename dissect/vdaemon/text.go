package vdaemon

import (
	"fmt"
	"io"
)

// Summary is a one-line description: "vdaemon HELLO vEdge 10.1.0.5:12346
// biz-internet".
func Summary(m *Message) string {
	h := &m.Header
	switch b := m.Body.(type) {
	case *Hello:
		return fmt.Sprintf("vdaemon HELLO %s %s %s", h.Device, netAddr(b), b.Color)
	case *TearDown:
		return fmt.Sprintf("vdaemon TEAR_DOWN %s %s", h.Device, b.Code)
	case *Data:
		return fmt.Sprintf("vdaemon DATA %s %d bytes", h.Device, len(b.Payload))
	case *VManageToPeer:
		keys := b.Keys()
		if len(keys) == 0 {
			return fmt.Sprintf("vdaemon VMANAGE_TO_PEER %s no SSH key", h.Device)
		}
		return fmt.Sprintf("vdaemon VMANAGE_TO_PEER %s %d SSH key(s): %s", h.Device, len(keys), keys[0].Describe())
	}
	return fmt.Sprintf("vdaemon %s %s", h.Type, h.Device)
}

func netAddr(h *Hello) string {
	if h.Addr.Is6() {
		return fmt.Sprintf("[%s]:%d", h.Addr, h.Port)
	}
	return fmt.Sprintf("%s:%d", h.Addr, h.Port)
}

// WriteText writes a readable multi-line form of m (the body of DATA is
// summarised; the caller prints the OMP messages).
func WriteText(w io.Writer, m *Message, indent string) {
	h := &m.Header
	fmt.Fprintf(w, "%svdaemon %s v%d from %s domain-id %d site-id %d flags 0x%02x\n",
		indent, h.Type, h.Version, h.Device, h.DomainID, h.SiteID, h.Flags)
	in := indent + "  "
	tlvs := func(ts []TLV) {
		for _, t := range ts {
			switch {
			case t.UnexpectedLength:
				fmt.Fprintf(w, "%stlv %s 0x%x (unexpected length %d)\n", in, t.Type, t.Raw, len(t.Raw))
			case t.IsRaw():
				fmt.Fprintf(w, "%stlv %s 0x%x\n", in, t.Type, t.Raw)
			case t.Type == TLVUUID:
				fmt.Fprintf(w, "%stlv %s %q\n", in, t.Type, t.Text)
			default:
				fmt.Fprintf(w, "%stlv %s %d\n", in, t.Type, t.Value)
			}
		}
	}
	extra := func(b []byte) {
		if len(b) > 0 {
			fmt.Fprintf(w, "%sextra 0x%x\n", in, b)
		}
	}
	switch b := m.Body.(type) {
	case *Challenge:
		fmt.Fprintf(w, "%schallenge %x…\n", in, b.Random[:16])
		tlvs(b.TLVs)
		extra(b.Extra)
	case *ChallengeAck:
		fmt.Fprintf(w, "%sverified-status %d hardware-flag %d\n", in, b.Verified, b.HardwareFlag)
		tlvs(b.TLVs)
		extra(b.Extra)
	case *ChallengeAckAck:
		fmt.Fprintf(w, "%sverify-status %d\n", in, b.VerifyStatus)
		extra(b.Extra)
	case *Hello:
		fmt.Fprintf(w, "%saddress %s color %s hello-interval %dms hello-tolerance %dms dummy %d\n",
			in, netAddr(b), b.Color, b.IntervalMS, b.ToleranceMS, b.IsDummy)
		tlvs(b.TLVs)
		extra(b.Extra)
	case *TearDown:
		fmt.Fprintf(w, "%serror %s (%d) %s\n", in, b.Code, uint8(b.Code), b.Code.Description())
		tlvs(b.TLVs)
		extra(b.Extra)
	case *Data:
		fmt.Fprintf(w, "%sOMP payload %d bytes\n", in, len(b.Payload))
	case *VManageToPeer:
		fmt.Fprintf(w, "%sauthorized-keys buffer %d bytes, %d of text", in, len(b.Buffer), len(b.Text()))
		if b.Short {
			fmt.Fprint(w, " (short body)")
		}
		fmt.Fprintln(w)
		for _, k := range b.Keys() {
			fmt.Fprintf(w, "%s  ssh key %s\n", in, k.Describe())
		}
		tlvs(b.TLVs)
		extra(b.Extra)
	case *Raw:
		fmt.Fprintf(w, "%sbody 0x%x\n", in, b.Bytes)
	}
}
