//go:build linux || darwin || freebsd || dragonfly

package store

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// diskFree is the space available to this (unprivileged) user on the disk
// holding dir.
func diskFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

func osDiskFull(err error) bool {
	return errors.Is(err, syscall.EDQUOT)
}
