package fieldkit

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/chacha20poly1305"

	sp "github.com/floe-north/floe/syncproto"
)

// A sealed bundle is a bundle encrypted to its recipient device, so that
// whoever carries the file can read nothing in it, not even what it is:
//
//	ephemeral X25519 public key (32 bytes)
//	chunk 0, chunk 1, ...: each SealChunk bytes of the plain bundle (the
//	last one shorter), sealed with XChaCha20-Poly1305 (16 bytes more)
//
// The key is HKDF-SHA256 of the X25519 shared secret between the ephemeral
// key and the recipient's key, salted with both public keys. A recipient's
// X25519 key is its ed25519 device key in Montgomery form, so a bundle can
// be sealed to any device whose ID is known. Chunk i's nonce is i, with a
// flag for the last chunk (the STREAM construction), so chunks cannot be
// reordered, and a file cut at a chunk boundary is seen as cut. A damaged
// chunk fails to open and is skipped; the plain bundle reader then skips
// the frames it held and applies the rest.
const (
	SealChunk    = 64 << 10
	sealOverhead = chacha20poly1305.Overhead
	sealInfo     = "floe/bundle-seal/v1"
)

// ErrNotForThisDevice means a sealed bundle does not open with this
// device's key: it was made for another device, or it is not a bundle.
var ErrNotForThisDevice = errors.New("this file does not open with this device's key")

// p25519 is the field prime 2^255 - 19.
var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// X25519Public converts an ed25519 public key (a device ID) to the X25519
// public key of the same secret: u = (1 + y) / (1 - y) mod p.
func X25519Public(d sp.DeviceID) ([]byte, error) {
	var yb [32]byte
	copy(yb[:], d[:])
	yb[31] &= 0x7f
	for i := 0; i < 16; i++ {
		yb[i], yb[31-i] = yb[31-i], yb[i]
	}
	y := new(big.Int).SetBytes(yb[:])
	if y.Cmp(p25519) >= 0 {
		return nil, errors.New("not a device key")
	}
	one := big.NewInt(1)
	den := new(big.Int).Sub(one, y)
	den.Mod(den, p25519)
	if den.Sign() == 0 {
		return nil, errors.New("not a device key")
	}
	u := new(big.Int).Add(one, y)
	u.Mul(u, new(big.Int).ModInverse(den, p25519))
	u.Mod(u, p25519)
	out := make([]byte, 32)
	u.FillBytes(out)
	for i := 0; i < 16; i++ {
		out[i], out[31-i] = out[31-i], out[i]
	}
	return out, nil
}

// x25519Private is the X25519 private key of an ed25519 key: the clamped
// first half of SHA-512 of its seed, as ed25519 itself uses.
func x25519Private(key ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(key.Seed())
	defer clear(h[:])
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// toAEAD makes a fresh ephemeral X25519 key, agrees a secret with the
// recipient's public key rcpt, and returns the ephemeral public key and an
// XChaCha20-Poly1305 keyed by HKDF-SHA256 of the secret, salted with both
// public keys, for info. Bundles, sealed fields and key wraps all use it,
// each with its own info.
func toAEAD(rcpt []byte, info string) (ephPub []byte, aead cipher.AEAD, err error) {
	rpub, err := ecdh.X25519().NewPublicKey(rcpt)
	if err != nil {
		return nil, nil, err
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	shared, err := eph.ECDH(rpub)
	if err != nil {
		return nil, nil, err
	}
	defer clear(shared)
	ephPub = eph.PublicKey().Bytes()
	aead, err = hkdfAEAD(shared, ephPub, rcpt, info)
	return ephPub, aead, err
}

// fromAEAD is the recipient's side of toAEAD. A key that does not make a
// shared secret (a low-order point) gives ErrSealOpen.
func fromAEAD(priv *ecdh.PrivateKey, ephPub []byte, info string) (cipher.AEAD, error) {
	epub, err := ecdh.X25519().NewPublicKey(ephPub)
	if err != nil {
		return nil, ErrSealOpen
	}
	shared, err := priv.ECDH(epub)
	if err != nil {
		return nil, ErrSealOpen
	}
	defer clear(shared)
	return hkdfAEAD(shared, ephPub, priv.PublicKey().Bytes(), info)
}

func hkdfAEAD(shared, ephPub, rcptPub []byte, info string) (cipher.AEAD, error) {
	salt := append(append([]byte{}, ephPub...), rcptPub...)
	k, err := hkdf.Key(sha256.New, shared, salt, info, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return chacha20poly1305.NewX(k)
}

func chunkNonce(i uint64, last bool) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(n[:8], i)
	if last {
		n[8] = 1
	}
	return n
}

// SealWriter encrypts a plain bundle to one recipient as it is written.
type SealWriter struct {
	w    io.Writer
	aead cipher.AEAD
	buf  []byte
	i    uint64
	err  error
}

// NewSealWriter starts a sealed bundle for the device to on w.
func NewSealWriter(w io.Writer, to sp.DeviceID) (*SealWriter, error) {
	rcpt, err := X25519Public(to)
	if err != nil {
		return nil, fmt.Errorf("sealing to %s: %w", to.Short(), err)
	}
	ephPub, aead, err := toAEAD(rcpt, sealInfo)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(ephPub); err != nil {
		return nil, err
	}
	return &SealWriter{w: w, aead: aead, buf: make([]byte, 0, SealChunk)}, nil
}

// Write takes plain bundle bytes.
func (s *SealWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	for len(p) > 0 {
		if len(s.buf) == SealChunk {
			if s.err = s.flush(false); s.err != nil {
				return n - len(p), s.err
			}
		}
		k := min(SealChunk-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (s *SealWriter) flush(last bool) error {
	out := s.aead.Seal(nil, chunkNonce(s.i, last), s.buf, nil)
	s.i++
	s.buf = s.buf[:0]
	_, err := s.w.Write(out)
	return err
}

// Close seals the last chunk. It does not close the underlying writer.
func (s *SealWriter) Close() error {
	if s.err != nil {
		return s.err
	}
	s.err = s.flush(true)
	if s.err == nil {
		s.err = errors.New("the sealed bundle is closed")
		return nil
	}
	return s.err
}

// SealReport says what opening a sealed bundle found.
type SealReport struct {
	Chunks, Damaged int
	// Cut is true when the last chunk never arrived.
	Cut bool
}

// OpenSealed decrypts a sealed bundle from r with this device's key and
// returns a reader of the plain bundle: intact chunks in order, damaged
// ones left out (the bundle reader skips what they held). The report is
// complete once the plain reader hits its end. A file whose first chunk
// does not open gives ErrNotForThisDevice.
func OpenSealed(r io.Reader, key ed25519.PrivateKey) (io.Reader, *SealReport, error) {
	priv, err := x25519Private(key)
	if err != nil {
		return nil, nil, err
	}
	var eph [32]byte
	if _, err := io.ReadFull(r, eph[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: the file is too short", ErrNotForThisDevice)
	}
	aead, err := fromAEAD(priv, eph[:], sealInfo)
	if errors.Is(err, ErrSealOpen) {
		return nil, nil, ErrNotForThisDevice
	}
	if err != nil {
		return nil, nil, err
	}
	or := &openReader{r: r, aead: aead, rep: &SealReport{}, buf: make([]byte, SealChunk+sealOverhead)}
	// The first chunk decides whether the file is for this device.
	if err := or.next(); err != nil {
		return nil, nil, err
	}
	if or.rep.Chunks == 0 {
		return nil, nil, fmt.Errorf("%w: it was made for another device, or it is not a Floe bundle", ErrNotForThisDevice)
	}
	return or, or.rep, nil
}

type openReader struct {
	r    io.Reader
	aead cipher.AEAD
	rep  *SealReport
	buf  []byte
	out  []byte
	i    uint64
	done bool
}

// next reads and opens the next chunk into out.
func (o *openReader) next() error {
	n, err := io.ReadFull(o.r, o.buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		// No last chunk arrived: the file was cut at a chunk boundary.
		o.done, o.rep.Cut = true, true
		return nil
	}
	c := o.buf[:n]
	if n == len(o.buf) {
		if p, err := o.aead.Open(o.out[:0], chunkNonce(o.i, false), c, nil); err == nil {
			o.out, o.i = p, o.i+1
			o.rep.Chunks++
			return nil
		}
	}
	// A short chunk must be the last; a full one may be too.
	if p, err := o.aead.Open(o.out[:0], chunkNonce(o.i, true), c, nil); err == nil {
		o.out, o.done = p, true
		o.rep.Chunks++
		return nil
	}
	o.i++
	o.out = o.out[:0]
	if n < len(o.buf) {
		o.done, o.rep.Cut = true, true // a damaged or cut last chunk
	}
	o.rep.Damaged++
	return nil
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.out) == 0 {
		if o.done {
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, o.out)
	o.out = o.out[n:]
	return n, nil
}
