//go:build !(linux || darwin || freebsd || dragonfly || windows)

package store

// diskFree cannot tell on this system.
func diskFree(string) (uint64, error) { return 0, ErrFreeSpaceUnknown }

func osDiskFull(error) bool { return false }
