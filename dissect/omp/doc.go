// Package omp is the codec for OMP messages in "OMP encoding v1", the
// encoding this project designed (see docs/wire-format.md): Cisco publishes
// OMP's semantics (message kinds, address families, attributes and their
// enumerations) but not its bytes, so the byte layout here is our own,
// modelled on BGP (RFC 4271). The package is the one place that knows the
// layout: another encoding can be added beside it without touching capture,
// decryption or analysis.
//
// The shape follows GoBGP's pkg/packet/bgp: one Go type per message
// (Hello, Handshake, Update, Alert, Inform, Policy) and per path attribute,
// with symmetric decode and encode. Unknown message types, unknown
// attributes, unknown capabilities and unknown address families are kept as
// raw bytes and re-encode byte for byte.
//
// Decoding never panics and never allocates more than the input justifies;
// every error is a *DecodeError naming the message, the field and the byte
// offset from the start of the OMP message, for example
//
//	omp update: attribute 4 (PREFERENCE) at offset 37: length 2, want 4
//
// For speed, (*Update).DecodeFromBytes reuses the slices of the value it
// decodes into (as gopacket's DecodingLayerParser does), so a caller that
// keeps one Update decodes route NLRI without allocating per route.
package omp
