// Package tlsdec passively follows DTLS 1.2 (UDP) and TLS 1.2 (TCP)
// sessions and decrypts their records with key material the user supplies.
// It sits between the flow layer (UDP datagrams, reassembled TCP byte
// streams) and the vdaemon/OMP decoders, which receive the plaintext of
// application_data records.
//
// Keys (KeyStore):
//   - NSS key logs (CLIENT_RANDOM lines) from a file or a pcapng Decryption
//     Secrets Block; works for every key exchange, including (EC)DHE.
//   - Pre-shared keys for the plain PSK suites (TLS_PSK_WITH_*); the
//     premaster secret is built as RFC 4279 says. ECDHE_PSK needs a key log.
//   - Server RSA private keys for static-RSA suites (TLS_RSA_WITH_*): the
//     EncryptedPreMasterSecret of the ClientKeyExchange is decrypted.
//
// Keys may be added while a Tracker runs. Encrypted records of a session
// whose key is not known yet wait in a bounded per-session queue; when the
// KeyStore changes the Tracker retries those sessions on its next call (or
// on Tracker.Retry) and emits the records then. Tracker.Finish counts what
// is still waiting as "no-key" failures.
//
// The Tracker follows the handshake: DTLS record layer (several records
// per datagram, epochs, 48-bit sequence numbers, duplicates dropped by a
// 1024-record window), DTLS handshake fragment reassembly (any order,
// bounded), HelloVerifyRequest and retransmitted flights, TLS records split
// anywhere in the TCP byte stream, and resynchronisation after lost TCP
// bytes. It reads client and server random, the chosen suite and version,
// the extended_master_secret and encrypt_then_mac extensions and the PSK
// identity, derives the keys with the TLS 1.2 PRF (pion/dtls's prf
// package; EMS session hash over the reassembled messages, with the 12-byte
// DTLS header for DTLS), decrypts AES-GCM, AES-CCM, AES-CCM-8 (an
// allocation-free implementation cross-checked against pion's),
// ChaCha20-Poly1305, AES-CBC and 3DES-CBC (HMAC-SHA1/SHA256/SHA384,
// MAC-then-encrypt or encrypt-then-MAC) records into one reused buffer, and
// checks the Finished messages' verify_data against the captured handshake
// (Session.ClientFinishedOK / ServerFinishedOK).
//
// Memory is bounded (Options): sessions (LRU eviction), handshake bytes
// per session and in all, records waiting for keys per session and in all.
// The bounds over all sessions may be cut into parts by the sessions'
// address pair (Options.Parts), each held on its own, so that a parallel
// dissector's workers, each holding whole parts, evict what one tracker
// would. Every drop is counted.
//
// Nothing unauthenticated is emitted as decrypted plaintext. Records that
// cannot be decrypted are counted per Session by Reason ("no-key",
// "auth-failed", "unsupported-suite", "unsupported-version",
// "unsupported-feature", "no-handshake", "malformed", "lost-sync",
// "handshake-dropped"); the first failure of each kind is described once
// (Session.Diagnostics). NULL-cipher suites and versions below 1.2 are
// reported on the Session (NullCipher, Legacy).
//
// The code is laid out by layer, as Go's crypto/tls is:
//   - tracker.go: the session table (Tracker, sessions by endpoint pair,
//     LRU eviction in parts, the Options that bound it);
//   - dtls.go: the DTLS record layer (datagrams into records, epochs,
//     replay windows); tls.go: the TLS record layer (a byte stream into
//     records, resynchronisation after lost bytes); record.go what both
//     share (rec, a record as they handle it, and its emission);
//   - handshake.go: handshake reassembly (DTLS fragments, TLS messages
//     split across records), the transcript, Finished checks; parse.go:
//     the handshake messages themselves;
//   - keyschedule.go: the master secret (key log, PSK, RSA) and the key
//     block; keys.go: the KeyStore; follow.go: a key log that grows;
//   - cipher.go: per-direction cipher state (halfConn: keys, sequence
//     numbers, replay window) and record opening; suites.go the table from
//     suite ID to its parameters; ccm.go AES-CCM;
//   - pending.go: records waiting for their keys;
//   - session.go: what a Session says about itself, and its private state.
//
// The callback of the entry point in progress (DTLSDatagram, TLSData,
// Retry) is kept in the Tracker for the call, not passed down; a record
// travels through the layers as one rec, not as ten parameters.
//
// Not supported: TLS 1.3 and DTLS 1.3, SSL 3.0 / TLS 1.0 / 1.1 decryption,
// renegotiation, DTLS connection IDs, record compression, RC4.
package tlsdec
