// Command ompscope decodes and analyzes the control plane of a Cisco
// SD-WAN fabric from packet captures: it decrypts DTLS/TLS control
// connections with the keys you supply, decodes vdaemon and OMP messages,
// and rebuilds the route, TLOC and service tables each peer advertised.
//
// Usage: ompscope COMMAND [flags]; `ompscope help` lists the commands and
// `ompscope COMMAND --help` describes one.
//
// Exit status: 0 success, 1 runtime error (including input that failed to
// decode), 2 usage error (unknown command or flag, bad flag value).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes.
const (
	exitOK        = 0
	exitRuntime   = 1
	exitUsage     = 2
	exitAnomalies = 3 // anomalies at or above --fail-on were found
	exitUnread    = 4 // not one record of a control connection could be read, and some of the capture could not (no key; packets that never reached DTLS/TLS)
)

// command is one subcommand. run gets the arguments after the command
// name and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

// register adds a subcommand; each command's file calls it from init.
func register(c *command) { commands[c.name] = c }

func usage(w io.Writer) {
	fmt.Fprintf(w, "ompscope %s: see what the control plane of a Cisco SD-WAN fabric said.\n\n", version)
	fmt.Fprintf(w, "Usage: ompscope COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'ompscope COMMAND --help' for a command's flags.\n")
	fmt.Fprintf(w, "Exit status: 0 ok, 1 runtime error, 2 usage error.\n")
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"--help"}, stdin, stdout, stderr)
			}
			fmt.Fprintf(stderr, "ompscope: no command %q\n\n", args[1])
			usage(stderr)
			return exitUsage
		}
		usage(stdout)
		return exitOK
	case "-V", "--version", "version":
		fmt.Fprintf(stdout, "ompscope %s\n", version)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ompscope: unknown command %q\n\n", args[0])
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "(flags go after the command: ompscope COMMAND %s)\n\n", args[0])
		}
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:], stdin, stdout, stderr)
}

// main runs the command. For measurements (docs/performance.md),
// OMPSCOPE_CPUPROFILE=FILE writes a CPU profile of the whole run and
// OMPSCOPE_MEMPROFILE=FILE a heap profile at its end.
func main() {
	if p := os.Getenv("OMPSCOPE_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ompscope: OMPSCOPE_CPUPROFILE: %v\n", err)
			os.Exit(exitRuntime)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "ompscope: OMPSCOPE_CPUPROFILE: %v\n", err)
			os.Exit(exitRuntime)
		}
		code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "ompscope: OMPSCOPE_CPUPROFILE: %v\n", err)
		}
		os.Exit(code)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if p := os.Getenv("OMPSCOPE_MEMPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			runtime.GC() // the profile says what is live at the end, not at the last collection
			err = pprof.WriteHeapProfile(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "ompscope: OMPSCOPE_MEMPROFILE: %v\n", err)
		}
	}
	os.Exit(code)
}
