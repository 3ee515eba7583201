package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// bytesFlag is a byte count given as a plain number or with an SI unit
// (kB, MB, GB: powers of 1000, as metered plans count); "0" is zero. It
// remembers whether it was given.
type bytesFlag struct {
	n   int64
	set bool
}

func (b *bytesFlag) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatInt(b.n, 10)
}

func (b *bytesFlag) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	b.n, b.set = n, true
	return nil
}

// ptr is the value when given, else nil.
func (b *bytesFlag) ptr() *int64 {
	if !b.set {
		return nil
	}
	v := b.n
	return &v
}

func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("%q is not a size: give bytes, or a number with kB, MB or GB (50MB is 50,000,000 bytes)", s)
	}
	return int64(f * float64(mult)), nil
}
