package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/ompscope/ompscope/dissect/display"
	"github.com/spf13/pflag"
)

// newFlagSet makes a GNU-style flag set for a command; --help prints the
// usage line, the description and the flags.
func newFlagSet(name, usageLine, description string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ompscope %s\n\n%s\n\nFlags:\n%s", usageLine, description, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args; it returns (exit status, done): done is true
// when the command must stop (help was printed, or a usage error).
func parseFlags(fs *pflag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			fs.SetOutput(stdout) // asked-for help goes to standard output
		}
	}
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK, true
	}
	if err != nil {
		fmt.Fprintf(fs.Output(), "ompscope %s: %v\n(run 'ompscope %s --help')\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	return 0, false
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// outputFormat resolves -T: "auto" means text on a terminal, json otherwise.
func outputFormat(flag string, stdout io.Writer) (string, error) {
	switch flag {
	case "text", "json":
		return flag, nil
	case "", "auto":
		if isTerminal(stdout) {
			return "text", nil
		}
		return "json", nil
	}
	return "", fmt.Errorf("-T takes text or json, not %q", flag)
}

// textWidth is the width text output fits: --width when given, else the
// terminal's (its size, or $COLUMNS), else 120.
func textWidth(flag int, stdout io.Writer) int {
	if flag > 0 {
		return flag
	}
	if f, ok := stdout.(*os.File); ok && isTerminal(stdout) {
		if w := ttyWidth(f); w > 0 {
			return w
		}
		if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
			return w
		}
	}
	return 120
}

// addDisplayFilter registers -Y.
func addDisplayFilter(fs *pflag.FlagSet, what string) *string {
	return fs.StringP("display-filter", "Y", "", "display filter: print only the "+what+" it keeps, e.g. 'omp.type == UPDATE && prefix << 10.0.0.0/8' (fields and operators: docs/dissect.md)")
}

// displayFilter compiles -Y (nil: none); the error points at the position.
func displayFilter(expr string) (*display.Filter, error) {
	if expr == "" {
		return nil, nil
	}
	f, err := display.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("-Y: %w", err)
	}
	return f, nil
}
