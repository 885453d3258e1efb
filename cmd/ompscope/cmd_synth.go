package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ompscope/ompscope/pcaps/manifest"
	"github.com/ompscope/ompscope/pcaps/synth"
)

func init() {
	register(&command{
		name:    "synth",
		summary: "simulate a fabric: write a real encrypted capture, its keys and its ground truth",
		run:     runSynth,
	})
}

const synthDescription = `Simulates a Cisco SD-WAN fabric (1 vBond, 1 vManage, 2 vSmarts, N edges) and writes
a capture of its control plane: real DTLS 1.2 (pion/dtls) and TLS 1.2 (crypto/tls)
sessions carrying vdaemon and OMP messages, framed as Ethernet/IP/UDP/TCP.

Writes DIR/NAME.pcapng (keys in a Decryption Secrets Block), DIR/NAME.pcap,
DIR/NAME.keys (NSS key log) and DIR/NAME.manifest.json (what the scenario did: the
anomalies it caused and the final table of every OMP session).

The same --seed and flags give the same decrypted message sequence and the same
manifest. Use --list to see the scenarios.

Live mode (--live --to 127.0.0.1) runs the same simulation and sends its control
connections over real sockets on the loopback interface as it goes, paced by the
capture's times (--speed 60: sixty times faster; 0: as fast as possible): every
DTLS datagram from a UDP socket bound to the sender's address and port, every TLS
session over a real TCP connection. Each underlay address gets its own loopback
address, counting up from --to (vManage 127.0.0.1, vBond .3, vSmart 1 .5,
vSmart 2 .7, edge1 .9 or .10, ...; IPv6 sessions use IPv4 loopback addresses);
ports are those of the capture. Each session's CLIENT_RANDOM line is appended to
--keylog FILE just before its first packet is sent (--key-lead 1s: a second
before, for a capture that polls the key log). With -o DIR, live mode also
writes the offline files of the same run (NAME.pcapng, NAME.pcap, the same
NAME.manifest.json) and NAME.live.json (the address map, times and counts);
NAME.keys is the live key log unless --keylog names another file. Background
traffic is not sent. With --hold the sockets stay open after the last packet
until SIGINT/SIGTERM (closing would add FINs for the sessions still up).
SIGINT/SIGTERM stops a live run early (exit 1).`

func runSynth(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("synth", "synth --scenario NAME -o DIR [flags]", synthDescription, stderr)
	scenario := fs.StringP("scenario", "s", "", "scenario to simulate (see --list)")
	out := fs.StringP("output", "o", "", "directory to write the four files to")
	list := fs.Bool("list", false, "list the scenarios and exit")
	listSuites := fs.Bool("list-suites", false, "list the cipher suites --suites accepts and exit")
	samples := fs.String("samples", "", "write every committed sample (pcaps/) into this directory and exit")
	seed := fs.Int64("seed", 1, "seed of everything the simulator decides")
	edges := fs.Int("edges", 0, "number of edges (default 6)")
	routes := fs.Int("routes", 0, "total route paths the edges originate (0: a small hand-made table per edge)")
	duration := fs.Duration("duration", 0, "virtual length of the capture (default: the scenario's)")
	tlsFrac := fs.Float64("tls", 0, "share of edges whose vManage/vSmart connections use TLS over TCP (default 0.2)")
	noTLS := fs.Bool("no-tls", false, "no TLS sessions: DTLS only")
	v6Frac := fs.Float64("ipv6", 0, "share of edges with an IPv6 underlay for their control connections (default 0.2)")
	noV6 := fs.Bool("no-ipv6", false, "IPv4 underlay only")
	suites := fs.String("suites", "", "comma-separated cipher suites (IANA names) to use, in turn (default: all; see --list-suites)")
	noPSK := fs.Bool("no-psk", false, "no DTLS session with a pre-shared key")
	impair := fs.Float64("impair", 0, "rate of lost, duplicated and reordered datagrams (default 0.02)")
	noImpair := fs.Bool("no-impair", false, "no lost, duplicated or reordered datagrams")
	bg := fs.Float64("background", 0, "unrelated packets a second: DNS, ICMP, NTP, syslog, UDP, HTTP (default 2)")
	noBG := fs.Bool("no-background", false, "no unrelated packets")
	vlan := fs.Int("vlan", 0, "802.1Q VLAN id of vSmart 2's frames (default 102)")
	noVLAN := fs.Bool("no-vlan", false, "untagged frames only")
	mtu := fs.Int("mtu", 0, "underlay MTU; larger datagrams become IP fragments (default 1500)")
	maxUpdate := fs.Int("max-update", 0, "largest OMP UPDATE in bytes (default 4000)")
	tables := fs.String("tables", "", "final tables in the manifest: full or counts (counts: scale only; default full up to 20000 route paths)")
	liveMode := fs.Bool("live", false, "send the control connections over loopback sockets as the simulation runs (see above)")
	to := fs.String("to", "", "live: the first loopback address of the address map (127.0.0.0/8; default 127.0.0.1)")
	speed := fs.Float64("speed", 1, "live: how many times faster than real time (0: as fast as possible, in order)")
	keylog := fs.String("keylog", "", "live: append each session's key log lines to FILE just before its first packet (default DIR/NAME.keys)")
	keyLead := fs.Duration("key-lead", 0, "live: write each session's key lines this long (wall time) before its first packet, and start sending that much later (0: just before)")
	hold := fs.Bool("hold", false, "live: after the last packet, keep the sockets open until SIGINT/SIGTERM")
	quiet := fs.BoolP("quiet", "q", false, "no progress on stderr")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ompscope synth: unexpected argument %q\n(run 'ompscope synth --help')\n", fs.Arg(0))
		return exitUsage
	}
	if *list {
		for _, sc := range synth.Scenarios() {
			an := "no anomaly"
			if len(sc.Anomalies) > 0 {
				an = strings.Join(sc.Anomalies, ", ")
			}
			fmt.Fprintf(stdout, "%-20s %s [%s]\n", sc.Name, sc.Summary, an)
		}
		return exitOK
	}
	if *listSuites {
		d, t := synth.SuiteNames()
		fmt.Fprintf(stdout, "DTLS (pion/dtls):\n  %s\nTLS (crypto/tls):\n  %s\n", strings.Join(d, "\n  "), strings.Join(t, "\n  "))
		return exitOK
	}
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	if *samples != "" {
		for _, o := range synth.Samples() {
			o.Progress = progress
			m, st, err := synth.WriteFiles(o, *samples)
			if err != nil {
				fmt.Fprintf(stderr, "ompscope synth: %s: %v\n", o.Scenario, err)
				return exitRuntime
			}
			fmt.Fprintf(stdout, "%s: %d frames, %d records, %d anomalies\n", filepath.Join(*samples, o.Scenario), st.Frames, m.Records, len(m.Anomalies))
		}
		return exitOK
	}
	if *scenario == "" {
		fmt.Fprintf(stderr, "ompscope synth: --scenario is required (see --list)\n(run 'ompscope synth --help')\n")
		return exitUsage
	}
	if _, ok := synth.FindScenario(*scenario); !ok {
		fmt.Fprintf(stderr, "ompscope synth: unknown scenario %q (see --list)\n", *scenario)
		return exitUsage
	}
	if !*liveMode {
		for _, f := range []string{"to", "speed", "keylog", "key-lead", "hold"} {
			if fs.Changed(f) {
				fmt.Fprintf(stderr, "ompscope synth: --%s is for live mode (--live)\n(run 'ompscope synth --help')\n", f)
				return exitUsage
			}
		}
	}
	if *out == "" && !*liveMode {
		fmt.Fprintf(stderr, "ompscope synth: -o DIR is required\n(run 'ompscope synth --help')\n")
		return exitUsage
	}
	if *liveMode && *out == "" && *keylog == "" {
		fmt.Fprintf(stderr, "ompscope synth: live mode needs --keylog FILE or -o DIR (for the key log)\n(run 'ompscope synth --help')\n")
		return exitUsage
	}
	o := synth.Options{Scenario: *scenario, Seed: *seed, Edges: *edges, Routes: *routes, Duration: *duration,
		TLSFraction: *tlsFrac, NoTLS: *noTLS, IPv6Fraction: *v6Frac, NoIPv6: *noV6, NoPSK: *noPSK,
		Impair: *impair, NoImpair: *noImpair, Background: *bg, NoBackground: *noBG, VLAN: *vlan, NoVLAN: *noVLAN,
		MTU: *mtu, MaxUpdate: *maxUpdate, Tables: *tables, Progress: progress}
	if *suites != "" {
		o.Suites = strings.Split(*suites, ",")
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "ompscope synth: %v\n(run 'ompscope synth --help')\n", err)
		return exitUsage
	}
	if *liveMode {
		lo := synth.LiveOptions{Speed: *speed, KeyLead: *keyLead, Hold: *hold, Progress: progress}
		if *to != "" {
			a, err := netip.ParseAddr(*to)
			if err != nil {
				fmt.Fprintf(stderr, "ompscope synth: --to %q: not an IP address\n(run 'ompscope synth --help')\n", *to)
				return exitUsage
			}
			lo.To = a
		}
		if err := lo.Validate(); err != nil {
			fmt.Fprintf(stderr, "ompscope synth: %v\n(run 'ompscope synth --help')\n", err)
			return exitUsage
		}
		return runSynthLive(o, lo, *out, *keylog, stdout, stderr)
	}
	m, st, err := synth.WriteFiles(o, *out)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope synth: %v\n", err)
		return exitRuntime
	}
	base := filepath.Join(*out, *scenario)
	fmt.Fprintf(stdout, "wrote %s.pcapng, .pcap, .keys, .manifest.json: %d sessions, %d frames (%d bytes), %d application records (%d decryptable), %d anomalies, in %v\n",
		base, st.Sessions, st.Frames, st.Bytes, m.Records, m.DecryptableRecords, len(m.Anomalies), st.Total.Round(time.Millisecond))
	return exitOK
}

// runSynthLive runs a live replay (see synthDescription): the key log goes
// to keylog (default DIR/NAME.keys) as the sessions start; with a
// directory, the offline files of the same run, its manifest and
// NAME.live.json are written once the last packet is sent.
func runSynthLive(o synth.Options, lo synth.LiveOptions, dir, keylog string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ompscope synth: "+format+"\n", a...)
		return exitRuntime
	}
	var base string
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	defer closeAll()
	create := func(path string, flag int) (*os.File, error) {
		f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	var w synth.Writers
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fail("%v", err)
		}
		base = filepath.Join(dir, o.Scenario)
		var err error
		if w.PcapNG, err = create(base+".pcapng", os.O_TRUNC); err != nil {
			return fail("%v", err)
		}
		if w.Pcap, err = create(base+".pcap", os.O_TRUNC); err != nil {
			return fail("%v", err)
		}
		if keylog == "" {
			keylog = base + ".keys"
		} else if filepath.Clean(keylog) != filepath.Clean(base+".keys") {
			// the offline key log of the run, written whole at the start
			if w.Keys, err = create(base+".keys", os.O_TRUNC); err != nil {
				return fail("%v", err)
			}
		}
	}
	// --keylog FILE is appended to, as key logs are (lines of earlier runs
	// are harmless); DIR/NAME.keys is the run's own.
	flag := os.O_APPEND
	if dir != "" && filepath.Clean(keylog) == filepath.Clean(base+".keys") {
		flag = os.O_TRUNC
	}
	kl, err := create(keylog, flag)
	if err != nil {
		return fail("%v", err)
	}
	lo.KeyLog = kl
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lo.OnSent = func(m *manifest.Manifest, info *synth.LiveInfo) error {
		st := info.Stats
		what := ""
		if dir != "" {
			for _, f := range files {
				if f != kl {
					if err := f.Sync(); err != nil {
						return err
					}
				}
			}
			b, err := synth.MarshalManifest(m)
			if err != nil {
				return err
			}
			if err := os.WriteFile(base+".manifest.json", b, 0o644); err != nil {
				return err
			}
			j, err := json.MarshalIndent(info, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(base+".live.json", append(j, '\n'), 0o644); err != nil {
				return err
			}
			what = fmt.Sprintf("; wrote %s.pcapng, .pcap, .manifest.json, .live.json", base)
		}
		fmt.Fprintf(stdout, "live %s: sent %d datagrams (%d bytes) and %d TLS writes (%d bytes) on %d connections for %d sessions, over %v (speed %g) from %s; key log %s%s\n",
			o.Scenario, st.Datagrams, st.DatagramBytes, st.StreamWrites, st.StreamBytes, st.Connections, len(m.Sessions),
			st.Elapsed.Round(time.Millisecond), info.Speed, info.To, keylog, what)
		if lo.Hold {
			fmt.Fprintf(stdout, "live %s: holding the sockets open until SIGINT/SIGTERM\n", o.Scenario)
		}
		return nil
	}
	_, info, err := synth.RunLive(ctx, o, lo, w)
	if err != nil {
		// the offline files are incomplete: remove them (the key log
		// stays: it holds the keys of the sessions that were sent)
		for _, f := range files {
			if f != kl {
				f.Close()
				os.Remove(f.Name())
			}
		}
		if errors.Is(err, context.Canceled) {
			n := 0
			if info != nil {
				n = info.Stats.Packets
			}
			return fail("interrupted after %d datagrams and TLS writes: the live traffic is partial (the key log %s holds the keys of the sessions started)", n, keylog)
		}
		return fail("%v", err)
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			return fail("%v", err)
		}
	}
	files = nil
	return exitOK
}
