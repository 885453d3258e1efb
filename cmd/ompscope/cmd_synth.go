package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

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
manifest. Use --list to see the scenarios.`

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
	if *out == "" {
		fmt.Fprintf(stderr, "ompscope synth: -o DIR is required\n(run 'ompscope synth --help')\n")
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
