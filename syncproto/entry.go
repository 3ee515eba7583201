package syncproto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Kind says how an entry merges. The numbers are on the wire and on disk:
// never reorder or reuse them.
type Kind uint8

const (
	// KindValue sets a field. Per field, entries form a multi-value register.
	KindValue Kind = 1
	// KindTally holds its author's running count for a tally field. The
	// field's total is the sum over authors.
	KindTally Kind = 2
	// KindTombstone deletes a whole record, for good.
	KindTombstone Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindTally:
		return "tally"
	case KindTombstone:
		return "tombstone"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// TallyPrefix starts every tally field path, and no other.
const TallyPrefix = "tally/"

// Dot says "this writer had seen the entries of Author on this field up to
// and including Time".
type Dot struct {
	Author DeviceID `cbor:"1,keyasint"`
	Time   HLC      `cbor:"2,keyasint"`
}

// EntryFormat is the version of the entry format (docs/entry-format.md).
// Entries carry it in the domain of their signature ("floe/entry/v1");
// an entry with fields this floe does not know is refused by strict
// decoding, never misread.
const EntryFormat = 1

// Entry is the unit of storage and replication. Its canonical encoding
// without the signature is what is signed and hashed.
//
// The CBOR keys are part of the format: never renumber them.
type Entry struct {
	Collection string          `cbor:"1,keyasint"`
	Record     RecordID        `cbor:"2,keyasint"`
	Field      string          `cbor:"3,keyasint,omitempty"`
	Time       HLC             `cbor:"4,keyasint"`
	Author     DeviceID        `cbor:"5,keyasint"`
	Kind       Kind            `cbor:"6,keyasint"`
	Value      cbor.RawMessage `cbor:"7,keyasint,omitempty"`
	Context    []Dot           `cbor:"8,keyasint,omitempty"`
	Sig        []byte          `cbor:"9,keyasint,omitempty"`
	// Area is the community or region the record belongs to ("" means
	// the whole network). It is fixed when the record is made and bound
	// to the record ID (see RecordInArea), so authorization can check
	// every entry on its own.
	Area string `cbor:"10,keyasint,omitempty"`
}

// Errors that callers branch on.
var (
	// ErrInvalid means an entry breaks a structural rule.
	ErrInvalid = errors.New("invalid entry")
	// ErrBadSignature means an entry's signature does not verify.
	ErrBadSignature = errors.New("entry signature does not verify")
	// ErrTooLong means something is over one of the limits in limits.go.
	ErrTooLong = errors.New("too long")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// SigBytes is the canonical encoding of e without its signature: the bytes
// that are signed and hashed.
func (e *Entry) SigBytes() []byte {
	c := *e
	c.Sig = nil
	b, err := encMode.Marshal(&c)
	if err != nil {
		panic("bug: encoding entry: " + err.Error())
	}
	return b
}

// Hash is the entry's ID: the SHA-256 of SigBytes.
func (e *Entry) Hash() EntryHash { return sha256.Sum256(e.SigBytes()) }

// sigDomain separates entry signatures from any other use of a device key.
const sigDomain = "floe/entry/v1\x00"

func signedMessage(body []byte) []byte {
	return append([]byte(sigDomain), body...)
}

// Sign sets the author and signs the entry with key.
func (e *Entry) Sign(key ed25519.PrivateKey) {
	copy(e.Author[:], key.Public().(ed25519.PublicKey))
	e.Sig = nil
	e.Sig = ed25519.Sign(key, signedMessage(e.SigBytes()))
}

// Verify checks the entry's structure and its author's signature. It says
// nothing about whether the author was allowed to write it.
func (e *Entry) Verify() error {
	if err := e.Validate(); err != nil {
		return err
	}
	if len(e.Sig) != ed25519.SignatureSize || !ed25519.Verify(e.Author.PublicKey(), signedMessage(e.SigBytes()), e.Sig) {
		return fmt.Errorf("%w (author %s, record %s)", ErrBadSignature, e.Author.Short(), e.Record.Short())
	}
	return nil
}

// Encode is the canonical encoding of the whole entry, signature included.
func (e *Entry) Encode() []byte {
	b, err := encMode.Marshal(e)
	if err != nil {
		panic("bug: encoding entry: " + err.Error())
	}
	return b
}

// DecodeEntry decodes and validates an entry from outside. It does not check
// the signature: call Verify for that.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxEntryLen {
		return e, fmt.Errorf("%w: entry is %d bytes (limit %d)", ErrTooLong, len(b), MaxEntryLen)
	}
	if err := unmarshalStrict(entryDecMode, b, &e); err != nil {
		return Entry{}, fmt.Errorf("decoding entry: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// DecodeStored decodes an entry that a store wrote itself and has just
// authenticated (by a MAC over the bytes). It skips the canonical-form,
// validation and hash checks that DecodeEntry makes, which cost more than
// the rest of a read. Never use it on bytes from outside.
func DecodeStored(b []byte) (Entry, error) {
	var e Entry
	if err := entryDecMode.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: decoding stored entry: %v", ErrMalformed, err)
	}
	return e, nil
}

// Validate checks the structural rules of an entry.
func (e *Entry) Validate() error {
	if err := ValidateCollection(e.Collection); err != nil {
		return err
	}
	if e.Record.IsZero() {
		return invalid("zero record ID")
	}
	if e.Time == 0 {
		return invalid("zero timestamp")
	}
	if err := ValidateArea(e.Area); err != nil {
		return err
	}
	if !RecordInArea(e.Collection, e.Area, e.Record) {
		return invalid("record %s was not made in area %q", e.Record.Short(), e.Area)
	}
	if len(e.Sig) != 0 && len(e.Sig) != ed25519.SignatureSize {
		return invalid("signature is %d bytes", len(e.Sig))
	}
	switch e.Kind {
	case KindValue, KindTally:
		if err := ValidateField(e.Field); err != nil {
			return err
		}
		if (e.Kind == KindTally) != strings.HasPrefix(e.Field, TallyPrefix) {
			return invalid("field %q: only tally entries may use %q paths, and they must", e.Field, TallyPrefix)
		}
		if len(e.Value) == 0 {
			return invalid("%s entry without a value", e.Kind)
		}
		if err := CheckValue(e.Value); err != nil {
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
		if e.Kind == KindTally {
			if len(e.Context) != 0 {
				return invalid("tally entry with a causal context")
			}
			if _, ok := TallyCount(e); !ok {
				return invalid("tally value is not an unsigned integer")
			}
		}
	case KindTombstone:
		if e.Field != "" || len(e.Value) != 0 || len(e.Context) != 0 {
			return invalid("tombstone with a field, value or context")
		}
	default:
		return invalid("unknown kind %d", e.Kind)
	}
	if len(e.Context) > MaxContextDots {
		return fmt.Errorf("%w: causal context names %d authors (limit %d)", ErrTooLong, len(e.Context), MaxContextDots)
	}
	for i, d := range e.Context {
		if i > 0 && compareBytes(e.Context[i-1].Author[:], d.Author[:]) >= 0 {
			return invalid("causal context is not sorted by author")
		}
		if d.Time >= e.Time {
			return invalid("causal context names a time at or after the entry's own")
		}
		if d.Time == 0 {
			return invalid("causal context with a zero time")
		}
	}
	return nil
}

// TallyCount reads a tally entry's count.
func TallyCount(e *Entry) (uint64, bool) {
	v, err := DecodeValue(e.Value)
	if err != nil {
		return 0, false
	}
	n, ok := v.(uint64)
	return n, ok
}

// ValidateCollection checks a collection name: 1 to 32 bytes of a-z, 0-9, '-'.
func ValidateCollection(c string) error {
	if c == "" || len(c) > MaxCollectionLen {
		return invalid("collection name must be 1 to %d bytes", MaxCollectionLen)
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return invalid("collection %q: only a-z, 0-9 and '-'", c)
		}
	}
	return nil
}

// ValidateField checks a field path: '/'-separated, non-empty parts of
// printable UTF-8, at most MaxFieldLen bytes and MaxFieldDepth parts.
func ValidateField(f string) error {
	if f == "" {
		return invalid("empty field path")
	}
	if len(f) > MaxFieldLen {
		return fmt.Errorf("%w: field path is %d bytes (limit %d)", ErrTooLong, len(f), MaxFieldLen)
	}
	if !utf8.ValidString(f) {
		return invalid("field path is not UTF-8")
	}
	parts := strings.Split(f, "/")
	if len(parts) > MaxFieldDepth {
		return invalid("field path %q is deeper than %d parts", f, MaxFieldDepth)
	}
	if slices.Contains(parts, "") {
		return invalid("field path %q has an empty part", f)
	}
	for _, r := range f {
		if !unicode.IsPrint(r) || r == ' ' {
			return invalid("field path %q holds a space or control character", f)
		}
	}
	return nil
}
