//go:build !linux

package cli

// memoryStats is not measured on this system yet.
func memoryStats() (rss, peak, anon int64, ok bool) { return 0, 0, 0, false }
