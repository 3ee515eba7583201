package fieldkit

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	sp "github.com/floe-north/floe/syncproto"
)

// A sealed field is a sensitive field value (a shelter's location)
// encrypted to an audience, so that nodes outside the audience store and
// relay it without being able to read it. Its layout, all fixed size:
//
//	magic "FSF1" (4 bytes)
//	epoch, big-endian uint32 (4)
//	ephemeral X25519 public key (32)
//	XChaCha20-Poly1305 nonce (24)
//	ciphertext of the padded plaintext (SealedPlain + 16)
//
// The key is HKDF-SHA256 of the X25519 shared secret between the
// ephemeral key and the audience epoch's public key, so anyone may seal to
// the audience and only holders of the epoch's private key may open. The
// padded plaintext is a 2-byte length, the value, and zeros up to
// SealedPlain bytes: every sealed value is the same size. The additional
// data binds the collection, record, field, audience and epoch, so a
// ciphertext copied to another record or field, or relabelled with
// another epoch, does not open.
const (
	// SealedPlain is the padded plaintext size; a value may use all but
	// two bytes of it.
	SealedPlain = 1024
	// MaxSealedValue caps a sealed field's plaintext, in bytes.
	MaxSealedValue = SealedPlain - 2
	// SealedLen is the size of every sealed field value.
	SealedLen   = 4 + 4 + 32 + chacha20poly1305.NonceSizeX + SealedPlain + chacha20poly1305.Overhead
	sealedMagic = "FSF1"
	fieldInfo   = "floe/sealed-field/v1"
	wrapInfo    = "floe/key-wrap/v1"
)

// Errors that callers branch on.
var (
	// ErrNotSealed means bytes are not a sealed field value.
	ErrNotSealed = errors.New("not a sealed field value")
	// ErrSealOpen means a sealed value or wrapped key did not open with the
	// key at hand: a wrong key, another record or field, or damage.
	ErrSealOpen = errors.New("the sealed value does not open with this key")
)

// FieldAD names what a sealed value belongs to.
type FieldAD struct {
	Collection string
	Record     sp.RecordID
	Field      string
	Audience   string
	Epoch      uint32
}

func (ad FieldAD) bytes() []byte {
	b := []byte(fieldInfo)
	for _, s := range []string{ad.Collection, ad.Field, ad.Audience} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = append(b, ad.Record[:]...)
	return binary.BigEndian.AppendUint32(b, ad.Epoch)
}

// NewAudienceKey makes a fresh X25519 key pair for one epoch of an
// audience.
func NewAudienceKey() (*ecdh.PrivateKey, error) {
	return ecdh.X25519().GenerateKey(rand.Reader)
}

// SealField seals plain to the audience epoch whose public key is pub.
func SealField(pub []byte, ad FieldAD, plain []byte) ([]byte, error) {
	if len(plain) > MaxSealedValue {
		return nil, fmt.Errorf("a sealed value is at most %d bytes; this one is %d", MaxSealedValue, len(plain))
	}
	if _, err := ecdh.X25519().NewPublicKey(pub); err != nil {
		return nil, fmt.Errorf("the audience key is not an X25519 key: %w", err)
	}
	ephPub, aead, err := toAEAD(pub, fieldInfo)
	if err != nil {
		return nil, err
	}
	padded := make([]byte, SealedPlain)
	binary.BigEndian.PutUint16(padded, uint16(len(plain)))
	copy(padded[2:], plain)
	defer clear(padded)
	out := make([]byte, 0, SealedLen)
	out = append(out, sealedMagic...)
	out = binary.BigEndian.AppendUint32(out, ad.Epoch)
	out = append(out, ephPub...)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, padded, ad.bytes()), nil
}

// SealedEpoch reads the epoch of a sealed value, checking its size and
// magic: what a node outside the audience can check.
func SealedEpoch(b []byte) (uint32, error) {
	if len(b) != SealedLen || string(b[:4]) != sealedMagic {
		return 0, ErrNotSealed
	}
	return binary.BigEndian.Uint32(b[4:8]), nil
}

// OpenField opens a sealed value with the private key of its epoch. ad's
// Epoch must be the value's own (SealedEpoch).
func OpenField(priv *ecdh.PrivateKey, ad FieldAD, b []byte) ([]byte, error) {
	epoch, err := SealedEpoch(b)
	if err != nil {
		return nil, err
	}
	if epoch != ad.Epoch {
		return nil, fmt.Errorf("%w: sealed under epoch %d, not %d", ErrSealOpen, epoch, ad.Epoch)
	}
	aead, err := fromAEAD(priv, b[8:40], fieldInfo)
	if err != nil {
		return nil, err
	}
	nonce := b[40 : 40+chacha20poly1305.NonceSizeX]
	padded, err := aead.Open(nil, nonce, b[40+len(nonce):], ad.bytes())
	if err != nil {
		return nil, ErrSealOpen
	}
	n := int(binary.BigEndian.Uint16(padded))
	if n > MaxSealedValue {
		clear(padded)
		return nil, ErrSealOpen
	}
	out := append([]byte(nil), padded[2:2+n]...)
	clear(padded)
	return out, nil
}

// WrapKey encrypts a 32-byte secret (an audience epoch's private key, a
// network key) to one device, bound to label (which key of which epoch),
// so a wrap copied under another label does not open. Layout: ephemeral
// X25519 public key (32), nonce (24), ciphertext (32 + 16).
func WrapKey(to sp.DeviceID, label string, secret []byte) ([]byte, error) {
	if len(secret) != 32 {
		return nil, errors.New("bug: a wrapped key is 32 bytes")
	}
	pub, err := X25519Public(to)
	if err != nil {
		return nil, err
	}
	ephPub, aead, err := toAEAD(pub, wrapInfo)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), ephPub...)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, secret, []byte(label)), nil
}

// WrappedLen is the size of a wrapped key.
const WrappedLen = 32 + chacha20poly1305.NonceSizeX + 32 + chacha20poly1305.Overhead

// UnwrapKey opens what WrapKey sealed to this device's key.
func UnwrapKey(key ed25519.PrivateKey, label string, b []byte) ([]byte, error) {
	if len(b) != WrappedLen {
		return nil, ErrSealOpen
	}
	priv, err := x25519Private(key)
	if err != nil {
		return nil, err
	}
	aead, err := fromAEAD(priv, b[:32], wrapInfo)
	if err != nil {
		return nil, err
	}
	out, err := aead.Open(nil, b[32:56], b[56:], []byte(label))
	if err != nil {
		return nil, ErrSealOpen
	}
	return out, nil
}
