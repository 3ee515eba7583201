package syncproto

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// RecordID names a record. It is 128 random bits and is never reused.
type RecordID [16]byte

// NewRecordID returns a fresh random record ID.
func NewRecordID() RecordID {
	var id RecordID
	if _, err := rand.Read(id[:]); err != nil {
		panic("bug: crypto/rand failed: " + err.Error())
	}
	return id
}

// NewRecordIDIn returns a fresh record ID bound to an area of a
// collection: the first 8 bytes are random and the last 8 are a hash of
// the collection, the area and those 8 bytes. Anyone can check the binding
// (RecordInArea), and nobody can make an ID of one area pass as another's
// short of about 2^64 work. Area "" needs no binding: any ID will do.
func NewRecordIDIn(collection, area string) RecordID {
	id := NewRecordID()
	if area != "" {
		h := areaBinding(collection, area, id)
		copy(id[8:], h[:8])
	}
	return id
}

// RecordIDFrom is NewRecordIDIn with the first 8 bytes taken from a hash
// of seed, so the same seed always names the same record: a resource pack
// names each service this way, and every version of the pack updates the
// same record.
func RecordIDFrom(collection, area string, seed []byte) RecordID {
	var id RecordID
	h := sha256.Sum256(append([]byte("floe record seed v1\x00"), seed...))
	copy(id[:8], h[:8])
	if area != "" {
		b := areaBinding(collection, area, id)
		copy(id[8:], b[:8])
	} else {
		copy(id[8:], h[8:16])
	}
	return id
}

// RecordInArea reports whether id may hold entries of area in collection.
func RecordInArea(collection, area string, id RecordID) bool {
	if area == "" {
		return true
	}
	h := areaBinding(collection, area, id)
	return subtle.ConstantTimeCompare(h[:8], id[8:]) == 1
}

func areaBinding(collection, area string, id RecordID) [32]byte {
	b := make([]byte, 0, 64)
	b = append(b, "floe record area v1\x00"...)
	b = append(b, collection...)
	b = append(b, 0)
	b = append(b, area...)
	b = append(b, 0)
	b = append(b, id[:8]...)
	return sha256.Sum256(b)
}

// MaxAreaLen caps an area name, in bytes.
const MaxAreaLen = 64

// ValidateArea checks an area name: "" (the whole network) or one to three
// '/'-separated parts of a-z, 0-9 and '-', such as "kivalliq" or
// "kivalliq/arviat". A record in "kivalliq/arviat" is also in "kivalliq".
func ValidateArea(a string) error {
	if a == "" {
		return nil
	}
	if len(a) > MaxAreaLen {
		return invalid("area is %d bytes (limit %d)", len(a), MaxAreaLen)
	}
	parts := strings.Split(a, "/")
	if len(parts) > 3 {
		return invalid("area %q has more than 3 parts", a)
	}
	for _, p := range parts {
		if p == "" {
			return invalid("area %q has an empty part", a)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return invalid("area %q: only a-z, 0-9, '-' and '/'", a)
			}
		}
	}
	return nil
}

// AreaCovers reports whether a grant for area grant covers a record in
// area rec: "*" covers everything, "" only the network-wide records, and
// "kivalliq" covers "kivalliq" and "kivalliq/arviat".
func AreaCovers(grant, rec string) bool {
	switch {
	case grant == "*":
		return true
	case grant == rec:
		return true
	case grant == "" || rec == "":
		return false
	}
	return strings.HasPrefix(rec, grant+"/")
}

// String is the record ID as 32 lowercase hex digits.
func (r RecordID) String() string { return hex.EncodeToString(r[:]) }

// Short is the first 8 hex digits, for listings.
func (r RecordID) Short() string { return r.String()[:8] }

// IsZero reports whether r is the zero ID, which is never a valid record.
func (r RecordID) IsZero() bool { return r == RecordID{} }

// ParseRecordID parses the 32-hex-digit form of a record ID.
func ParseRecordID(s string) (RecordID, error) {
	var r RecordID
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(r) {
		return r, fmt.Errorf("%q is not a record ID (want 32 hex digits)", s)
	}
	copy(r[:], b)
	return r, nil
}

// DeviceID is a device's ed25519 public key. It names the author of entries.
type DeviceID [ed25519.PublicKeySize]byte

var devEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const devicePrefix = "dev:"

// String is the text form of a device ID: "dev:" and lowercase base32.
func (d DeviceID) String() string {
	return devicePrefix + strings.ToLower(devEncoding.EncodeToString(d[:]))
}

// Short is a short form for listings: "dev:" and the first 8 characters.
func (d DeviceID) Short() string { return d.String()[:len(devicePrefix)+8] }

// Equal compares in constant time.
func (d DeviceID) Equal(o DeviceID) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// PublicKey returns d as an ed25519 public key.
func (d DeviceID) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(d[:]) }

// ParseDeviceID parses the text form made by String.
func ParseDeviceID(s string) (DeviceID, error) {
	var d DeviceID
	rest, ok := strings.CutPrefix(s, devicePrefix)
	if !ok {
		return d, fmt.Errorf("%q is not a device ID (want %q and base32)", s, devicePrefix)
	}
	up := strings.ToUpper(rest)
	b, err := devEncoding.DecodeString(up)
	// Only the canonical spelling is accepted: base32 of 32 bytes has 4
	// unused bits, and the decoder skips newlines.
	if err != nil || len(b) != len(d) || devEncoding.EncodeToString(b) != up {
		return d, fmt.Errorf("%q is not a device ID (bad base32 or length)", s)
	}
	copy(d[:], b)
	return d, nil
}

// EntryHash is the SHA-256 of an entry's canonical, unsigned encoding. It is
// the entry's ID.
type EntryHash [32]byte

// String is the hash as 64 lowercase hex digits.
func (h EntryHash) String() string { return hex.EncodeToString(h[:]) }

// Short is the first 12 hex digits, for listings.
func (h EntryHash) Short() string { return h.String()[:12] }

// ParseEntryHash parses the 64-hex-digit form.
func ParseEntryHash(s string) (EntryHash, error) {
	var h EntryHash
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(h) {
		return h, errors.New("not an entry hash (want 64 hex digits)")
	}
	copy(h[:], b)
	return h, nil
}

// Compare orders hashes bytewise.
func (h EntryHash) Compare(o EntryHash) int { return compareBytes(h[:], o[:]) }

func compareBytes(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// NetworkID names a Floe network: the set of devices that sync with each
// other. A frame, session or bundle from another network is refused.
type NetworkID [16]byte

// String is the network ID as 32 lowercase hex digits.
func (n NetworkID) String() string { return hex.EncodeToString(n[:]) }

// ParseNetworkID parses the hex form of a network ID.
func ParseNetworkID(s string) (NetworkID, error) {
	var n NetworkID
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(n) {
		return n, fmt.Errorf("%q is not a network ID (want 32 hex digits)", s)
	}
	copy(n[:], b)
	return n, nil
}
