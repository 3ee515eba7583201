package cli

import "testing"

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1500": 1500, "50MB": 50_000_000, "50 mb": 50_000_000, "1.5GB": 1_500_000_000, "64kB": 64_000, "10b": 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-5", "5TB", "1e20"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("%q was taken as a size", in)
		}
	}
}
