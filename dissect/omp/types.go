package omp

import (
	"fmt"
	"strconv"
)

// Version is the OMP encoding version this package writes.
const Version = 1

// HeaderLen is the size of the OMP message header.
const HeaderLen = 4

// Type is an OMP message type.
type Type uint8

// OMP message types.
const (
	TypeHello     Type = 1
	TypeHandshake Type = 2
	TypeUpdate    Type = 3
	TypeAlert     Type = 4
	TypeInform    Type = 5
	TypePolicy    Type = 6
)

var typeNames = [...]string{1: "HELLO", 2: "HANDSHAKE", 3: "UPDATE", 4: "ALERT", 5: "INFORM", 6: "POLICY"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "TYPE-" + strconv.Itoa(int(t))
}

// MarshalText gives the name.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Family is an OMP address family.
type Family uint8

// Address families.
const (
	FamilyTLOCv4  Family = 0
	FamilyTLOCv6  Family = 1
	FamilyService Family = 2
	FamilyRouteV4 Family = 3
	FamilyRouteV6 Family = 4
	FamilyMcastV4 Family = 5
	FamilyMcastV6 Family = 6
)

var familyNames = [...]string{"tloc-ipv4", "tloc-ipv6", "service", "route-ipv4", "route-ipv6", "mcast-ipv4", "mcast-ipv6"}

func (f Family) String() string {
	if int(f) < len(familyNames) {
		return familyNames[f]
	}
	return "family-" + strconv.Itoa(int(f))
}

// MarshalText gives the name.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// ParseFamily parses a family name or number.
func ParseFamily(s string) (Family, error) {
	for i, n := range familyNames {
		if n == s {
			return Family(i), nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("unknown address family %q", s)
	}
	return Family(v), nil
}

// Parsed reports whether this package decodes the family's NLRI (mcast and
// unknown families are kept raw).
func (f Family) Parsed() bool { return f <= FamilyRouteV6 }

// IsRoute reports whether f is route-ipv4 or route-ipv6.
func (f Family) IsRoute() bool { return f == FamilyRouteV4 || f == FamilyRouteV6 }

// IsTLOC reports whether f is tloc-ipv4 or tloc-ipv6.
func (f Family) IsTLOC() bool { return f == FamilyTLOCv4 || f == FamilyTLOCv6 }

// DecodeError is the error of every decode in this package.
type DecodeError struct {
	Layer  string // "omp update", "omp handshake", ...
	Field  string // "attribute 4 (PREFERENCE)", "withdrawn-length", ...
	Offset int    // byte offset from the start of the OMP message
	Reason string // "length 2, want 4"
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: %s at offset %d: %s", e.Layer, e.Field, e.Offset, e.Reason)
}

func errf(layer, field string, off int, format string, a ...any) error {
	return &DecodeError{Layer: layer, Field: field, Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// EncodeError reports a value that cannot be encoded.
type EncodeError struct {
	Layer, Field, Reason string
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("%s: encode %s: %s", e.Layer, e.Field, e.Reason)
}
