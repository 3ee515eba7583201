package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/floe-north/floe/node"
)

// Env holds the flags every command shares and opens the node.
type Env struct {
	IO
	dir            string
	passphraseFile string
	JSON           bool
	lang           string
	in             *bufio.Reader // one reader over In, so piped lines are not lost
}

// ReadLine reads one line from standard input, without its line ending.
func (e *Env) ReadLine() ([]byte, error) {
	if e.in == nil {
		e.in = bufio.NewReader(e.In)
	}
	line, err := e.in.ReadBytes('\n')
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	return trimNewline(line), nil
}

// ReadSecretValue reads a value that must stay out of shell history and
// off the screen: at a prompt without echo, or one line of standard input.
func (e *Env) ReadSecretValue(prompt string) (string, error) {
	if e.IsTerminal != nil && e.IsTerminal() && e.ReadSecret != nil {
		b, err := e.ReadSecret(prompt + " (not shown): ")
		return string(b), err
	}
	b, err := e.ReadLine()
	if err != nil {
		return "", fmt.Errorf("reading the %s from standard input: %w", prompt, err)
	}
	return string(b), nil
}

func (e *Env) register(fs *flag.FlagSet) {
	fs.StringVar(&e.dir, "dir", "", "the node's data directory (or FLOE_DIR)")
	fs.StringVar(&e.passphraseFile, "passphrase-file", "", "read the passphrase from this file (or FLOE_PASSPHRASE)")
	fs.BoolVar(&e.JSON, "json", false, "machine-readable JSON output")
	fs.StringVar(&e.lang, "lang", "", "the language to show directory text in: en, fr or iu (or FLOE_LANG); others are the fallback")
}

// Lang is the reader's language for directory text ("" for the default
// order: en, fr, iu).
func (e *Env) Lang() string {
	if e.lang != "" {
		return e.lang
	}
	return e.Getenv("FLOE_LANG")
}

func defaultDirHint() string {
	if d, err := defaultDir(); err == nil {
		return d
	}
	return "~/.floe"
}

func defaultDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no home directory to keep the node in; give --dir or set FLOE_DIR")
	}
	return filepath.Join(home, ".floe"), nil
}

// Dir is the data directory: --dir, then FLOE_DIR, then ~/.floe.
func (e *Env) Dir() (string, error) {
	if e.dir != "" {
		return e.dir, nil
	}
	if d := e.Getenv("FLOE_DIR"); d != "" {
		return d, nil
	}
	return defaultDir()
}

// MinPassphrase is the shortest passphrase init accepts.
const MinPassphrase = 8

// Passphrase reads the passphrase: --passphrase-file, then FLOE_PASSPHRASE,
// then a prompt. confirm asks twice (for a new passphrase).
func (e *Env) Passphrase(prompt string, confirm bool) ([]byte, error) {
	if e.passphraseFile != "" {
		b, err := os.ReadFile(e.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase file: %w", err)
		}
		return trimNewline(b), nil
	}
	if p := e.Getenv("FLOE_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	return e.prompt(prompt, confirm)
}

func (e *Env) prompt(prompt string, confirm bool) ([]byte, error) {
	if e.IsTerminal == nil || !e.IsTerminal() {
		// Not a terminal: read one line from standard input, for scripts.
		line, err := e.ReadLine()
		if err != nil {
			return nil, errors.New("no passphrase: give --passphrase-file, set FLOE_PASSPHRASE, or run in a terminal")
		}
		return line, nil
	}
	p, err := e.ReadSecret(prompt + ": ")
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if confirm {
		again, err := e.ReadSecret("Type it again: ")
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passphrases differ; nothing was changed")
		}
	}
	return p, nil
}

// trimNewline drops the line ending, and the byte-order mark that Windows
// Notepad puts at the start of a file.
func trimNewline(b []byte) []byte {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	return bytes.TrimRight(b, "\r\n")
}

func stdinIsTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

func readSecretTerminal(prompt string) ([]byte, error) {
	fmt.Fprint(os.Stderr, prompt)
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	return b, err
}

// Open unlocks the node in the data directory.
func (e *Env) Open(ctx context.Context) (*node.Node, error) {
	dir, err := e.Dir()
	if err != nil {
		return nil, err
	}
	pass, err := e.Passphrase("Passphrase for "+dir, false)
	if err != nil {
		return nil, err
	}
	return node.Open(ctx, dir, pass, nodeOptions())
}

// nodeOptions are the options every command opens nodes with. Tests swap
// it for cheaper key derivation.
var nodeOptions = func() node.Options { return node.Options{} }

// Out writes a line of human output.
func (e *Env) Printf(format string, a ...any) { fmt.Fprintf(e.IO.Out, format, a...) }

func wantArgs(args []string, n int, what, cmd string) error {
	if len(args) != n {
		// The arguments are not echoed: one may hold a sensitive value.
		return usagef("run 'floe "+cmd+" --help'", "want %s, got %d argument(s)", what, len(args))
	}
	return nil
}
