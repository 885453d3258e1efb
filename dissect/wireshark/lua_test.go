package wireshark

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/internal/hexvec"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// TestLuaPorts: the dissector registers on exactly the ports dissect
// takes as control ports by default.
func TestLuaPorts(t *testing.T) {
	b, err := os.ReadFile("ompscope.lua")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`local DTLS_FIRST, DTLS_LAST, TLS_PORT = (\d+), (\d+), (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no port line in ompscope.lua")
	}
	first, _ := strconv.Atoi(string(m[1]))
	last, _ := strconv.Atoi(string(m[2]))
	tls, _ := strconv.Atoi(string(m[3]))
	ps := dissect.ControllerDTLSPorts()
	if len(ps) != last-first+1 {
		t.Fatalf("Lua registers %d DTLS ports, dissect uses %d", last-first+1, len(ps))
	}
	for i, p := range ps {
		if int(p) != first+i {
			t.Fatalf("dissect's port %d is %d, the Lua's %d", i, p, first+i)
		}
	}
	if tls != dissect.DefaultTLSPort {
		t.Errorf("Lua TLS port %d, dissect %d", tls, dissect.DefaultTLSPort)
	}
}

// record is what both sides say of one record.
type record struct {
	vtype, dev, domain, site string
	omp                      []string // OMP message type codes, in order
	prefixes                 []string // route NLRI prefixes (withdrawn, then reachable, per UPDATE): IPv4, then IPv6
	v6                       []string
	attrs                    []string // attribute type codes of the UPDATEs, in order
}

func (r record) String() string {
	return fmt.Sprintf("type %s dev %s domain %s site %s omp %v prefixes %v", r.vtype, r.dev, r.domain, r.site, r.omp, r.prefixes)
}

// ours decodes a capture with ompscope: the records of each frame, and
// how many DTLS repeats it dropped (tshark dissects a repeated datagram
// again).
func ours(t *testing.T, path string) (map[uint64][]record, int) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[uint64][]record{}
	d := dissect.New(dissect.Config{Keys: tlsdec.NewKeyStore()}, func(e *dissect.Event) {
		v := e.Msg.VDaemon
		if v == nil || e.Session == nil {
			return // tshark hands the dissector decrypted records only
		}
		rec := record{vtype: strconv.Itoa(int(v.Header.Type)), dev: strconv.Itoa(int(v.Header.Device)),
			domain: strconv.FormatUint(uint64(v.Header.DomainID), 10), site: strconv.FormatUint(uint64(v.Header.SiteID), 10)}
		for _, m := range e.Msg.OMP {
			rec.omp = append(rec.omp, strconv.Itoa(int(m.Type())))
			if u, ok := m.(*omp.Update); ok {
				for _, a := range u.Attrs {
					rec.attrs = append(rec.attrs, strconv.Itoa(int(a.Code())))
				}
			}
			if u, ok := m.(*omp.Update); ok && u.Family.IsRoute() {
				for _, l := range [][]omp.NLRI{u.Withdrawn, u.Reachable} {
					for _, n := range l {
						if u.Family == omp.FamilyRouteV4 {
							rec.prefixes = append(rec.prefixes, n.Prefix.String())
						} else {
							rec.v6 = append(rec.v6, n.Prefix.String())
						}
					}
				}
			}
		}
		out[e.Frame] = append(out[e.Frame], rec)
	})
	if err := d.RunSource(r, dissect.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	sess, _ := d.Sessions()
	dups := 0
	for _, s := range sess {
		dups += int(s.Duplicates)
	}
	return out, dups
}

// theirs runs tshark with the dissector: the records of each frame.
func theirs(t *testing.T, tshark, path, psk string) map[uint64][]record {
	t.Helper()
	lua, _ := filepath.Abs("ompscope.lua")
	args := []string{"-X", "lua_script:" + lua, "-r", path, "-n", "-Y", "vdaemon", "-T", "fields", "-E", "occurrence=a",
		"-E", "aggregator=|", "-e", "frame.number", "-e", "vdaemon.type", "-e", "vdaemon.device_type",
		"-e", "vdaemon.domain_id", "-e", "vdaemon.site_id", "-e", "omp.type", "-e", "omp.update.prefix",
		"-e", "omp.update.prefix6", "-e", "omp.update.prefix_len", "-e", "omp.update.prefix6_len", "-e", "omp.attr.type"}
	if psk != "" {
		args = append(args, "-o", "dtls.psk:"+psk)
	}
	cmd := exec.Command(tshark, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	out := map[uint64][]record{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 11 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		frame, _ := strconv.ParseUint(f[0], 10, 64)
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "|")
		}
		types, devs, doms, sites := split(f[1]), split(f[2]), split(f[3]), split(f[4])
		// OMP types and prefixes are not split per record by tshark: a
		// frame's records are compared together below
		for i := range types {
			out[frame] = append(out[frame], record{vtype: types[i], dev: devs[i], domain: doms[i], site: sites[i]})
		}
		var prefixes []string
		for _, fam := range [][2][]string{{split(f[6]), split(f[8])}, {split(f[7]), split(f[9])}} {
			if len(fam[0]) != len(fam[1]) {
				t.Fatalf("frame %d: %d prefixes, %d lengths", frame, len(fam[0]), len(fam[1]))
			}
			for i, a := range fam[0] {
				addr, err := netip.ParseAddr(a)
				n, _ := strconv.Atoi(fam[1][i])
				if err != nil {
					t.Fatalf("tshark prefix %q", a)
				}
				prefixes = append(prefixes, netip.PrefixFrom(addr, n).String())
			}
		}
		if len(out[frame]) > 0 {
			out[frame][0].omp = split(f[5])
			out[frame][0].prefixes = prefixes
			out[frame][0].attrs = split(f[10])
		}
	}
	return out
}

// TestLuaAgainstOmpscope: on every sample, tshark with ompscope.lua reads,
// record by record, the same message types, device types, domain and site
// ids, OMP message types and route prefixes as ompscope.
func TestLuaAgainstOmpscope(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the Lua dissector is not checked (.ci/run installs it; apt-get install tshark)")
	}
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".pcapng")
		t.Run(name, func(t *testing.T) {
			psk := ""
			if m, err := manifest.Read(strings.TrimSuffix(path, ".pcapng") + ".manifest.json"); err == nil {
				psk = m.PSKKey()
			}
			want, dups := ours(t, path)
			got := theirs(t, tshark, path, psk)
			n := 0
			for frame, ws := range want {
				gs := got[frame]
				if len(gs) != len(ws) {
					t.Errorf("frame %d: tshark %d records, ompscope %d", frame, len(gs), len(ws))
					continue
				}
				var wOMP, wPfx, w6, wAttrs []string
				for i, w := range ws {
					g := gs[i]
					if g.vtype != w.vtype || g.dev != w.dev || g.domain != w.domain || g.site != w.site {
						t.Errorf("frame %d record %d: tshark %v, ompscope %v", frame, i, g, w)
					}
					wOMP, wPfx, w6 = append(wOMP, w.omp...), append(wPfx, w.prefixes...), append(w6, w.v6...)
					wAttrs = append(wAttrs, w.attrs...)
					n++
				}
				wPfx = append(wPfx, w6...)
				if strings.Join(gs[0].omp, ",") != strings.Join(wOMP, ",") || strings.Join(gs[0].prefixes, ",") != strings.Join(wPfx, ",") {
					t.Errorf("frame %d: tshark OMP %v %v, ompscope %v %v", frame, gs[0].omp, gs[0].prefixes, wOMP, wPfx)
				}
				if strings.Join(gs[0].attrs, ",") != strings.Join(wAttrs, ",") {
					t.Errorf("frame %d: tshark attributes %v, ompscope %v", frame, gs[0].attrs, wAttrs)
				}
			}
			extra := 0
			for frame := range got {
				if want[frame] == nil {
					extra += len(got[frame])
				}
			}
			if extra != dups {
				t.Errorf("tshark decodes %d records ompscope does not; ompscope dropped %d DTLS repeats", extra, dups)
			}
			if n == 0 {
				t.Fatal("no record compared")
			}
			_ = sdwan.DeviceVSmart
		})
	}
}

// TestLuaOnExport: the decrypted export (exported PDUs) opens in tshark
// with no key, and the dissector decodes every record of it as ompscope
// does.
func TestLuaOnExport(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the Lua dissector is not checked (.ci/run installs it)")
	}
	r, err := capture.Open("../../pcaps/route-flap.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := filepath.Join(t.TempDir(), "export.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewPcapngWriter(f, dissect.LinkTypeExportedPDU)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var buf []byte
	d := dissect.New(dissect.Config{Keys: tlsdec.NewKeyStore()}, func(e *dissect.Event) {
		if e.Msg.VDaemon == nil {
			return
		}
		buf = dissect.AppendExportedPDU(buf[:0], e)
		if err := w.WritePacket(&capture.Packet{Data: buf, Time: e.Time, Frame: e.Frame, LinkType: dissect.LinkTypeExportedPDU,
			CapLen: len(buf), OrigLen: len(buf)}); err != nil {
			t.Fatal(err)
		}
		want = append(want, strconv.Itoa(int(e.Msg.VDaemon.Header.Type))+"/"+strconv.Itoa(len(e.Msg.OMP)))
	})
	if err := d.RunSource(r, dissect.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lua, _ := filepath.Abs("ompscope.lua")
	out, err := exec.Command(tshark, "-X", "lua_script:"+lua, "-r", path, "-n", "-T", "fields", "-E", "occurrence=a",
		"-E", "aggregator=|", "-e", "vdaemon.type", "-e", "omp.type").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tshark: %d packets, %d records exported", len(lines), len(want))
	}
	for i, l := range lines {
		fs := strings.SplitN(l, "\t", 2)
		n := 0
		if len(fs) == 2 && fs[1] != "" {
			n = len(strings.Split(fs[1], "|"))
		}
		if got := fs[0] + "/" + strconv.Itoa(n); got != want[i] {
			t.Fatalf("packet %d: tshark %s, ompscope %s", i+1, got, want[i])
		}
	}
}

// attrFields lists an attribute's values under the Wireshark field names
// ompscope.lua gives them (docs/wireshark.md).
func attrFields(a omp.Attribute, add func(field, val string)) {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch v := a.(type) {
	case *omp.Originator:
		add("omp.attr.originator", v.Addr.String())
	case *omp.OriginAttr:
		add("omp.attr.origin", u(uint64(v.Protocol)))
		add("omp.attr.metric", u(uint64(v.Metric)))
	case *omp.Uint32Attr:
		add("omp.attr."+v.Type.Key(), u(uint64(v.Value)))
	case *omp.Uint32ListAttr:
		for _, x := range v.Values {
			add("omp.attr."+v.Type.Key(), u(uint64(x)))
		}
	case *omp.Uint8Attr:
		add("omp.attr."+v.Type.Key(), u(uint64(v.Value)))
	case *omp.AddrAttr:
		if v.Addr.Addr().Is4() {
			add("omp.attr.address", v.Addr.Addr().String())
		} else {
			add("omp.attr.address6", v.Addr.Addr().String())
		}
		add("omp.attr.port", u(uint64(v.Addr.Port())))
	case *omp.EncapParams:
		add("omp.attr.spi", u(uint64(v.SPI)))
		add("omp.attr.auth_bits", u(uint64(v.AuthBits)))
		add("omp.attr.encryption_bits", u(uint64(v.EncryptionBits)))
	case *omp.UltimateTLOC:
		add("omp.attr.ultimate_action", u(uint64(v.Action)))
	}
}

// compareFields runs, on every sample, ompscope (collect lists a record's
// values under the Wireshark field names) and tshark with ompscope.lua on
// the frames filter keeps, and fails at the first field of a frame whose
// values differ. It returns the number of values compared.
func compareFields(t *testing.T, filter string, fields []string, collect func(e *dissect.Event, add func(f, v string))) int {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the Lua dissector is not checked (.ci/run installs it)")
	}
	lua, _ := filepath.Abs("ompscope.lua")
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	compared := 0
	for _, path := range files {
		// ompscope: per frame, per field, the values in order
		want := map[uint64]map[string][]string{}
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		d := dissect.New(dissect.Config{Keys: tlsdec.NewKeyStore()}, func(e *dissect.Event) {
			if e.Session == nil {
				return
			}
			collect(e, func(f, v string) {
				if want[e.Frame] == nil {
					want[e.Frame] = map[string][]string{}
				}
				want[e.Frame][f] = append(want[e.Frame][f], v)
			})
		})
		if err := d.RunSource(r, dissect.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		d.Finish()
		r.Close()
		args := []string{"-X", "lua_script:" + lua, "-r", path, "-n", "-Y", filter, "-T", "fields", "-E", "occurrence=a",
			"-E", "aggregator=|", "-e", "frame.number"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		out, err := exec.Command(tshark, args...).Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fs := strings.Split(line, "\t")
			frame, _ := strconv.ParseUint(fs[0], 10, 64)
			w, ok := want[frame]
			if !ok {
				continue // a DTLS repeat ompscope dropped (TestLuaAgainstOmpscope counts them)
			}
			for i, f := range fields {
				var got []string
				if i+1 < len(fs) && fs[i+1] != "" {
					for _, v := range strings.Split(fs[i+1], "|") {
						if n, err := strconv.ParseUint(v, 0, 64); err == nil {
							v = strconv.FormatUint(n, 10) // hex fields print as 0x…
						}
						got = append(got, v)
					}
				}
				if strings.Join(got, ",") != strings.Join(w[f], ",") {
					t.Fatalf("%s frame %d %s: tshark %v, ompscope %v", filepath.Base(path), frame, f, got, w[f])
				}
				compared += len(got)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no value compared")
	}
	return compared
}

// TestLuaAttributeValues: on every sample, every attribute value tshark
// reads with ompscope.lua equals ompscope's, field by field, frame by frame.
func TestLuaAttributeValues(t *testing.T) {
	fields := []string{"omp.attr.originator", "omp.attr.origin", "omp.attr.metric", "omp.attr.address", "omp.attr.address6",
		"omp.attr.port", "omp.attr.spi", "omp.attr.auth_bits", "omp.attr.encryption_bits", "omp.attr.ultimate_action"}
	for t := omp.AttrType(1); t < 64; t++ {
		switch t {
		case omp.AttrOriginator, omp.AttrTLOC, omp.AttrOrigin, omp.AttrUltimateTLOC, omp.AttrEncapParams,
			omp.AttrPrivateIPv4, omp.AttrPublicIPv4, omp.AttrPrivateIPv6, omp.AttrPublicIPv6:
			continue
		}
		if t.Known() {
			fields = append(fields, "omp.attr."+t.Key())
		}
	}
	n := compareFields(t, "omp.type == 3", fields, func(e *dissect.Event, add func(f, v string)) {
		for _, m := range e.Msg.OMP {
			if u, ok := m.(*omp.Update); ok {
				for _, a := range u.Attrs {
					attrFields(a, add)
				}
			}
		}
	})
	t.Logf("%d attribute values compared", n)
}

// TestLuaEveryAttribute: an UPDATE carrying every attribute vector of
// dissect/omp (testdata/attributes.hex), exported and read by tshark with
// ompscope.lua, gives ompscope's values for every attribute.
func TestLuaEveryAttribute(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the Lua dissector is not checked (.ci/run installs it)")
	}
	vecs, err := hexvec.Read("../omp/testdata/attributes.hex")
	if err != nil {
		t.Fatal(err)
	}
	var attrs []byte
	for _, v := range vecs {
		attrs = append(attrs, v.Bytes...)
	}
	nlri := []byte{0, 0, 0, 1, 0, 0, 0, 10, 24, 10, 1, 2} // path 1, vpn 10, 10.1.2.0/24
	body := append([]byte{3, 0, 0, byte(len(attrs) >> 8), byte(len(attrs))}, attrs...)
	body = append(body, nlri...)
	msg := append([]byte{1, 3, byte((len(body) + 4) >> 8), byte(len(body) + 4)}, body...)
	rec := append([]byte{0x07, 0x10, 0xa0, 0, 0, 0, 0, 1, 0, 0, 0, 100}, msg...) // vdaemon DATA from a vEdge
	m := dissect.DecodeMessage(rec)
	if m.Err != nil || len(m.OMP) != 1 {
		t.Fatalf("ompscope: %v", m.Err)
	}
	want := map[string][]string{}
	for _, a := range m.OMP[0].(*omp.Update).Attrs {
		attrFields(a, func(f, v string) { want[f] = append(want[f], v) })
	}
	path := filepath.Join(t.TempDir(), "attrs.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := capture.NewPcapngWriter(f, dissect.LinkTypeExportedPDU)
	e := &dissect.Event{Frame: 1, Src: netip.MustParseAddrPort("192.0.2.1:12346"), Dst: netip.MustParseAddrPort("192.0.2.2:12346"),
		Transport: "dtls", Plaintext: rec}
	b := dissect.AppendExportedPDU(nil, e)
	if err := w.WritePacket(&capture.Packet{Data: b, LinkType: dissect.LinkTypeExportedPDU, CapLen: len(b), OrigLen: len(b)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	lua, _ := filepath.Abs("ompscope.lua")
	var fields []string
	for k := range want {
		fields = append(fields, k)
	}
	args := []string{"-X", "lua_script:" + lua, "-r", path, "-n", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
		"-e", "omp.attr.type"}
	for _, k := range fields {
		args = append(args, "-e", k)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	fs := strings.Split(strings.TrimRight(string(out), "\n"), "\t")
	if len(fs) != len(fields)+1 || len(strings.Split(fs[0], "|")) != len(vecs) {
		t.Fatalf("tshark: %q (%d attributes expected)", out, len(vecs))
	}
	for i, k := range fields {
		var got []string
		for _, v := range strings.Split(fs[i+1], "|") {
			if n, err := strconv.ParseUint(v, 0, 64); err == nil {
				v = strconv.FormatUint(n, 10)
			}
			got = append(got, v)
		}
		if strings.Join(got, ",") != strings.Join(want[k], ",") {
			t.Errorf("%s: tshark %v, ompscope %v", k, got, want[k])
		}
	}
	if len(fields) < 30 {
		t.Errorf("only %d fields compared", len(fields))
	}
}

// messageFields lists a record's message fields (all but the OMP
// attribute values, which attrFields lists) under the Wireshark names, in
// the order the dissector's tree holds them.
func messageFields(m *dissect.Message, add func(field, val string)) {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	v := m.VDaemon
	if v == nil {
		return
	}
	tl := func(ts []vdaemon.TLV) {
		for _, x := range ts {
			add("vdaemon.tlv.type", u(uint64(x.Type)))
		}
	}
	switch b := v.Body.(type) {
	case *vdaemon.Challenge:
		tl(b.TLVs)
	case *vdaemon.ChallengeAck:
		add("vdaemon.verified_status", u(uint64(b.Verified)))
		add("vdaemon.hardware_flag", u(uint64(b.HardwareFlag)))
		tl(b.TLVs)
	case *vdaemon.ChallengeAckAck:
		add("vdaemon.verify_status", u(uint64(b.VerifyStatus)))
	case *vdaemon.Hello:
		if b.Addr.Is4() {
			add("vdaemon.hello.address", b.Addr.String())
		} else {
			add("vdaemon.hello.address6", b.Addr.String())
		}
		add("vdaemon.hello.port", u(uint64(b.Port)))
		add("vdaemon.hello.color", u(uint64(b.Color)))
		add("vdaemon.hello.interval_ms", u(uint64(b.IntervalMS)))
		add("vdaemon.hello.tolerance_ms", u(uint64(b.ToleranceMS)))
		tl(b.TLVs)
	case *vdaemon.TearDown:
		add("vdaemon.teardown.error_code", u(uint64(b.Code)))
		tl(b.TLVs)
	case *vdaemon.VManageToPeer:
		tl(b.TLVs)
	}
	nl := func(f omp.Family, ns []omp.NLRI) {
		for _, n := range ns {
			add("omp.update.path_id", u(uint64(n.PathID)))
			switch {
			case f.IsRoute():
				add("omp.update.vpn", u(uint64(n.VPN)))
			case f.IsTLOC():
				add("omp.tloc.system_ip", n.SystemIP.String())
				add("omp.tloc.color", u(uint64(n.Color)))
				add("omp.tloc.encap", u(uint64(n.Encap)))
			case f == omp.FamilyService:
				add("omp.update.vpn", u(uint64(n.VPN)))
				add("omp.service.service", u(uint64(n.Service)))
				add("omp.service.originator", n.Originator.String())
			}
		}
	}
	for _, om := range m.OMP {
		switch x := om.(type) {
		case *omp.Handshake:
			add("omp.handshake.system_ip", x.SystemIP.String())
			add("omp.handshake.site_id", u(uint64(x.SiteID)))
			add("omp.handshake.domain_id", u(uint64(x.DomainID)))
			add("omp.handshake.overlay_id", u(uint64(x.OverlayID)))
			add("omp.handshake.hold_time", u(uint64(x.HoldTime)))
			add("omp.handshake.device_type", u(uint64(x.DeviceType)))
			add("omp.handshake.flags", u(uint64(x.Flags)))
			add("omp.handshake.gr_timer", u(uint64(x.GRTimer)))
		case *omp.Update:
			add("omp.update.family", u(uint64(x.Family)))
			nl(x.Family, x.Withdrawn)
			for _, a := range x.Attrs {
				switch t := a.(type) {
				case *omp.TLOCAttr:
					add("omp.tloc.system_ip", t.SystemIP.String())
					add("omp.tloc.color", u(uint64(t.Color)))
					add("omp.tloc.encap", u(uint64(t.Encap)))
				case *omp.UltimateTLOC:
					add("omp.tloc.system_ip", t.SystemIP.String())
					add("omp.tloc.color", u(uint64(t.Color)))
					add("omp.tloc.encap", u(uint64(t.Encap)))
				}
			}
			nl(x.Family, x.Reachable)
		case *omp.Alert:
			add("omp.alert.code", u(uint64(x.Code)))
			add("omp.alert.subcode", u(uint64(x.Subcode)))
		case *omp.Inform:
			add("omp.inform.kind", u(uint64(x.Kind)))
			if x.Kind == omp.InformEndOfRIB || x.Kind == omp.InformRouteRefresh {
				add("omp.inform.family", u(uint64(x.Family)))
			}
		}
	}
}

// TestLuaMessageFields: on every sample, every message field tshark reads
// with ompscope.lua (vdaemon bodies and TLV types, HANDSHAKE, NLRI, TLOCs,
// ALERT, INFORM) equals ompscope's, frame by frame.
func TestLuaMessageFields(t *testing.T) {
	fields := []string{"vdaemon.tlv.type", "vdaemon.verified_status", "vdaemon.hardware_flag", "vdaemon.verify_status",
		"vdaemon.hello.address", "vdaemon.hello.address6", "vdaemon.hello.port", "vdaemon.hello.color",
		"vdaemon.hello.interval_ms", "vdaemon.hello.tolerance_ms", "vdaemon.teardown.error_code",
		"omp.handshake.system_ip", "omp.handshake.site_id", "omp.handshake.domain_id", "omp.handshake.overlay_id",
		"omp.handshake.hold_time", "omp.handshake.device_type", "omp.handshake.flags", "omp.handshake.gr_timer",
		"omp.update.family", "omp.update.path_id", "omp.update.vpn", "omp.tloc.system_ip", "omp.tloc.color",
		"omp.tloc.encap", "omp.service.service", "omp.service.originator", "omp.alert.code", "omp.alert.subcode",
		"omp.inform.kind", "omp.inform.family"}
	n := compareFields(t, "vdaemon", fields, func(e *dissect.Event, add func(f, v string)) { messageFields(&e.Msg, add) })
	t.Logf("%d message field values compared", n)
}
