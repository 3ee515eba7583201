package syncproto

import "testing"

// The short ID is SipHash-2-4; check it against the vectors of the SipHash
// paper (key 00..0f, message 00..len-1).
func TestSipHash24Vectors(t *testing.T) {
	var s Salt
	for i := range s {
		s[i] = byte(i)
	}
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, c := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
	} {
		if got := sipHash24(&s, msg[:c.n]); got != c.want {
			t.Errorf("len %d: got %#x, want %#x", c.n, got, c.want)
		}
	}
}
