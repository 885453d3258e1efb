package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// inputFlags are the flags every command that reads captures shares:
// the capture, the keys, and the ports.
type inputFlags struct {
	read     []string // -r, repeatable; files named after the flags join them
	keylogs  []string
	psks     []string
	rsaKeys  []string
	dtlsPort []uint
	tlsPort  []uint
	noHeur   bool
	jobs     int
	maxSess  int
}

func addInputFlags(fs *pflag.FlagSet, f *inputFlags) {
	fs.StringArrayVarP(&f.read, "read", "r", nil, "capture file to read (pcap or pcapng, optionally gzip-compressed; - for standard input); several (-r A -r B, or -r A B) are merged in time order, as mergecap does")
	fs.StringArrayVar(&f.keylogs, "keylog", nil, "NSS key log file (CLIENT_RANDOM lines); may be repeated")
	fs.StringArrayVar(&f.psks, "psk", nil, "pre-shared key for PSK suites, as hex, optionally IDENTITY:HEX; may be repeated")
	fs.StringArrayVar(&f.rsaKeys, "rsa-key", nil, "PEM file with a server's RSA private key (static RSA key exchange); may be repeated")
	fs.UintSliceVar(&f.dtlsPort, "dtls-port", nil, "extra UDP port(s) carrying DTLS control connections (besides 12346 and the per-core and port-hopping ports)")
	fs.UintSliceVar(&f.tlsPort, "tls-port", nil, "extra TCP port(s) carrying TLS control connections (besides 23456)")
	fs.BoolVar(&f.noHeur, "no-heuristic", false, "do not look for DTLS on other UDP ports")
	fs.IntVar(&f.maxSess, "max-sessions", 1<<17, "DTLS/TLS sessions tracked at once (an eighth of them may be sessions that have not proven themselves with a ServerHello or an encrypted record); the table is held in up to 64 parts by address pair, each with its share (2048 sessions by default), the same whatever --jobs is; past a part's share its least recently active unproven session is evicted, else its least recently active (counted: a capture-gap anomaly); at most 16777216")
	fs.IntVarP(&f.jobs, "jobs", "j", dissect.Workers(), "workers decrypting in parallel, sessions sharded among them by address pair; records are decoded and analyzed in capture order, and the limits (--max-sessions and the buffers) are cut into the same parts whatever the number, so the output is the same for any number (1: one goroutine; at most 64 are used, fewer with a --max-sessions under 8192)")
}

// maxSessionsLimit bounds --max-sessions: 16 M sessions, far more than a
// fabric has control connections (a session holds about 3 KB).
const maxSessionsLimit = 1 << 24

// workers checks --jobs.
func (f *inputFlags) workers() (int, error) {
	if f.jobs < 1 || f.jobs > 256 {
		return 0, fmt.Errorf("--jobs %d: want 1 to 256", f.jobs)
	}
	return f.jobs, nil
}

// loadKeys builds the key store; key-log line errors are reported on
// stderr (with file and line) and the rest of the file is used.
func (f *inputFlags) loadKeys(stderr io.Writer) (*tlsdec.KeyStore, error) {
	ks := tlsdec.NewKeyStore()
	for _, path := range f.keylogs {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("key log: %v", err)
		}
		n, errs := ks.LoadKeyLog(fh, path)
		fh.Close()
		for i, e := range errs {
			if i == 10 {
				fmt.Fprintf(stderr, "ompscope: %s: %d more malformed lines\n", path, len(errs)-10)
				break
			}
			fmt.Fprintf(stderr, "ompscope: %v\n", e)
		}
		if n == 0 {
			fmt.Fprintf(stderr, "ompscope: warning: %s holds no usable CLIENT_RANDOM line\n", path)
		}
	}
	for _, p := range f.psks {
		id, h := "", p
		if i := strings.LastIndexByte(p, ':'); i >= 0 {
			id, h = p[:i], p[i+1:]
		}
		key, err := hex.DecodeString(h)
		if err != nil {
			// never print a secret, even a malformed one (nor the byte
			// the hex decoder stumbled on)
			what := "not hex"
			if err == hex.ErrLength {
				what = "an odd number of hex digits"
			}
			if id != "" {
				return nil, fmt.Errorf("--psk for identity %q: the key is %s (%d characters; not shown)", id, what, len(h))
			}
			return nil, fmt.Errorf("--psk: the key is %s (%d characters; not shown)", what, len(h))
		}
		if err := ks.AddPSK(id, key); err != nil {
			return nil, fmt.Errorf("--psk: %v", err)
		}
	}
	for _, path := range f.rsaKeys {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--rsa-key: %v", err)
		}
		if err := ks.AddRSAKey(pem); err != nil {
			return nil, fmt.Errorf("--rsa-key %s: %v", path, err)
		}
	}
	return ks, nil
}

// files joins the files named after the flags to -r's (call after
// parsing with fs.Args()).
func (f *inputFlags) files(args []string) error {
	f.read = append(f.read, args...)
	if len(f.read) > 1 && slices.Contains(f.read, "-") {
		return errors.New("standard input (-r -) cannot be merged with other files")
	}
	return nil
}

// capSource is what open gives: one capture, or several merged.
type capSource interface {
	dissect.Source
	Close() error
}

// open opens the captures -r names ("-": stdin); several are merged in
// time order.
func (f *inputFlags) open(stdin io.Reader) (capSource, error) {
	if len(f.read) == 1 {
		if f.read[0] == "-" {
			return capture.NewReader(stdin)
		}
		return capture.OpenMapped(f.read[0])
	}
	var rs []*capture.Reader
	for _, name := range f.read {
		r, err := capture.OpenMapped(name)
		if err != nil {
			for _, o := range rs {
				o.Close()
			}
			return nil, err
		}
		rs = append(rs, r)
	}
	return capture.NewMerger(rs, f.read), nil
}

func (f *inputFlags) config(ks *tlsdec.KeyStore) (dissect.Config, error) {
	if _, err := f.workers(); err != nil {
		return dissect.Config{}, err
	}
	if f.maxSess < 16 || f.maxSess > maxSessionsLimit {
		return dissect.Config{}, fmt.Errorf("--max-sessions %d: want 16 to %d", f.maxSess, maxSessionsLimit)
	}
	ports := func(name string, in []uint) ([]uint16, error) {
		out := make([]uint16, len(in))
		for i, p := range in {
			if p == 0 || p > 65535 {
				return nil, fmt.Errorf("--%s %d: not a port number", name, p)
			}
			out[i] = uint16(p)
		}
		return out, nil
	}
	dp, err := ports("dtls-port", f.dtlsPort)
	if err != nil {
		return dissect.Config{}, err
	}
	tp, err := ports("tls-port", f.tlsPort)
	if err != nil {
		return dissect.Config{}, err
	}
	// every command uses each event at once: decode into reused values
	cfg := dissect.Config{Keys: ks, ExtraDTLSPorts: dp, ExtraTLSPorts: tp, NoHeuristic: f.noHeur, ReuseMessages: true}
	cfg.TLS.MaxSessions = f.maxSess
	return cfg, nil
}

// keyHint tells, on stderr, how to give the keys when records could not
// be decrypted for the lack of one (said once, after the run).
func keyHint(stderr io.Writer, cmd string, d *dissect.Dissector, ks *tlsdec.KeyStore) {
	sess, _ := d.Sessions()
	var recs uint64
	n := 0
	for _, s := range sess {
		if f := s.Failures(tlsdec.ReasonNoKey); f > 0 {
			recs += f
			n++
		}
	}
	if n == 0 {
		return
	}
	c := ks.Counts()
	fmt.Fprint(stderr, refusedKeysHint(cmd, c))
	if c.MasterSecrets+c.PSKs+c.RSAKeys == 0 {
		fmt.Fprintf(stderr, "ompscope %s: %d record(s) of %d session(s) could not be decrypted: no key was given. "+
			"Give the key log (--keylog FILE: CLIENT_RANDOM lines, as SSLKEYLOGFILE writes them), a pre-shared key "+
			"(--psk HEX), the server's RSA key (--rsa-key PEM), or read a pcapng that carries its keys "+
			"(editcap --inject-secrets tls,KEYLOG in.pcap out.pcapng).\n", cmd, recs, n)
		return
	}
	fmt.Fprintf(stderr, "ompscope %s: %d record(s) of %d session(s) could not be decrypted: the keys given do not "+
		"include theirs (dissect --stats names the client random each session needs).\n", cmd, recs, n)
}

// refusedKeysHint is keyHint's line on keys the store refused at its
// caps ("" when none was).
func refusedKeysHint(cmd string, c tlsdec.KeyCounts) string {
	if c.Refused == 0 {
		return ""
	}
	return fmt.Sprintf("ompscope %s: %d key(s) were refused: the key store held its maximum (%d master secrets, %d PSK identities); "+
		"the records of their sessions stay encrypted (dissect --stats counts them).\n", cmd, c.Refused, tlsdec.MaxMasterSecrets, tlsdec.MaxPSKs)
}

// hasKeys reports whether any key or port flag was given.
func (f *inputFlags) hasKeys() bool {
	return len(f.keylogs)+len(f.psks)+len(f.rsaKeys)+len(f.dtlsPort)+len(f.tlsPort) > 0 || f.noHeur
}
