package linkemu

import (
	"io"
	"math/rand/v2"
)

// CutWriter returns a writer that passes the first n bytes to w and then
// fails every write with [ErrCut], like a bundle file cut short when the
// stick is pulled. The write that crosses the limit writes the bytes up to
// it and reports how many. An error from w is returned as it is.
func CutWriter(w io.Writer, n int64) io.Writer {
	return &cutWriter{w: w, left: max(n, 0)}
}

type cutWriter struct {
	w    io.Writer
	left int64
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if int64(len(b)) <= c.left {
		n, err := c.w.Write(b)
		c.left -= int64(n)
		return n, err
	}
	n := 0
	if c.left > 0 {
		var err error
		n, err = c.w.Write(b[:c.left])
		c.left -= int64(n)
		if err != nil {
			return n, err
		}
	}
	return n, ErrCut
}

// Damage returns a copy of b with bytes at flips distinct positions changed
// to a different value, chosen by seed: the same arguments always give the
// same result. If flips is more than len(b), every byte is changed; b
// itself is never modified.
func Damage(b []byte, seed int64, flips int) []byte {
	out := append([]byte(nil), b...)
	flips = min(max(flips, 0), len(out))
	rng := rand.New(rand.NewPCG(uint64(seed), 0x64616d616765))
	var at []int
	if 2*flips > len(out) {
		at = rng.Perm(len(out))[:flips]
	} else {
		seen := make(map[int]bool, flips)
		for len(at) < flips {
			i := rng.IntN(len(out))
			if !seen[i] {
				seen[i] = true
				at = append(at, i)
			}
		}
	}
	for _, i := range at {
		out[i] ^= byte(1 + rng.IntN(255)) // never 0, so the byte changes
	}
	return out
}
