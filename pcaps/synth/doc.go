// Package synth is ompscope's fabric simulator: it makes real, encrypted
// captures of a Cisco SD-WAN control plane, with the keys to read them and
// the ground truth of what they hold.
//
// No public OMP capture exists, so the project makes its own, and they are
// real: the DTLS 1.2 handshakes and records are produced by pion/dtls
// (dtls.Client, dtls.Server, dtls.Conn.Write), the TLS 1.2 ones by Go's
// crypto/tls, both running over an in-memory transport (wire.go) that
// records every datagram or stream write; the output stage frames them as
// Ethernet (802.1Q for vSmart 2), IPv4 or IPv6, UDP or TCP (three-way
// handshake, sequence and acknowledgement numbers, segments cut at the
// MSS, FIN), with checksums, and IP fragments for datagrams larger than the
// MTU. tshark decrypts every application record with the key log.
//
// # The fabric
//
// One vManage (1.1.1.1), one vBond (1.1.1.2), two vSmarts (1.1.1.3 and
// 1.1.1.4, peering with each other; the vsmart-mesh-broken scenario adds
// 1.1.1.5) and N edges (10.255.0.1 ...), each with
// a site-id, 1-3 TLOCs (colors, IPsec or GRE, private and public address,
// NAT for some, an IPv6 underlay for some), service VPNs 10, 20 and 30 with
// IPv4 and IPv6 prefixes, and service routes (FW, netsvc1). Every edge
// boots and opens a DTLS session to the vBond (challenge exchange, two
// HELLOs, TEAR_DOWN), then sessions to the vManage and to each vSmart
// (DTLS, or TLS over TCP 23456 for some edges), per-core ports (12346,
// 12446) and port-hopping offsets as the real controllers use them.
// OMP sessions exchange HANDSHAKEs, the full tables in UPDATEs (NLRI
// sharing attributes grouped in one UPDATE; several UPDATEs packed in one
// vdaemon DATA message, up to --max-update bytes, so that a full table
// often makes records larger than the MTU), END_OF_RIB for every family in
// one DATA message, HELLOs every hold-time/3 and UPDATEs on every change.
// Each vdaemon message is one Write, so one DTLS or TLS record. A vSmart reflects what an edge
// advertises to the other edges and to the other vSmart, keeping the
// ORIGINATOR and giving each path its own path-id ((originator index+1)<<4
// | the originator's path-id); it reflects to edges only what it learned
// from edges. Sessions end with ALERT and TEAR_DOWN, or in silence (the
// peer notices when the HELLOs stop, after the 12 s tolerance), with
// graceful restart keeping a lost peer's paths for its GR timer.
//
// The capture point is the controllers' data centre switch: packets of the
// edges arrive through the gateway router (its MAC, TTL lowered by their
// hops), and an edge's answer to a controller packet is captured one round
// trip later.
//
// # Time and determinism
//
// A discrete-event schedule runs in virtual time, much faster than real
// time, with the default timers (vdaemon hello 1 s and tolerance 12 s, OMP
// hold 60 s, graceful restart 43 200 s) unless a scenario changes them.
// Everything the simulator decides (fabric, addresses, routes, timings,
// message contents, impairments) comes from the seed through one
// math/rand/v2 PCG source, so the same options give the same decrypted
// message sequence and a byte-identical manifest; only the cryptographic
// randomness (keys, nonces, signatures) differs between runs.
// params["plaintext_sha256"] in the manifest is the SHA-256 over the
// plaintexts of the decryptable application records in capture order (a
// duplicated datagram once), each as a 4-byte big-endian length and the
// bytes.
//
// Handshakes run first, several at once (mutual certificate
// authentication, ECDSA and RSA server certificates, one PSK session,
// extended master secret on and off), over wires that deliver at once,
// with per-side Lamport clocks giving each handshake packet its virtual
// time (pion's real-time retransmission timer never fires unless the
// simulator drops a handshake datagram on purpose; a retransmitted flight
// is captured one virtual second later). Then the keys are known, so the
// pcapng file starts with a Decryption Secrets Block holding them, as
// `editcap --inject-secrets tls,KEYS` makes it; then the schedule runs and
// the output stage writes packets in time order.
//
// # Scenarios and ground truth
//
// Scenarios (Scenarios, FindScenario) add events to the baseline fabric:
// flaps, withdrawals, reboots with graceful restart, silent peers, a
// duplicate system-ip, a site-id mismatch, a diverging vSmart, an
// unresolvable route, a cloned TLOC, alerts and teardowns, a session left
// out of the key log, a vSmart that withholds a route and a TLOC, a broken
// three-vSmart mesh, a control connection in the clear (vdaemon and OMP as
// bare UDP payloads, no DTLS; these messages are not records and not in
// plaintext_sha256, params["clear_messages"] counts them), a scale
// run, and a long churning run for benchmarks (churn: tables of constant
// size whose paths keep changing, as long as --duration; no sample is
// committed). Each writes a manifest
// (pcaps/manifest) listing the anomalies it caused (with the detector
// parameters it assumes in params["detectors"]) and the final table of
// every OMP session direction still up at the end.
//
// # Size
//
// Other scenarios reflect every path to every edge, as a fabric without
// control policy does, and keep every path of every session direction to
// diff and to list in the manifest; they refuse sizes that would keep more
// than 600 000 paths. The scale scenario is for large fabrics: its vSmarts
// apply a hub-and-spoke regional policy (regions of 50 edges, a quarter of
// the edges below 200; a hub gets its region's paths, a spoke its hub's,
// the other vSmart everything), so the reflected volume grows with the
// routes, not with routes × edges, and above 20 000 route paths its
// manifest gives table sizes (route_count, tloc_count, service_count)
// instead of listing every path. 2 000 edges and 1 000 000 route paths
// (8 001 sessions, about 480 000 frames, 190 MB per capture file) take
// about 16 s and 1.3 GB on two cores.
//
// The churn scenario is for long captures: 4 edges and 5 000 route paths
// by default, every change reflected to every edge; a vSmart reflects a
// churn step by looking only at the paths it changed, so a step costs the
// same whatever the table size, and memory does not grow with the
// capture's length. Two hours of capture (about 340 000 records, 4 million
// route events, 200 MB per capture file) take about 20 s and 140 MB.
//
// # Live mode
//
// RunLive runs a scenario exactly as Run does (same simulation, same
// manifest byte for byte, and the offline capture of the same run to any
// writers) and replays its control connections over real sockets on the
// loopback interface as the output stage puts them into the capture, at
// start + (capture time - first capture time) / speed (speed 0: as fast
// as possible, in capture order). Each underlay address a session uses
// maps to its own IPv4 loopback address counting up from LiveOptions.To
// (slot 2n for the IPv4 address of the n-th device, 2n+1 for its IPv6
// one: IPv6 sessions run over IPv4, lo having only ::1); ports are the
// capture's. A DTLS datagram is one sendto from a UDP socket bound to the
// sender's address and port (every endpoint is bound, and drained, before
// the first packet, so nothing answers with ICMP port unreachable); a TLS
// session is a TCP connection from the client's bound address and port to
// a listener on the server's, each TLS write one write on it, a FIN of the
// capture a shutdown of that side. The kernel frames them: no VLAN tag,
// no IP fragments (lo's MTU is 65 536), its own TCP segments and ACKs.
// Background traffic is simulated (the run stays the same) but not sent.
// Each session's key log lines are written just before its first packet
// (or KeyLead before, for a capture that polls the key log). LiveInfo
// (the synth command's NAME.live.json) maps addresses and times back.
//
// Run writes to any writers; WriteFiles writes DIR/NAME.pcapng,
// DIR/NAME.pcap, DIR/NAME.keys and DIR/NAME.manifest.json. Samples lists
// the settings of the samples committed in pcaps/.
//
//go:generate go run ../../cmd/ompscope synth --samples ..
package synth
