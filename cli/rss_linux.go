//go:build linux

package cli

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// memoryStats reads the resident set size now and at its peak, and the
// part of it now that is anonymous memory (the heap and the like, as
// opposed to pages of memory-mapped files, which the kernel can drop), in
// bytes.
func memoryStats() (rss, peak, anon int64, ok bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		case "RssAnon":
			anon = n << 10
		}
	}
	return rss, peak, anon, rss > 0
}
