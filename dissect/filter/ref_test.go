package filter

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// refMatch is an independent, direct Go evaluation of a filter on a frame,
// used to cross-check the generated BPF. It performs the same loads in
// the same order as the generated program, so that a frame too short for
// a load is rejected exactly when the BPF program would stop on it.
func refMatch(f *Filter, lt layers.LinkType, p []byte) bool {
	if f.root == nil {
		return true
	}
	v := &refVM{p: p}
	switch lt {
	case layers.LinkTypeEthernet:
		et := v.ld(12, 2)
		v.l3 = 14
		if et == 0x8100 || et == 0x88a8 {
			et = v.ld(16, 2)
			v.l3 = 18
		}
		v.et = et
	case layers.LinkTypeRaw:
		switch v.ld(0, 1) >> 4 {
		case 4:
			v.et = 0x0800
		case 6:
			v.et = 0x86dd
		}
	}
	if v.oob {
		return false
	}
	r := v.eval(f.root)
	return r && !v.oob
}

type refVM struct {
	p   []byte
	oob bool
	l3  int
	et  uint32
}

func (v *refVM) ld(off, size int) uint32 {
	if v.oob || off < 0 || off+size > len(v.p) {
		v.oob = true
		return 0
	}
	switch size {
	case 1:
		return uint32(v.p[off])
	case 2:
		return uint32(binary.BigEndian.Uint16(v.p[off:]))
	}
	return binary.BigEndian.Uint32(v.p[off:])
}

func (v *refVM) eval(n *node) bool {
	if v.oob {
		return false
	}
	switch n.kind {
	case nAnd:
		return v.eval(n.a) && v.eval(n.b)
	case nOr:
		return v.eval(n.a) || v.eval(n.b)
	case nNot:
		return !v.eval(n.a)
	case nIP:
		return v.et == 0x0800
	case nIP6:
		return v.et == 0x86dd
	}
	v4, v6 := n.families()
	if v4 && v.et == 0x0800 {
		return v.ip4(n)
	}
	if v6 && v.et == 0x86dd {
		return v.ip6(n)
	}
	return false
}

func refProto(want uint8, got uint32) bool {
	if want == protoAny {
		return got == 6 || got == 17
	}
	return got == uint32(want)
}

func (v *refVM) dir(d direction, src, dst func() bool) bool {
	switch d {
	case dirSrc:
		return src()
	case dirDst:
		return dst()
	case dirBoth:
		return src() && dst()
	}
	return src() || dst()
}

func inRanges(rs []portRange, p uint32) bool {
	for _, r := range rs {
		if p >= uint32(r.lo) && p <= uint32(r.hi) {
			return true
		}
	}
	return false
}

func (v *refVM) ip4(n *node) bool {
	x := v.l3
	switch n.kind {
	case nProto:
		return v.ld(x+9, 1) == uint32(n.proto)
	case nFragment:
		return v.ld(x+6, 2)&0x3fff != 0
	case nHost:
		a := n.prefix.Addr().As4()
		want := binary.BigEndian.Uint32(a[:])
		mask := ^uint32(0)
		if b := n.prefix.Bits(); b < 32 {
			mask = ^(^uint32(0) >> b)
		}
		return v.dir(n.dir,
			func() bool { return v.ld(x+12, 4)&mask == want&mask },
			func() bool { return v.ld(x+16, 4)&mask == want&mask })
	case nPort:
		if !refProto(n.proto, v.ld(x+9, 1)) {
			return false
		}
		if v.ld(x+6, 2)&0x1fff != 0 {
			return false
		}
		l4 := x + int(v.ld(x, 1)&0xf)*4
		return v.dir(n.dir,
			func() bool { return inRanges(n.ports, v.ld(l4, 2)) },
			func() bool { return inRanges(n.ports, v.ld(l4+2, 2)) })
	}
	return false
}

func (v *refVM) ip6(n *node) bool {
	x := v.l3
	switch n.kind {
	case nProto:
		nh := v.ld(x+6, 1)
		if nh == uint32(n.proto) {
			return true
		}
		return nh == 44 && v.ld(x+40, 1) == uint32(n.proto)
	case nFragment:
		return v.ld(x+6, 1) == 44
	case nHost:
		a := n.prefix.Addr().As16()
		bits := n.prefix.Bits()
		match := func(off int) bool {
			for w := 0; w < 4 && bits-32*w > 0; w++ {
				wb := min(bits-32*w, 32)
				mask := ^uint32(0)
				if wb < 32 {
					mask = ^(^uint32(0) >> wb)
				}
				if v.ld(x+off+4*w, 4)&mask != binary.BigEndian.Uint32(a[4*w:])&mask {
					return false
				}
			}
			return true
		}
		return v.dir(n.dir, func() bool { return match(8) }, func() bool { return match(24) })
	case nPort:
		if !refProto(n.proto, v.ld(x+6, 1)) {
			return false
		}
		return v.dir(n.dir,
			func() bool { return inRanges(n.ports, v.ld(x+40, 2)) },
			func() bool { return inRanges(n.ports, v.ld(x+42, 2)) })
	}
	return false
}
