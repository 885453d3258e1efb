package filter

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// SnapLen is the value a compiled filter returns for an accepted
// packet (libpcap's maximum snap length): the kernel keeps up to that many
// bytes. Open lowers it to the source's snap length.
const SnapLen = 262144

// MaxInstructions is the longest program the Linux kernel accepts
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// Scratch memory slots of the generated programs.
const (
	memL3Off     = 0 // offset of the IP header in the frame
	memEtherType = 1 // EtherType of the IP header (0 when not IP)
)

// Compile generates a classic BPF program for frames of linkType
// (layers.LinkTypeEthernet, with or without one 802.1Q/802.1ad tag, or
// layers.LinkTypeRaw, where the frame starts with the IP header). The
// program returns SnapLen for an accepted frame and 0 otherwise.
func (f *Filter) Compile(linkType layers.LinkType) ([]bpf.RawInstruction, error) {
	if f.root == nil {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: SnapLen}})
	}
	g := &gen{}
	switch linkType {
	case layers.LinkTypeEthernet:
		g.etherPrologue()
	case layers.LinkTypeRaw:
		g.rawPrologue()
	default:
		return nil, fmt.Errorf("filter: link type %v (%d) not supported (Ethernet and raw IP are)", linkType, int(linkType))
	}
	accept, reject := g.newLabel(), g.newLabel()
	g.node(f.root, accept, reject)
	g.place(accept)
	g.emit(bpf.RetConstant{Val: SnapLen})
	g.place(reject)
	g.emit(bpf.RetConstant{Val: 0})
	g.rets = map[label]uint32{accept: SnapLen, reject: 0}
	prog, err := g.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("filter %q: compiles to %d instructions; the kernel accepts at most %d", f.text, len(prog), MaxInstructions)
	}
	return bpf.Assemble(prog)
}

type label int

type itemKind uint8

const (
	itInsn itemKind = iota
	itCond
	itJump
	itLabel
)

type item struct {
	kind           itemKind
	ins            bpf.Instruction
	cond           bpf.JumpTest
	val            uint32
	t, f           label // itCond targets; t is the itJump target; t is the itLabel label
	trampT, trampF bool  // a far target is reached through an instruction placed after the jump
}

// gen is a small assembler with symbolic, forward-only labels.
type gen struct {
	items   []item
	nlabels int
	rets    map[label]uint32 // labels that are a return: a trampoline to them is a copy of the return
}

func (g *gen) newLabel() label { g.nlabels++; return label(g.nlabels - 1) }
func (g *gen) place(l label)   { g.items = append(g.items, item{kind: itLabel, t: l}) }
func (g *gen) emit(ins ...bpf.Instruction) {
	for _, in := range ins {
		g.items = append(g.items, item{kind: itInsn, ins: in})
	}
}
func (g *gen) jmp(c bpf.JumpTest, v uint32, t, f label) {
	g.items = append(g.items, item{kind: itCond, cond: c, val: v, t: t, f: f})
}
func (g *gen) ja(l label) { g.items = append(g.items, item{kind: itJump, t: l}) }

func (g *gen) jeq(v uint32, t, f label)  { g.jmp(bpf.JumpEqual, v, t, f) }
func (g *gen) jge(v uint32, t, f label)  { g.jmp(bpf.JumpGreaterOrEqual, v, t, f) }
func (g *gen) jgt(v uint32, t, f label)  { g.jmp(bpf.JumpGreaterThan, v, t, f) }
func (g *gen) jset(v uint32, t, f label) { g.jmp(bpf.JumpBitsSet, v, t, f) }

func ldInd(off, size int) bpf.Instruction { return bpf.LoadIndirect{Off: uint32(off), Size: size} }

// assemble resolves the labels. A conditional jump reaches at most 255
// instructions ahead; a farther target is reached through a trampoline
// (an unconditional jump, or a copy of the return it leads to) placed
// right after the conditional jump. Adding trampolines only lengthens
// jumps, so the loop ends once no more are needed.
func (g *gen) assemble() ([]bpf.Instruction, error) {
	pos := make([]int, g.nlabels)
	for {
		pc := 0
		for i := range g.items {
			it := &g.items[i]
			switch it.kind {
			case itLabel:
				pos[it.t] = pc
			case itCond:
				pc++
				if it.trampT {
					pc++
				}
				if it.trampF {
					pc++
				}
			default:
				pc++
			}
		}
		changed := false
		pc = 0
		for i := range g.items {
			it := &g.items[i]
			switch it.kind {
			case itLabel:
				continue
			case itCond:
				next := pc + 1
				if it.trampT {
					next++
				}
				if it.trampF {
					next++
				}
				if !it.trampT && pos[it.t]-(pc+1) > 255 {
					it.trampT, changed = true, true
				}
				if !it.trampF && pos[it.f]-(pc+1) > 255 {
					it.trampF, changed = true, true
				}
				pc = next
			default:
				pc++
			}
		}
		if !changed {
			break
		}
	}
	out := make([]bpf.Instruction, 0, len(g.items))
	skip := func(pc int, l label) (int, error) {
		d := pos[l] - (pc + 1)
		if d < 0 {
			return 0, fmt.Errorf("filter: internal error: backward jump")
		}
		return d, nil
	}
	tramp := func(l label) (bpf.Instruction, error) {
		if v, ok := g.rets[l]; ok {
			return bpf.RetConstant{Val: v}, nil
		}
		d, err := skip(len(out), l)
		return bpf.Jump{Skip: uint32(d)}, err
	}
	for _, it := range g.items {
		switch it.kind {
		case itLabel:
		case itInsn:
			out = append(out, it.ins)
		case itJump:
			d, err := skip(len(out), it.t)
			if err != nil {
				return nil, err
			}
			out = append(out, bpf.Jump{Skip: uint32(d)})
		case itCond:
			pc := len(out)
			j := bpf.JumpIf{Cond: it.cond, Val: it.val}
			n := 0
			if it.trampT {
				j.SkipTrue = uint8(n)
				n++
			} else {
				d, err := skip(pc, it.t)
				if err != nil {
					return nil, err
				}
				j.SkipTrue = uint8(d)
			}
			if it.trampF {
				j.SkipFalse = uint8(n)
			} else {
				d, err := skip(pc, it.f)
				if err != nil {
					return nil, err
				}
				j.SkipFalse = uint8(d)
			}
			out = append(out, j)
			if it.trampT {
				ins, err := tramp(it.t)
				if err != nil {
					return nil, err
				}
				out = append(out, ins)
			}
			if it.trampF {
				ins, err := tramp(it.f)
				if err != nil {
					return nil, err
				}
				out = append(out, ins)
			}
		}
	}
	return out, nil
}

// etherPrologue stores the IP header offset and the EtherType, looking
// through one 802.1Q (0x8100) or 802.1ad (0x88a8) tag.
func (g *gen) etherPrologue() {
	tagged, check2, plain, start := g.newLabel(), g.newLabel(), g.newLabel(), g.newLabel()
	g.emit(bpf.LoadAbsolute{Off: 12, Size: 2})
	g.jeq(0x8100, tagged, check2)
	g.place(check2)
	g.jeq(0x88a8, tagged, plain)
	g.place(plain)
	g.emit(bpf.StoreScratch{Src: bpf.RegA, N: memEtherType},
		bpf.LoadConstant{Dst: bpf.RegX, Val: 14},
		bpf.StoreScratch{Src: bpf.RegX, N: memL3Off})
	g.ja(start)
	g.place(tagged)
	g.emit(bpf.LoadAbsolute{Off: 16, Size: 2},
		bpf.StoreScratch{Src: bpf.RegA, N: memEtherType},
		bpf.LoadConstant{Dst: bpf.RegX, Val: 18},
		bpf.StoreScratch{Src: bpf.RegX, N: memL3Off})
	g.place(start)
}

// rawPrologue derives the EtherType from the IP version nibble.
func (g *gen) rawPrologue() {
	v4, c6, v6, other, start := g.newLabel(), g.newLabel(), g.newLabel(), g.newLabel(), g.newLabel()
	g.emit(bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	g.jeq(4, v4, c6)
	g.place(c6)
	g.jeq(6, v6, other)
	g.place(v4)
	g.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0x0800})
	g.ja(start)
	g.place(v6)
	g.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0x86dd})
	g.ja(start)
	g.place(other)
	g.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	g.place(start)
	g.emit(bpf.StoreScratch{Src: bpf.RegA, N: memEtherType},
		bpf.LoadConstant{Dst: bpf.RegX, Val: 0},
		bpf.StoreScratch{Src: bpf.RegX, N: memL3Off})
}

// node emits code that jumps to t when n holds for the frame and to f
// otherwise.
func (g *gen) node(n *node, t, f label) {
	switch n.kind {
	case nAnd:
		m := g.newLabel()
		g.node(n.a, m, f)
		g.place(m)
		g.node(n.b, t, f)
	case nOr:
		m := g.newLabel()
		g.node(n.a, t, m)
		g.place(m)
		g.node(n.b, t, f)
	case nNot:
		g.node(n.a, f, t)
	case nIP:
		g.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEtherType})
		g.jeq(0x0800, t, f)
	case nIP6:
		g.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEtherType})
		g.jeq(0x86dd, t, f)
	default:
		v4, v6 := n.families()
		g.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEtherType})
		switch {
		case v4 && v6:
			l4, c6, l6 := g.newLabel(), g.newLabel(), g.newLabel()
			g.jeq(0x0800, l4, c6)
			g.place(l4)
			g.ip4(n, t, f)
			g.place(c6)
			g.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEtherType})
			g.jeq(0x86dd, l6, f)
			g.place(l6)
			g.ip6(n, t, f)
		case v4:
			l4 := g.newLabel()
			g.jeq(0x0800, l4, f)
			g.place(l4)
			g.ip4(n, t, f)
		default:
			l6 := g.newLabel()
			g.jeq(0x86dd, l6, f)
			g.place(l6)
			g.ip6(n, t, f)
		}
	}
}

// families tells which IP versions a primitive can match.
func (n *node) families() (v4, v6 bool) {
	if n.kind == nHost {
		return n.prefix.Addr().Is4(), n.prefix.Addr().Is6()
	}
	return true, true
}

// protoCheck jumps to t when A (the IP protocol / next header) is the
// node's transport protocol (TCP or UDP for protoAny).
func (g *gen) protoCheck(p uint8, t, f label) {
	if p != protoAny {
		g.jeq(uint32(p), t, f)
		return
	}
	c := g.newLabel()
	g.jeq(uint32(protoTCP), t, c)
	g.place(c)
	g.jeq(uint32(protoUDP), t, f)
}

// ip4 emits the IPv4 part of a primitive; X is loaded with the IP header
// offset first.
func (g *gen) ip4(n *node, t, f label) {
	g.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL3Off})
	switch n.kind {
	case nProto:
		g.emit(ldInd(9, 1))
		g.jeq(uint32(n.proto), t, f)
	case nFragment:
		g.emit(ldInd(6, 2))
		g.jset(0x3fff, t, f) // more fragments, or a non-zero offset
	case nHost:
		a := n.prefix.Addr().As4()
		val := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		mask := ^uint32(0)
		if b := n.prefix.Bits(); b < 32 {
			mask = ^(^uint32(0) >> b)
		}
		g.addrDir(n.dir, t, f, func(off int, tt, ff label) {
			g.emit(ldInd(off+12, 4))
			if mask != ^uint32(0) {
				g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
			}
			g.jeq(val, tt, ff)
		}, 4)
	case nPort:
		l, l2 := g.newLabel(), g.newLabel()
		g.emit(ldInd(9, 1))
		g.protoCheck(n.proto, l, f)
		g.place(l)
		// Only unfragmented packets and first fragments carry ports.
		g.emit(ldInd(6, 2))
		g.jset(0x1fff, f, l2)
		g.place(l2)
		g.emit(ldInd(0, 1),
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2},
			bpf.ALUOpX{Op: bpf.ALUOpAdd},
			bpf.TAX{})
		g.portDir(n, 0, t, f)
	}
}

// ip6 emits the IPv6 part of a primitive (no extension headers are
// walked, except that udp/tcp also match behind a Fragment header).
func (g *gen) ip6(n *node, t, f label) {
	g.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memL3Off})
	switch n.kind {
	case nProto:
		c, l := g.newLabel(), g.newLabel()
		g.emit(ldInd(6, 1))
		g.jeq(uint32(n.proto), t, c)
		g.place(c)
		g.jeq(44, l, f)
		g.place(l)
		g.emit(ldInd(40, 1))
		g.jeq(uint32(n.proto), t, f)
	case nFragment:
		g.emit(ldInd(6, 1))
		g.jeq(44, t, f)
	case nHost:
		a := n.prefix.Addr().As16()
		bits := n.prefix.Bits()
		g.addrDir(n.dir, t, f, func(off int, tt, ff label) {
			any := false
			for w := 0; w < 4; w++ {
				wb := min(max(bits-32*w, 0), 32)
				if wb == 0 {
					break
				}
				mask := ^uint32(0)
				if wb < 32 {
					mask = ^(^uint32(0) >> wb)
				}
				val := (uint32(a[4*w])<<24 | uint32(a[4*w+1])<<16 | uint32(a[4*w+2])<<8 | uint32(a[4*w+3])) & mask
				g.emit(ldInd(off+8+4*w, 4))
				if mask != ^uint32(0) {
					g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
				}
				last := w == 3 || bits-32*(w+1) <= 0
				if last {
					g.jeq(val, tt, ff)
				} else {
					nx := g.newLabel()
					g.jeq(val, nx, ff)
					g.place(nx)
				}
				any = true
			}
			if !any {
				g.ja(tt) // ::/0
			}
		}, 16)
	case nPort:
		l := g.newLabel()
		g.emit(ldInd(6, 1))
		g.protoCheck(n.proto, l, f)
		g.place(l)
		g.portDir(n, 40, t, f)
	}
}

// addrDir combines the source (at offset 0) and destination (at offset
// size) address tests according to the direction.
func (g *gen) addrDir(d direction, t, f label, test func(off int, t, f label), size int) {
	switch d {
	case dirSrc:
		test(0, t, f)
	case dirDst:
		test(size, t, f)
	case dirBoth:
		m := g.newLabel()
		test(0, m, f)
		g.place(m)
		test(size, t, f)
	default:
		m := g.newLabel()
		test(0, t, m)
		g.place(m)
		test(size, t, f)
	}
}

// portDir tests the source and destination ports at X+off and X+off+2.
func (g *gen) portDir(n *node, off int, t, f label) {
	g.addrDir(n.dir, t, f, func(o int, tt, ff label) {
		g.emit(ldInd(off+o, 2))
		g.portTest(n.ports, tt, ff)
	}, 2)
}

// portTest jumps to t when A is in one of the sorted, disjoint ranges rs:
// a binary search, so a set of n ports costs about log2(n) comparisons.
func (g *gen) portTest(rs []portRange, t, f label) {
	if len(rs) == 1 {
		r := rs[0]
		switch {
		case r.lo == r.hi:
			g.jeq(uint32(r.lo), t, f)
		case r.lo == 0 && r.hi == 0xffff:
			g.ja(t)
		case r.lo == 0:
			g.jgt(uint32(r.hi), f, t)
		case r.hi == 0xffff:
			g.jge(uint32(r.lo), t, f)
		default:
			l := g.newLabel()
			g.jge(uint32(r.lo), l, f)
			g.place(l)
			g.jgt(uint32(r.hi), f, t)
		}
		return
	}
	mid := len(rs) / 2
	left, right := g.newLabel(), g.newLabel()
	g.jge(uint32(rs[mid].lo), right, left)
	g.place(left)
	g.portTest(rs[:mid], t, f)
	g.place(right)
	g.portTest(rs[mid:], t, f)
}
