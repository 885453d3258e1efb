// Package vdaemon is the codec for vdaemon messages, the plaintext that a
// Cisco SD-WAN control connection (DTLS or TLS) carries: one message per
// record, a 12-byte header (version, message type, device type, flags,
// domain-id, site-id) and a body. The layout follows the public reverse
// engineering published with exploit modules for CVE-2026-20127 and
// CVE-2026-20182 (see docs/wire-format.md); it is not a Cisco
// specification.
//
// Bodies with a known layout decode into typed values (*Challenge,
// *ChallengeAck, *ChallengeAckAck, *Hello, *TearDown, *Data); every other
// message type keeps its body raw (*Raw), and so do unknown TLVs; both
// re-encode byte for byte. The body of DATA is OMP, which this package does
// not interpret: package omp does, so that another OMP encoding can be
// added without touching this one.
//
// Decoding never panics and never allocates more than the input justifies;
// errors are *DecodeError values naming the message, field and byte offset
// from the start of the vdaemon message.
package vdaemon
