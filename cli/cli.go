// Package cli is the floe command: subcommands, flags, output and exit
// codes. The binary's main (cli/floe) only calls Main. Nothing imports cli.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed; the reason is on stderr
	ExitUsage = 2 // the command line was wrong
)

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Getenv reads the environment; tests inject one.
	Getenv func(string) string
	// IsTerminal reports whether In is an interactive terminal.
	IsTerminal func() bool
	// ReadSecret reads a passphrase from the terminal without echo.
	ReadSecret func(prompt string) ([]byte, error)
}

// Stdio is the process's standard streams and environment.
func Stdio() IO {
	return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, IsTerminal: stdinIsTerminal, ReadSecret: readSecretTerminal}
}

// command is one subcommand.
type command interface {
	// Name and Synopsis are shown in the command list.
	Name() string
	Synopsis() string
	// Usage is the full help text, shown by --help.
	Usage() string
	// Flags registers the command's flags.
	Flags(fs *flag.FlagSet)
	// Run runs the command with the arguments left after flags.
	Run(ctx context.Context, env *Env, args []string) error
}

// UsageError is a wrong command line. Hint says what to do.
type UsageError struct {
	Msg, Hint string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(hint, format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...), Hint: hint}
}

func commands() []command {
	return []command{
		&initCmd{}, newDirCmd(), newOutreachCmd(), &statusCmd{}, &conflictsCmd{}, &resolveCmd{},
		&peerCmd{}, &syncCmd{}, &bundleCmd{}, &nodeCmd{}, &memberCmd{}, &simCmd{},
		&verifyCmd{}, &passphraseCmd{}, &wipeCmd{}, &lockCmd{}, &auditCmd{}, &packCmd{}, &serveCmd{}, &demoCmd{}, &benchCmd{}, &versionCmd{}, &doctorCmd{}, &soakCmd{},
		&serviceCmd{},
		&backupCmd{}, &restoreCmd{},
	}
}

func find(name string) command {
	for _, c := range commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

const topUsage = `floe: an offline-first, encrypted service directory and outreach record
for remote communities.

Usage: floe COMMAND [flags] [arguments]

Commands:
%s
Every command takes --help. Most take:
  --dir DIR               the node's data directory (or FLOE_DIR; default %s)
  --passphrase-file FILE  read the passphrase from FILE (or FLOE_PASSPHRASE;
                          otherwise floe asks for it)
  --json                  machine-readable output

Start with 'floe demo' to see it work on sample data.
`

func printTopUsage(w io.Writer) {
	var b strings.Builder
	cs := commands()
	for _, c := range cs {
		fmt.Fprintf(&b, "  %-12s %s\n", c.Name(), c.Synopsis())
	}
	fmt.Fprintf(w, topUsage, b.String(), defaultDirHint())
}

// DefaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise. Community laptops are old: without a limit the heap grows to
// twice what is live before the collector runs, and badger's compactions
// make a lot of short-lived garbage. Measured with floe bench, the limit
// halves the peak anonymous memory of a large import at no cost in speed
// (docs/benchmarks.md).
const DefaultMemoryLimit = 256 << 20

// Main runs the floe command line and returns the exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	if len(args) == 0 {
		printTopUsage(stdio.Err)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				fmt.Fprint(stdio.Out, c.Usage())
				return ExitOK
			}
		}
		printTopUsage(stdio.Out)
		return ExitOK
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(stdio.Err, "floe: unknown command %q; run 'floe --help' for the list\n", args[0])
		return ExitUsage
	}
	err := runCommand(ctx, c, args[1:], stdio)
	return report(stdio.Err, c.Name(), err)
}

func runCommand(ctx context.Context, c command, args []string, stdio IO) error {
	fs := flag.NewFlagSet("floe "+c.Name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := &Env{IO: stdio}
	env.register(fs)
	c.Flags(fs)
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdio.Out, c.Usage())
			return nil
		}
		return usagef("run 'floe "+c.Name()+" --help'", "%v", err)
	}
	return c.Run(ctx, env, fs.Args())
}

// interleave lets flags follow positional arguments ("floe dir show ID
// --json"), as people type them. A "--" ends flag parsing.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(flags, "--"), pos...)
}

func report(w io.Writer, name string, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "floe %s: %s\n", name, ue.Msg)
		if ue.Hint != "" {
			fmt.Fprintf(w, "hint: %s\n", ue.Hint)
		}
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(w, "floe %s: interrupted; what was written before is kept\n", name)
		return ExitError
	}
	fmt.Fprintf(w, "floe %s: %s\n", name, oneLine(err.Error()))
	return ExitError
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
