package analyze

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"reflect"
	"slices"
	"weak"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Attrs is the set of path attributes of a row version, decoded into named
// fields. Values are interned per Analyzer and immutable: two rows with the
// same attributes share one *Attrs, and comparing pointers compares
// attribute sets (flags and order-independent values included).
type Attrs struct {
	// List holds every attribute as received, sorted by type (unknown
	// attributes included); the fields below are the decoded values of
	// the first attribute of each type.
	List []omp.Attribute

	Originator    netip.Addr
	TLOC          omp.TLOCKey
	Origin        sdwan.Origin
	Metric        uint32
	Preference    uint32
	SiteID        uint32
	Tag           uint32
	DomainID      uint32
	OverlayID     uint32
	Label         uint32
	AffinityGroup uint32
	RegionID      uint32
	Weight        uint32
	GenID         uint32
	Bandwidth     uint32
	Carrier       sdwan.Carrier
	Restrict      uint8
	UltimateTLOC  omp.TLOCKey
	UltimateAct   omp.UltimateAction
	PrivateV4     netip.AddrPort
	PublicV4      netip.AddrPort
	PrivateV6     netip.AddrPort
	PublicV6      netip.AddrPort

	has uint64 // bit t set when attribute type t (< 64) is present

	// addrHash hashes the TLOC address attributes (types 32-35);
	// otherHash hashes every other attribute. tloc-clone compares the
	// first, attribute-conflict on TLOCs the second.
	addrHash, otherHash uint64
	tlocID              tlocID // compact form of TLOC (when Has(AttrTLOC))
	// the group of the TLOC (nil: none) as it was when the analyzer's
	// tlocGen was tgen (Analyzer.tlocGroup)
	tgrp *group
	tgen uint64
	tst  *tlocState // the fabric state of tlocID, once it has one (Analyzer.tlocLiveAt)
	// ip4 of Originator (row.orig4)
	orig4 uint32
	json  []byte // the JSON object (immutable once built)
}

// Has reports whether the attribute type is present.
func (a *Attrs) Has(t omp.AttrType) bool {
	return a != nil && t < 64 && a.has&(1<<t) != 0
}

// HasTLOC reports whether the TLOC attribute is present.
func (a *Attrs) HasTLOC() bool { return a.Has(omp.AttrTLOC) }

// tlocID is a compact, comparable TLOC key (IPv4 system-ips only, as OMP
// carries them).
type tlocID struct {
	sys   uint32
	color uint32
	encap uint8
}

func tlocIDOf(k omp.TLOCKey) tlocID {
	return tlocID{ip4(k.SystemIP), uint32(k.Color), uint8(k.Encap)}
}

func (t tlocID) String() string {
	return omp.TLOCKey{SystemIP: addrOf4(t.sys), Color: sdwan.Color(t.color), Encap: sdwan.Encap(t.encap)}.String()
}

func ip4(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return binary.BigEndian.Uint32(b[:])
	}
	return 0
}

func addrOf4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// interner shares identical attribute sets. Entries whose value the
// garbage collector freed are swept when the map has doubled.
type interner struct {
	m         map[string]weak.Pointer[Attrs]
	raw       map[string]weak.Pointer[Attrs] // by the wire bytes (omp.Update.RawAttrs): a cache in front of m
	lastRaw   []byte
	rawOK     bool // lastRaw is the wire form of last
	buf       []byte
	sorted    []omp.Attribute
	sweepAt   int
	seed      maphash.Seed
	last      *Attrs // the last result, to skip the map for repeats
	lastKey   []byte
	hashBuf   []byte
	otherBuf  []byte
	addrBuf   []byte
	lookups   int
	allocated int
}

func newInterner() *interner {
	return &interner{m: make(map[string]weak.Pointer[Attrs]), raw: make(map[string]weak.Pointer[Attrs]),
		sweepAt: 1024, seed: maphash.MakeSeed()}
}

// internRaw is intern for a list decoded from raw (its wire bytes, nil
// when unknown). Equal wire bytes decode to equal lists, so the bytes find
// the set without encoding the values again (a third of the analyzer's
// cost per UPDATE when it did). The cache holds weak pointers like m and
// is dropped whole when it outgrows m (the same set in many byte orders).
func (in *interner) internRaw(list []omp.Attribute, raw []byte) *Attrs {
	if raw == nil {
		in.rawOK = false
		return in.intern(list)
	}
	if in.rawOK && string(in.lastRaw) == string(raw) {
		in.lookups++
		return in.last
	}
	if wp, ok := in.raw[string(raw)]; ok {
		if at := wp.Value(); at != nil {
			in.lookups++
			in.last, in.lastRaw, in.rawOK = at, append(in.lastRaw[:0], raw...), true
			in.lastKey = in.lastKey[:0] // last no longer has its canonical key at hand
			return at
		}
	}
	at := in.intern(list)
	if len(in.raw) >= 4*len(in.m)+1024 {
		clear(in.raw)
	}
	in.raw[string(raw)] = weak.Make(at)
	in.lastRaw, in.rawOK = append(in.lastRaw[:0], raw...), true
	return at
}

// intern returns the shared *Attrs of the attribute list.
func (in *interner) intern(list []omp.Attribute) *Attrs {
	in.rawOK = false
	in.lookups++
	s := in.sorted[:0]
	for _, a := range list {
		if !isNil(a) {
			s = append(s, a)
		}
	}
	slices.SortStableFunc(s, func(x, y omp.Attribute) int { return int(x.Code()) - int(y.Code()) })
	in.sorted = s
	b := in.buf[:0]
	for _, a := range s {
		b = appendCanon(b, a)
	}
	in.buf = b
	if in.last != nil && len(in.lastKey) > 0 && string(in.lastKey) == string(b) {
		return in.last
	}
	if wp, ok := in.m[string(b)]; ok {
		if at := wp.Value(); at != nil {
			in.last, in.lastKey = at, append(in.lastKey[:0], b...)
			return at
		}
	}
	at := in.build(s)
	key := string(b)
	in.m[key] = weak.Make(at)
	in.allocated++
	in.last, in.lastKey = at, append(in.lastKey[:0], b...)
	if len(in.m) >= in.sweepAt {
		for k, wp := range in.m {
			if wp.Value() == nil {
				delete(in.m, k)
			}
		}
		for k, wp := range in.raw {
			if wp.Value() == nil {
				delete(in.raw, k)
			}
		}
		in.sweepAt = max(2*len(in.m), 1024)
	}
	return at
}

// isNil reports whether v is nil or a nil pointer in an interface (which
// the decoders never produce, but a caller might).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func:
		return r.IsNil()
	}
	return false
}

// appendCanon appends a canonical encoding of one attribute: type, flags,
// then the value (or its text form when the value cannot be encoded).
func appendCanon(b []byte, a omp.Attribute) []byte {
	b = append(b, byte(a.Code()), a.Flags(), 0, 0)
	at := len(b)
	v, err := a.AppendValue(b)
	if err != nil {
		v = append(b[:at], omp.AttrString(a)...)
	}
	binary.BigEndian.PutUint16(v[at-2:], uint16(min(len(v)-at, 0xffff)))
	return v
}

// setField sets the named field an attribute type fills (the first
// attribute of each type counts).
func (at *Attrs) setField(t omp.AttrType, a omp.Attribute) {
	switch a := a.(type) {
	case *omp.Originator:
		at.Originator = a.Addr
	case *omp.TLOCAttr:
		at.TLOC = a.TLOCKey
	case *omp.OriginAttr:
		at.Origin, at.Metric = a.Protocol, a.Metric
	case *omp.UltimateTLOC:
		at.UltimateTLOC, at.UltimateAct = a.TLOCKey, a.Action
	case *omp.Uint32Attr:
		if p := at.u32Field(t); p != nil {
			*p = a.Value
		}
	case *omp.AddrAttr:
		switch t {
		case omp.AttrPrivateIPv4:
			at.PrivateV4 = a.Addr
		case omp.AttrPublicIPv4:
			at.PublicV4 = a.Addr
		case omp.AttrPrivateIPv6:
			at.PrivateV6 = a.Addr
		case omp.AttrPublicIPv6:
			at.PublicV6 = a.Addr
		}
	case *omp.Uint8Attr:
		switch t {
		case omp.AttrCarrier:
			at.Carrier = sdwan.Carrier(a.Value)
		case omp.AttrRestrict:
			at.Restrict = a.Value
		}
	}
}

// u32Field is the named field of a 32-bit attribute (nil: none).
func (at *Attrs) u32Field(t omp.AttrType) *uint32 {
	switch t {
	case omp.AttrPreference:
		return &at.Preference
	case omp.AttrSiteID:
		return &at.SiteID
	case omp.AttrTag:
		return &at.Tag
	case omp.AttrDomainID:
		return &at.DomainID
	case omp.AttrOverlayID:
		return &at.OverlayID
	case omp.AttrLabel:
		return &at.Label
	case omp.AttrAffinityGroup:
		return &at.AffinityGroup
	case omp.AttrRegionID:
		return &at.RegionID
	case omp.AttrWeight:
		return &at.Weight
	case omp.AttrGenID:
		return &at.GenID
	case omp.AttrBandwidth:
		return &at.Bandwidth
	}
	return nil
}

func isAddrAttr(t omp.AttrType) bool { return t >= omp.AttrPrivateIPv4 && t <= omp.AttrPublicIPv6 }

// build decodes a sorted attribute list into a new Attrs (copying
// everything it keeps).
func (in *interner) build(s []omp.Attribute) *Attrs {
	at := &Attrs{List: make([]omp.Attribute, 0, len(s))}
	ob, ab := in.otherBuf[:0], in.addrBuf[:0]
	for _, a := range s {
		t := a.Code()
		first := !at.Has(t)
		if t < 64 {
			at.has |= 1 << t
		}
		if isAddrAttr(t) {
			ab = appendCanon(ab, a)
		} else {
			ob = appendCanon(ob, a)
		}
		c := a.Clone() // nothing of the decoder's buffers is kept
		at.List = append(at.List, c)
		if first {
			at.setField(t, c)
		}
	}
	at.addrHash = maphash.Bytes(in.seed, ab)
	at.otherHash = maphash.Bytes(in.seed, ob)
	in.otherBuf, in.addrBuf = ob, ab
	if at.HasTLOC() {
		at.tlocID = tlocIDOf(at.TLOC)
	}
	at.orig4 = ip4(at.Originator)
	// its JSON, once: every timeline event that carries the set copies it
	at.json = buildAttrsJSON(nil, at)
	return at
}

// Private returns the TLOC private address of family v6 (or v4).
func (a *Attrs) Private(v6 bool) netip.AddrPort {
	if v6 {
		return a.PrivateV6
	}
	return a.PrivateV4
}

// Public returns the TLOC public address of family v6 (or v4).
func (a *Attrs) Public(v6 bool) netip.AddrPort {
	if v6 {
		return a.PublicV6
	}
	return a.PublicV4
}

// hasAddress reports whether a TLOC row's attributes carry any address.
func (a *Attrs) hasAddress() bool {
	return a.Has(omp.AttrPrivateIPv4) || a.Has(omp.AttrPublicIPv4) || a.Has(omp.AttrPrivateIPv6) || a.Has(omp.AttrPublicIPv6)
}
