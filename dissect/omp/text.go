package omp

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Summary is a one-line description of m, as the dissector's text output
// shows it: "OMP UPDATE route-ipv4 +3 -1", "OMP HANDSHAKE 1.1.1.5 vEdge
// site 100 hold 60s".
func Summary(m Message) string {
	switch m := m.(type) {
	case *Hello:
		return "OMP HELLO"
	case *Handshake:
		return fmt.Sprintf("OMP HANDSHAKE %s %s site %d hold %ds", m.SystemIP, m.DeviceType, m.SiteID, m.HoldTime)
	case *Update:
		if !m.Family.Parsed() {
			return fmt.Sprintf("OMP UPDATE %s (raw, %d+%d bytes)", m.Family, len(m.RawReachable), len(m.RawWithdrawn))
		}
		return fmt.Sprintf("OMP UPDATE %s +%d −%d", m.Family, len(m.Reachable), len(m.Withdrawn))
	case *Alert:
		return fmt.Sprintf("OMP ALERT %s/%s", m.Code, m.SubcodeName())
	case *Inform:
		switch m.Kind {
		case InformEndOfRIB, InformRouteRefresh:
			return fmt.Sprintf("OMP INFORM %s %s", m.Kind, m.Family)
		case InformGRBegin:
			return fmt.Sprintf("OMP INFORM %s %ds", m.Kind, m.RestartTimer)
		}
		return fmt.Sprintf("OMP INFORM %s", m.Kind)
	case *Policy:
		return fmt.Sprintf("OMP POLICY %s %q", m.Kind, m.Name)
	case *Unknown:
		return fmt.Sprintf("OMP %s v%d (%d bytes)", m.T, m.Version, len(m.Body))
	}
	return "OMP ?"
}

// NLRIString is the text form of one NLRI of family f.
func NLRIString(f Family, n *NLRI) string {
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		return fmt.Sprintf("path %d vpn %d %s", n.PathID, n.VPN, n.Prefix)
	case FamilyTLOCv4, FamilyTLOCv6:
		return fmt.Sprintf("path %d tloc %s", n.PathID, n.TLOC())
	case FamilyService:
		return fmt.Sprintf("path %d vpn %d service %s originator %s", n.PathID, n.VPN, n.Service, n.Originator)
	}
	return "path " + strconv.FormatUint(uint64(n.PathID), 10)
}

// AttrString is the text form of one attribute ("PREFERENCE 100").
func AttrString(a Attribute) string {
	var v string
	switch a := a.(type) {
	case *Originator:
		v = a.Addr.String()
	case *TLOCAttr:
		v = a.TLOCKey.String()
	case *OriginAttr:
		v = fmt.Sprintf("%s metric %d", a.Protocol, a.Metric)
	case *Uint32Attr:
		v = strconv.FormatUint(uint64(a.Value), 10)
	case *UltimateTLOC:
		v = a.TLOCKey.String() + " " + a.Action.String()
	case *Uint32ListAttr:
		parts := make([]string, len(a.Values))
		for i, x := range a.Values {
			parts[i] = strconv.FormatUint(uint64(x), 10)
		}
		v = strings.Join(parts, " ")
	case *AddrAttr:
		v = a.Addr.String()
	case *Uint8Attr:
		v = a.Text()
	case *EncapParams:
		v = fmt.Sprintf("spi 0x%x auth %d enc %d", a.SPI, a.AuthBits, a.EncryptionBits)
	case *UnknownAttr:
		v = "0x" + hex.EncodeToString(a.Value)
	}
	return a.Code().String() + " " + v
}

// WriteText writes a readable multi-line form of m, each line prefixed
// with indent.
func WriteText(w io.Writer, m Message, indent string) {
	fmt.Fprintf(w, "%s%s\n", indent, Summary(m))
	in := indent + "  "
	switch m := m.(type) {
	case *Handshake:
		fmt.Fprintf(w, "%ssystem-ip %s site-id %d domain-id %d overlay-id %d\n", in, m.SystemIP, m.SiteID, m.DomainID, m.OverlayID)
		fmt.Fprintf(w, "%shold-time %ds device %s flags 0x%02x (graceful-restart %v, route-refresh %v) gr-timer %ds\n",
			in, m.HoldTime, m.DeviceType, m.Flags, m.Flags&HandshakeGR != 0, m.Flags&HandshakeRouteRefresh != 0, m.GRTimer)
		for _, c := range m.Capabilities {
			switch c.Type {
			case CapSendPathLimit, CapECMPLimit:
				fmt.Fprintf(w, "%scapability %s %d\n", in, c.Type, c.Value)
			case CapOrganization, CapSoftwareVersion:
				fmt.Fprintf(w, "%scapability %s %q\n", in, c.Type, c.Text)
			default:
				fmt.Fprintf(w, "%scapability %s 0x%x\n", in, c.Type, c.Raw)
			}
		}
	case *Update:
		for i := range m.Withdrawn {
			fmt.Fprintf(w, "%swithdraw %s\n", in, NLRIString(m.Family, &m.Withdrawn[i]))
		}
		for _, a := range m.Attrs {
			fmt.Fprintf(w, "%sattr %s\n", in, AttrString(a))
		}
		for i := range m.Reachable {
			fmt.Fprintf(w, "%sreach %s\n", in, NLRIString(m.Family, &m.Reachable[i]))
		}
		if !m.Family.Parsed() {
			fmt.Fprintf(w, "%sraw withdrawn 0x%x\n%sraw reachable 0x%x\n", in, m.RawWithdrawn, in, m.RawReachable)
		}
	case *Alert:
		if len(m.Data) > 0 {
			fmt.Fprintf(w, "%sdata 0x%x\n", in, m.Data)
		}
	case *Inform:
		if len(m.Raw) > 0 {
			fmt.Fprintf(w, "%sraw 0x%x\n", in, m.Raw)
		}
	case *Policy:
		fmt.Fprintf(w, "%sbody %d bytes\n", in, len(m.Body))
	case *Unknown:
		fmt.Fprintf(w, "%sbody 0x%x\n", in, m.Body)
	}
}
