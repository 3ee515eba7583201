package syncproto

import (
	"encoding/binary"
	"math/bits"
)

// Salt keys the short IDs and fingerprints of one reconciliation, so that
// nobody can prepare entries whose short IDs or fingerprints collide: the
// salt is chosen at random when the session starts.
type Salt [16]byte

// shortID is the keyed 64-bit short ID of an entry: SipHash-2-4 of its sync
// key under the salt.
func shortID(s *Salt, k *SyncKey) uint64 {
	return sipHash24(s, k[:])
}

// sipHash24 is SipHash-2-4 of msg under the 16-byte key.
func sipHash24(s *Salt, k []byte) uint64 {
	k0 := binary.LittleEndian.Uint64(s[:8])
	k1 := binary.LittleEndian.Uint64(s[8:])
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	i := 0
	for ; i+8 <= len(k); i += 8 {
		m := binary.LittleEndian.Uint64(k[i:])
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	b := uint64(len(k)) << 56
	for j := len(k) - 1; j >= i; j-- {
		b |= uint64(k[j]) << (8 * uint(j-i))
	}
	v3 ^= b
	round()
	round()
	v0 ^= b
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
