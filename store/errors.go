package store

import (
	"errors"
	"fmt"
)

// Errors that callers branch on. Each error the package returns for one of
// these wraps it with a message for a person that says what to do next.
var (
	// ErrExists means Create found a Floe node already in the directory.
	ErrExists = errors.New("a Floe node already exists here")
	// ErrNotEmpty means Create was given a directory that holds other files.
	ErrNotEmpty = errors.New("directory is not empty")
	// ErrNoNode means Open found no Floe node in the directory.
	ErrNoNode = errors.New("no Floe node here")
	// ErrIncomplete means an earlier Create did not finish.
	ErrIncomplete = errors.New("an earlier `floe init` did not finish")
	// ErrWrongPassphrase means the passphrase did not unlock the key file.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrEmptyPassphrase means a new passphrase was empty.
	ErrEmptyPassphrase = errors.New("the passphrase is empty")
	// ErrBadKeyFile means the key file is damaged, tampered with, or of an
	// unknown version.
	ErrBadKeyFile = errors.New("the key file is damaged")
	// ErrLocked means another process has the store open.
	ErrLocked = errors.New("the store is open in another process")
	// ErrIntegrity means something read from disk failed a check: the
	// store may be damaged. It is never returned for a wrong passphrase.
	ErrIntegrity = errors.New("the store failed an integrity check")
	// ErrDiskFull means a write was refused or failed for lack of disk
	// space.
	ErrDiskFull = errors.New("the disk is full")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("the store is closed")
	// ErrNewerStore means the store has a newer layout than this Floe
	// reads: a newer Floe wrote it. Nothing was changed.
	ErrNewerStore = errors.New("the store was written by a newer Floe")
)

// humanError is an error with a full message for a person that still
// matches its sentinel with errors.Is. cause, if set, is reachable too.
type humanError struct {
	sentinel error
	msg      string
	cause    error
}

func (e *humanError) Error() string { return e.msg }

func (e *humanError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.sentinel}
}

// human builds an error whose message is the formatted text and which
// matches sentinel.
func human(sentinel error, format string, args ...any) error {
	return &humanError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// humanCause is human with an underlying cause that errors.Is and As also
// reach.
func humanCause(sentinel, cause error, format string, args ...any) error {
	return &humanError{sentinel: sentinel, msg: fmt.Sprintf(format, args...), cause: cause}
}

// IntegrityError is an ErrIntegrity with the place that failed.
type IntegrityError struct {
	Dir    string // the node directory
	Where  string // what failed, e.g. "entry 3fa2…" or "the search index"
	Detail string // what was wrong
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("the store in %s failed an integrity check at %s (%s); it may be damaged: "+
		"move the node directory aside, run `floe init` and sync again from a peer (do not write on a copy restored from an old backup: its device would reuse its own clock values)",
		e.Dir, e.Where, e.Detail)
}

func (e *IntegrityError) Unwrap() error { return ErrIntegrity }

func (s *Store) integrity(where, format string, args ...any) error {
	return &IntegrityError{Dir: s.dir, Where: where, Detail: fmt.Sprintf(format, args...)}
}

// DiskFullError is an ErrDiskFull with the numbers.
type DiskFullError struct {
	Dir  string
	Free uint64 // bytes free, as measured; 0 if the disk reported full
	Need uint64 // bytes Floe wants free before it writes
	// Partial means some of the call's writes were committed before the
	// disk filled; applying the same entries again is safe.
	Partial bool
	// Upgrade, if set, is the layout the store was being upgraded to at
	// open: the upgrade was refused (or, with Partial, stopped partway).
	Upgrade uint
	cause   error
	// refused means the open was refused before it wrote anything.
	refused bool
}

func (e *DiskFullError) Error() string {
	if e.Upgrade != 0 {
		msg := fmt.Sprintf("the disk holding %s has only %d MiB free; upgrading the store to layout %d needs about %d MiB. Free some space and open it again; ",
			e.Dir, e.Free>>20, e.Upgrade, (e.Need+(1<<20)-1)>>20)
		if e.cause != nil {
			msg = fmt.Sprintf("the disk holding %s filled while the store was being upgraded to layout %d (%v). Free some space and open it again; ", e.Dir, e.Upgrade, e.cause)
		}
		if e.Partial {
			return msg + "the upgrade stopped partway, the store is whole, and the next open carries on from there"
		}
		return msg + "the store was not changed, and the Floe you used before still opens it"
	}
	if e.cause != nil {
		return fmt.Sprintf("the disk holding %s is full (%v); Floe could not finish a write. "+
			"Free some space and try again; the store is consistent, and applying the same entries again is safe",
			e.Dir, e.cause)
	}
	msg := fmt.Sprintf("the disk holding %s has only %d MiB free; Floe needs at least %d MiB to write safely. Free some space; ",
		e.Dir, e.Free>>20, (e.Need+(1<<20)-1)>>20)
	if e.Partial {
		return msg + "the entries applied before this point are kept, and applying the same entries again is safe"
	}
	return msg + "nothing was written"
}

func (e *DiskFullError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrDiskFull, e.cause}
	}
	return []error{ErrDiskFull}
}
