package store

import (
	"errors"
	"strings"
	"syscall"
)

// ErrFreeSpaceUnknown is returned by a FreeSpace function that cannot tell.
// The store then writes without the check.
var ErrFreeSpaceUnknown = errors.New("free disk space is unknown on this system")

// checkFree refuses a write when the disk holding dir has less than the
// configured minimum free. name is the directory the message names.
func checkFree(dir, name string, o *Options, partial bool) error {
	free := o.FreeSpace
	if free == nil {
		free = diskFree
	}
	n, err := free(dir)
	if err != nil {
		// Not knowing is no reason to refuse: badger's own errors are
		// still mapped to ErrDiskFull.
		return nil
	}
	if need := o.minFree(); n < need {
		return &DiskFullError{Dir: name, Free: n, Need: need, Partial: partial}
	}
	return nil
}

// isDiskFull reports whether err says the disk is full. Badger flattens the
// errors it wraps into text, so the text is checked as well.
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrDiskFull) || osDiskFull(err) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "no space left on device") ||
		strings.Contains(msg, "not enough space on the disk") ||
		strings.Contains(msg, "disk quota exceeded")
}
