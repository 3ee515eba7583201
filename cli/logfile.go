package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// rotatingFile is a log file that rotates by size: once the next write
// would take it past max bytes, FILE becomes FILE.1 (FILE.1 becomes
// FILE.2, and so on), keeping keep old files, and a new FILE starts. A
// service that runs for years then never fills the disk with its log.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	keep int
	f    *os.File
	size int64
}

// Defaults for --log-file.
const (
	logMaxBytes = 10 << 20
	logKeep     = 5
)

func openRotating(path string, max int64, keep int) (*rotatingFile, error) {
	if max <= 0 || keep < 1 {
		return nil, errors.New("bug: a log needs a positive size and at least one old file")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("the log's folder: %w", err)
	}
	r := &rotatingFile{path: path, max: max, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the log %s: %w", r.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, fs.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			// Keep logging into the full file rather than lose lines.
			fmt.Fprintf(os.Stderr, "floe: rotating the log %s: %v\n", r.path, err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate shifts FILE.(k) to FILE.(k+1), dropping the oldest, and starts a
// new FILE. Renames replace their target on Windows only if it is gone
// first, so each target is removed before.
func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	os.Remove(fmt.Sprintf("%s.%d", r.path, r.keep))
	for k := r.keep - 1; k >= 1; k-- {
		from, to := fmt.Sprintf("%s.%d", r.path, k), fmt.Sprintf("%s.%d", r.path, k+1)
		if _, err := os.Stat(from); err == nil {
			os.Remove(to)
			if err := os.Rename(from, to); err != nil {
				return r.reopenAfter(err)
			}
		}
	}
	os.Remove(r.path + ".1")
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return r.reopenAfter(err)
	}
	return r.open()
}

func (r *rotatingFile) reopenAfter(err error) error {
	if oerr := r.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// daemonLogger is the logger of a long-running command: structured text
// on stderr, or with a file given, JSON lines in a file that rotates
// (10 MiB, 5 kept). Floe's logs never hold record content: no names,
// numbers, notes or locations, only IDs, counts and errors. close is for
// the end of the command.
func daemonLogger(env *Env, file string, level slog.Level) (log *slog.Logger, close func(), err error) {
	opts := &slog.HandlerOptions{Level: level}
	if file == "" {
		return slog.New(slog.NewTextHandler(env.IO.Err, opts)), func() {}, nil
	}
	r, err := openRotating(file, logMaxBytes, logKeep)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewJSONHandler(r, opts)), func() { r.Close() }, nil
}
