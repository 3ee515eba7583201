package syncproto

import (
	"crypto/sha256"
	"encoding/binary"
)

// Digest summarises a set of entries so that two stores holding the same
// merged state have the same StateHash, whatever order they got there in.
// It is the count and the sum, modulo 2^256, of the entry hashes, so it is
// updated in O(1) as entries come and go.
type Digest struct {
	Count uint64
	Sum   [32]byte
}

// Add puts an entry hash into the digest.
func (d *Digest) Add(h EntryHash) {
	d.Count++
	var carry uint16
	for i := 31; i >= 0; i-- {
		carry += uint16(d.Sum[i]) + uint16(h[i])
		d.Sum[i] = byte(carry)
		carry >>= 8
	}
}

// Remove takes an entry hash out of the digest. The hash must be in it.
func (d *Digest) Remove(h EntryHash) {
	d.Count--
	var borrow int16
	for i := 31; i >= 0; i-- {
		v := int16(d.Sum[i]) - int16(h[i]) - borrow
		borrow = 0
		if v < 0 {
			v += 256
			borrow = 1
		}
		d.Sum[i] = byte(v)
	}
}

// StateHash is the hash that two nodes compare to see whether they agree.
func (d Digest) StateHash() [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], d.Count)
	h := sha256.New()
	h.Write([]byte("floe/state/v1\x00"))
	h.Write(b[:])
	h.Write(d.Sum[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// SyncKey orders entries for reconciliation: the timestamp, big-endian,
// then the hash.
type SyncKey [8 + 32]byte

// MakeSyncKey builds the sync-order key of an entry.
func MakeSyncKey(t HLC, h EntryHash) SyncKey {
	var k SyncKey
	binary.BigEndian.PutUint64(k[:8], uint64(t))
	copy(k[8:], h[:])
	return k
}

// Time is the timestamp part of the key.
func (k SyncKey) Time() HLC { return HLC(binary.BigEndian.Uint64(k[:8])) }

// Hash is the hash part of the key.
func (k SyncKey) Hash() (h EntryHash) { copy(h[:], k[8:]); return }
