package tlsdec

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// Limits of the key store's inputs.
const (
	maxKeyLogLine  = 1024 // longest key log line considered
	maxKeyLogErrs  = 100  // errors listed per load; the rest are summarised
	maxPSKLen      = 1024 // longest accepted pre-shared key
	maxPSKIdentity = 1024
	// maxOlderKeys bounds the entries a key keeps of those it replaced
	// (for views of older generations, Tracker.SetKeyLimit): a client
	// random re-keyed again and again (a key log or a capture's
	// Decryption Secrets Blocks are input like any other) keeps the
	// newest and this many before it (its window); the rest are counted
	// (KeyCounts.OlderDropped) and let go of, once no worker of a
	// parallel run may still look at their generation (SetFloor).
	maxOlderKeys = 8
)

// The caps on the store's entries. Keys past them are refused, reported
// as errors and counted (KeyCounts.Refused).
const (
	MaxMasterSecrets = 4 << 20 // client randoms (about 150 bytes each)
	MaxPSKs          = 1 << 16 // identities (up to 2 KiB each)
)

// maxMasterSecrets and maxPSKs are the caps in force (tests lower them).
var maxMasterSecrets, maxPSKs = MaxMasterSecrets, MaxPSKs

// KeyStore holds the user's key material: TLS 1.2 master secrets from NSS
// key logs (CLIENT_RANDOM lines), pre-shared keys and server RSA private
// keys. It is safe for concurrent use, and keys may be added while a
// Tracker is running (a live capture receiving keys): every addition bumps
// Generation, which the Tracker notices to retry sessions that were waiting
// for a key.
type KeyStore struct {
	mu      sync.RWMutex
	masters map[[32]byte]keyEntry
	psks    map[string]keyEntry // "" is the identity-less default PSK
	rsa     []rsaEntry
	ignored int // key log lines with other labels
	refused int // keys refused: the store held its maximum (put)
	dropped int // older entries that left keys' windows (put)
	gen     atomic.Uint64
	// floor: views of generations below it are no longer made (SetFloor;
	// 0: no view of an older generation than the newest is made). A
	// chain keeps, past its window, the entries a view from floor on may
	// still need; the keys whose chains do are listed in longM and longP,
	// trimmed when the floor rises.
	floor  uint64
	pinned uint64 // the newest generation a view may be made at (Pin)
	longM  [][32]byte
	longP  []string
}

type keyEntry struct {
	secret []byte
	source string
	gen    uint64    // the store's generation once it was added
	prev   *keyEntry // the entry it replaced (a view of an older generation sees that one)
	n      int       // entries put under the key, this one included (the newest's)
	listed bool      // the key is in the store's longM or longP (the newest's)
}

type rsaEntry struct {
	key    *rsa.PrivateKey
	source string
	gen    uint64
}

// at returns e, or the newest entry it replaced, that a view limited to
// generation limit sees (limit 0: the newest).
func (e *keyEntry) at(limit uint64) (keyEntry, bool) {
	for ; e != nil; e = e.prev {
		if limit == 0 || e.gen <= limit {
			return *e, true
		}
	}
	return keyEntry{}, false
}

// put stores e under key in m, keeping the entry it replaces for views of
// older generations: the key's window holds the newest entry and
// maxOlderKeys before it; each entry past the window is counted in
// k.dropped, as it leaves it, and let go of unless a view from k.floor on
// may still need it (a parallel run's workers see the keys of the
// generation their packets were read at; trim). With a floor, an entry no
// view can see (a newer one came before any view was pinned at its
// generation: the lines of one key log, the blocks between two packets)
// goes at once, so a flood of re-keys keeps a chain as long as the views
// in flight, not as the flood. Without a floor, as with one worker, the
// window is all that is kept. The count and the keys a view sees are the
// same whatever the number of workers (TestParallelSameAsOneRekeyFlood).
// A new key is refused when m holds limit keys (counted in k). Called with
// k.mu held, gen the generation being made; long lists the keys whose
// chains keep more than their window. It reports false when it refused e.
func put[K comparable](k *KeyStore, m map[K]keyEntry, key K, e keyEntry, gen uint64, limit int, long *[]K) bool {
	old, ok := m[key]
	switch {
	case ok && bytes.Equal(old.secret, e.secret) && old.source == e.source:
		return true // the same key again (a key log read again): nothing changes
	case ok:
		e.n = old.n + 1
		if e.n > 1+maxOlderKeys {
			k.dropped++ // an entry left the window
		}
		if k.floor != 0 && old.gen > k.pinned {
			e.prev = old.prev // no view was made at old's generation: none will see it
		} else {
			e.prev = &old
		}
		e.listed = old.listed
		if k.trim(windowEnd(&e)) && !e.listed {
			e.listed = true // listed once, however often re-keyed
			*long = append(*long, key)
		}
	case len(m) >= limit:
		k.refused++
		return false
	default:
		e.n = 1
	}
	e.gen = gen
	m[key] = e
	return true
}

// windowEnd returns the oldest entry of e's window: e and maxOlderKeys
// before it (or fewer, when its chain is shorter).
func windowEnd(e *keyEntry) *keyEntry {
	p := e
	for i := 0; i < maxOlderKeys && p.prev != nil; i++ {
		p = p.prev
	}
	return p
}

// trim lets go of the entries older than p, the end of a key's window,
// but those a view from k.floor on may still need: every entry newer than
// the newest at or below the floor, and that one. It reports whether it
// kept entries past the window.
func (k *KeyStore) trim(p *keyEntry) bool {
	long := false
	if k.floor != 0 {
		for p.gen > k.floor && p.prev != nil {
			p = p.prev
			long = true
		}
	}
	p.prev = nil
	return long
}

// SetFloor tells the store that no view of a generation below g will be
// made any more (a parallel run: every step read before the keys of
// generation g arrived is done; a floor only rises), or, g 0, that none
// older than the newest will (the run ended); the entries kept for such
// views go. One parallel run at a time sets a store's floor.
func (k *KeyStore) SetFloor(g uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if g != 0 && g <= k.floor {
		return
	}
	k.floor = g
	k.longM = retrim(k, k.masters, k.longM)
	k.longP = retrim(k, k.psks, k.longP)
}

// retrim trims the chains of the keys in long again, returning those
// that still keep more than their window (nil when none does: the list's
// array goes too).
func retrim[K comparable](k *KeyStore, m map[K]keyEntry, long []K) []K {
	if len(long) == 0 {
		return nil
	}
	keep := long[:0]
	for _, key := range long {
		e, ok := m[key]
		if !ok {
			continue
		}
		if e.prev != nil && k.trim(windowEnd(&e)) {
			keep = append(keep, key)
			continue
		}
		e.listed = false
		m[key] = e
	}
	clear(long[len(keep):])
	if len(keep) == 0 {
		return nil
	}
	if cap(keep) > 4*len(keep)+64 {
		keep = slices.Clone(keep)
	}
	return keep
}

// NewKeyStore returns an empty key store.
func NewKeyStore() *KeyStore {
	k := &KeyStore{masters: map[[32]byte]keyEntry{}, psks: map[string]keyEntry{}}
	k.gen.Store(1) // never 0, which Tracker.SetKeyLimit takes as "no limit"
	return k
}

// Generation counts additions to the store; it changes whenever a key is
// added.
func (k *KeyStore) Generation() uint64 { return k.gen.Load() }

// Pin returns Generation, noting that views may be made at it (a parallel
// run's reader, for the packets it reads next, once the generation
// changed: SetFloor).
func (k *KeyStore) Pin() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.gen.Load()
	k.pinned = max(k.pinned, g)
	return g
}

// KeyCounts summarises what a KeyStore holds.
type KeyCounts struct {
	MasterSecrets int // CLIENT_RANDOM entries
	PSKs          int
	RSAKeys       int
	IgnoredLines  int // well-formed key log lines with other labels (TLS 1.3 secrets, ...)
	// Refused counts the keys refused because the store held its maximum
	// (4 194 304 master secrets, 65 536 PSK identities); OlderDropped the
	// older secrets of re-keyed client randoms or identities let go of
	// (each keeps the newest and 8 before it).
	Refused      int
	OlderDropped int
}

// Counts reports how many keys of each kind the store holds.
func (k *KeyStore) Counts() KeyCounts {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return KeyCounts{MasterSecrets: len(k.masters), PSKs: len(k.psks), RSAKeys: len(k.rsa), IgnoredLines: k.ignored,
		Refused: k.refused, OlderDropped: k.dropped}
}

// AddMasterSecret stores a 48-byte TLS 1.2 master secret for the session
// whose ClientHello carried clientRandom (32 bytes). source names where it
// came from (shown as the session's key source).
func (k *KeyStore) AddMasterSecret(clientRandom, master []byte, source string) error {
	if len(clientRandom) != 32 {
		return fmt.Errorf("tlsdec: client random is %d bytes, want 32", len(clientRandom))
	}
	if len(master) != 48 {
		return fmt.Errorf("tlsdec: master secret is %d bytes, want 48", len(master))
	}
	var cr [32]byte
	copy(cr[:], clientRandom)
	k.mu.Lock()
	defer k.mu.Unlock()
	if !put(k, k.masters, cr, keyEntry{secret: bytes.Clone(master), source: source}, k.gen.Load()+1, maxMasterSecrets, &k.longM) {
		return fmt.Errorf("tlsdec: master secret refused: the key store holds its maximum of %d", maxMasterSecrets)
	}
	k.gen.Add(1)
	return nil
}

// LoadKeyLog reads an NSS key log ("CLIENT_RANDOM <64 hex> <96 hex>" lines,
// hex in either case; '#' comments and blank lines skipped). Lines with
// other labels (e.g. the TLS 1.3 *_TRAFFIC_SECRET ones) are ignored and
// counted (see Counts). Malformed lines are reported as errors naming name
// and the line number; the well-formed lines are used regardless. n is the
// number of CLIENT_RANDOM entries added. Keys get the source "keylog:name".
func (k *KeyStore) LoadKeyLog(r io.Reader, name string) (n int, errs []error) {
	return k.loadKeyLog(r, name, "keylog:"+name)
}

// LoadDSB reads the payload of a pcapng Decryption Secrets Block of type TLS
// Key Log (0x544c534b), which is key log text. Keys get the source "dsb".
func (k *KeyStore) LoadDSB(payload []byte) (n int, errs []error) {
	return k.loadKeyLog(bytes.NewReader(payload), "decryption secrets block", "dsb")
}

func (k *KeyStore) loadKeyLog(r io.Reader, name, source string) (n int, errs []error) {
	br := bufio.NewReaderSize(r, 4096)
	type entry struct {
		cr [32]byte
		ms []byte
	}
	var entries []entry
	ignored, more := 0, 0
	report := func(line int, format string, args ...any) {
		if len(errs) >= maxKeyLogErrs {
			more++
			return
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	var lineBuf []byte
	for lineNo := 1; ; lineNo++ {
		lineBuf = lineBuf[:0]
		tooLong := false
		var err error
		for {
			var frag []byte
			var isPrefix bool
			frag, isPrefix, err = br.ReadLine()
			if len(lineBuf)+len(frag) > maxKeyLogLine {
				tooLong = true
			} else {
				lineBuf = append(lineBuf, frag...)
			}
			if !isPrefix || err != nil {
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				report(lineNo, "read error: %v", err)
			}
			break
		}
		if tooLong {
			report(lineNo, "line longer than %d bytes", maxKeyLogLine)
			continue
		}
		line := bytes.TrimSpace(lineBuf)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Fields(line)
		if string(f[0]) != "CLIENT_RANDOM" {
			if len(f) == 3 && isLabel(f[0]) {
				ignored++
			} else {
				report(lineNo, "malformed line (want LABEL <hex> <hex>)")
			}
			continue
		}
		if len(f) != 3 {
			report(lineNo, "CLIENT_RANDOM line has %d fields, want 3", len(f))
			continue
		}
		var e entry
		if len(f[1]) != 64 {
			report(lineNo, "client random is %d hex digits, want 64", len(f[1]))
			continue
		}
		if _, err := hex.Decode(e.cr[:], f[1]); err != nil {
			report(lineNo, "client random: %v", err)
			continue
		}
		if len(f[2]) != 96 {
			report(lineNo, "master secret is %d hex digits, want 96", len(f[2]))
			continue
		}
		e.ms = make([]byte, 48)
		if _, err := hex.Decode(e.ms, f[2]); err != nil {
			report(lineNo, "master secret: %v", err)
			continue
		}
		entries = append(entries, e)
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more malformed lines not listed", name, more))
	}
	k.mu.Lock()
	refused := 0
	for _, e := range entries {
		if !put(k, k.masters, e.cr, keyEntry{secret: e.ms, source: source}, k.gen.Load()+1, maxMasterSecrets, &k.longM) {
			refused++
		}
	}
	k.ignored += ignored
	if len(entries) > refused {
		k.gen.Add(1)
	}
	k.mu.Unlock()
	if refused > 0 {
		// first, so that a caller listing only the first errors shows it
		errs = append([]error{fmt.Errorf("%s: %d CLIENT_RANDOM entries refused: the key store holds its maximum of %d master secrets",
			name, refused, maxMasterSecrets)}, errs...)
	}
	return len(entries) - refused, errs
}

func isLabel(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

// AddPSK stores a pre-shared key for the PSK suites. identity selects the
// sessions it applies to (the PSK identity in the ClientKeyExchange); an
// empty identity makes it the default for sessions whose identity has no
// key of its own.
func (k *KeyStore) AddPSK(identity string, key []byte) error {
	if len(key) == 0 || len(key) > maxPSKLen {
		return fmt.Errorf("tlsdec: PSK is %d bytes, want 1..%d", len(key), maxPSKLen)
	}
	if len(identity) > maxPSKIdentity {
		return fmt.Errorf("tlsdec: PSK identity is %d bytes, want at most %d", len(identity), maxPSKIdentity)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !put(k, k.psks, identity, keyEntry{secret: bytes.Clone(key), source: "psk"}, k.gen.Load()+1, maxPSKs, &k.longP) {
		return fmt.Errorf("tlsdec: PSK refused: the key store holds its maximum of %d PSK identities", maxPSKs)
	}
	k.gen.Add(1)
	return nil
}

// AddRSAKey stores a server RSA private key (PEM: "RSA PRIVATE KEY" PKCS#1
// or "PRIVATE KEY" PKCS#8). It decrypts the premaster secret of sessions
// using a static-RSA key exchange suite (TLS_RSA_WITH_*), as Wireshark does.
func (k *KeyStore) AddRSAKey(pemBytes []byte) error {
	var added []*rsa.PrivateKey
	rest := pemBytes
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var key *rsa.PrivateKey
		switch b.Type {
		case "RSA PRIVATE KEY":
			var err error
			if key, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
				return fmt.Errorf("tlsdec: RSA key: %w", err)
			}
		case "PRIVATE KEY":
			pk, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return fmt.Errorf("tlsdec: RSA key: %w", err)
			}
			var ok bool
			if key, ok = pk.(*rsa.PrivateKey); !ok {
				return fmt.Errorf("tlsdec: PRIVATE KEY block holds a %T, not an RSA key", pk)
			}
		default:
			continue
		}
		added = append(added, key)
	}
	if len(added) == 0 {
		return errors.New("tlsdec: no RSA private key PEM block found")
	}
	k.mu.Lock()
	for _, key := range added {
		k.rsa = append(k.rsa, rsaEntry{key: key, source: "rsa", gen: k.gen.Load() + 1})
	}
	k.gen.Add(1)
	k.mu.Unlock()
	return nil
}

// master looks up the master secret for a client random, as a view
// limited to generation limit sees it (0: everything).
func (k *KeyStore) master(cr *[32]byte, limit uint64) (keyEntry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.masters[*cr]
	if !ok {
		return e, false
	}
	return e.at(limit)
}

// psk looks up the PSK for an identity, falling back to the default PSK.
func (k *KeyStore) psk(identity string, limit uint64) (keyEntry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if e, ok := k.psks[identity]; ok {
		if e, ok := e.at(limit); ok {
			return e, true
		}
	}
	if e, ok := k.psks[""]; ok {
		return e.at(limit)
	}
	return keyEntry{}, false
}

// rsaKeys returns a snapshot of the RSA keys.
func (k *KeyStore) rsaKeys(limit uint64) []rsaEntry {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []rsaEntry
	for _, e := range k.rsa {
		if limit == 0 || e.gen <= limit {
			out = append(out, e)
		}
	}
	return out
}
