package fieldkit

// Resource packs: a trainer's signed, versioned set of directory entries,
// installed with no network. The layout is in docs/pack-format.md.

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// PackFormat is the pack format this floe writes and reads. A pack
// carries it in its header; a pack of a newer format, or with header
// fields this floe does not know, is refused with "upgrade floe".
const PackFormat = 1

const (
	packMagic     = "floe-pack"
	packSigDomain = "floe/pack/v1\x00"
	// MaxPackName caps a pack's name.
	MaxPackName = 64
	// MaxPackEntries caps the entries of one pack.
	MaxPackEntries = 4 << 20
)

// Frame kinds of a pack.
const (
	packKindHeader  = 1
	packKindEntries = 2
	packKindTrailer = 3
	packKindChunks  = 4
)

// PackHeader says what a pack is.
type PackHeader struct {
	Magic   string       `cbor:"1,keyasint"`
	Format  uint64       `cbor:"2,keyasint"`
	Network sp.NetworkID `cbor:"3,keyasint"`
	// Series names the pack across its versions (16 random bytes made by
	// the first build); Name is what people call it.
	Series [16]byte `cbor:"4,keyasint"`
	Name   string   `cbor:"5,keyasint"`
	// Version counts up from 1. A delta pack carries only what changed
	// since Base; a full pack has Base 0.
	Version uint64 `cbor:"6,keyasint"`
	Base    uint64 `cbor:"7,keyasint,omitempty"`
	// Created is the build time (Unix milliseconds); Signer the device
	// whose key signs the pack.
	Created int64       `cbor:"8,keyasint"`
	Signer  sp.DeviceID `cbor:"9,keyasint"`
	// Records counts the services in this version (a delta too), for
	// people.
	Records uint64 `cbor:"10,keyasint,omitempty"`
}

type packFrame struct {
	Kind    uint64      `cbor:"1,keyasint"`
	Header  *PackHeader `cbor:"2,keyasint,omitempty"`
	Entries [][]byte    `cbor:"3,keyasint,omitempty"`
	Sig     []byte      `cbor:"4,keyasint,omitempty"`
	// Chunks are attachment chunks (one to a frame: a chunk nearly fills
	// one), named by their SHA-256 wherever they are used.
	Chunks [][]byte `cbor:"5,keyasint,omitempty"`
}

// ErrBadPack means a pack file is damaged, altered, cut short or not a
// pack. Nothing of it may be applied.
var ErrBadPack = errors.New("not an intact Floe pack")

// PackWriter writes one pack: the header, entries frames, and on Close the
// trailer, whose signature covers every byte before it.
type PackWriter struct {
	w       io.Writer
	key     ed25519.PrivateKey
	hash    hash.Hash
	pending [][]byte
	size    int
	entries int
	chunks  int
	bytes   int64
	err     error
}

// NewPackWriter starts a pack on w, signed with key (the signer's device
// key, whose ID is h.Signer).
func NewPackWriter(w io.Writer, h PackHeader, key ed25519.PrivateKey) (*PackWriter, error) {
	h.Magic, h.Format = packMagic, PackFormat
	if err := checkPackHeader(&h); err != nil {
		return nil, err
	}
	if !ed25519.PublicKey(h.Signer[:]).Equal(key.Public()) {
		return nil, errors.New("bug: the pack's signer is not the key that signs it")
	}
	p := &PackWriter{w: w, key: key, hash: sha256.New()}
	return p, p.frame(packFrame{Kind: packKindHeader, Header: &h})
}

func (p *PackWriter) frame(f packFrame) error {
	if p.err != nil {
		return p.err
	}
	b, err := sp.Marshal(f)
	if err != nil {
		p.err = err
		return err
	}
	fr := sp.AppendFrame(nil, b)
	if f.Kind != packKindTrailer {
		p.hash.Write(fr)
	}
	n, err := p.w.Write(fr)
	p.bytes += int64(n)
	if err != nil {
		p.err = fmt.Errorf("writing the pack: %w", err)
	}
	return p.err
}

// Entry adds one encoded entry.
func (p *PackWriter) Entry(enc []byte) error {
	if p.entries >= MaxPackEntries {
		return fmt.Errorf("a pack holds at most %d entries", MaxPackEntries)
	}
	if p.size+len(enc)+16 > sp.MaxFrameLen-64 {
		if err := p.flush(); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, append([]byte(nil), enc...))
	p.size += len(enc) + 16
	p.entries++
	return nil
}

func (p *PackWriter) flush() error {
	if len(p.pending) == 0 {
		return nil
	}
	err := p.frame(packFrame{Kind: packKindEntries, Entries: p.pending})
	p.pending, p.size = nil, 0
	return err
}

// Chunk adds one attachment chunk (at most MaxPackChunk bytes).
func (p *PackWriter) Chunk(data []byte) error {
	if len(data) == 0 || len(data) > MaxPackChunk {
		return fmt.Errorf("bug: a pack chunk is 1 to %d bytes", MaxPackChunk)
	}
	if err := p.flush(); err != nil {
		return err
	}
	p.chunks++
	return p.frame(packFrame{Kind: packKindChunks, Chunks: [][]byte{data}})
}

// MaxPackChunk caps a chunk in a pack (the store's chunk size).
const MaxPackChunk = 63 << 10

// Close writes the signed trailer.
func (p *PackWriter) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	sig := ed25519.Sign(p.key, append([]byte(packSigDomain), p.hash.Sum(nil)...))
	return p.frame(packFrame{Kind: packKindTrailer, Sig: sig})
}

// Stats says what was written.
func (p *PackWriter) Stats() (entries int, bytes int64) { return p.entries, p.bytes }

func checkPackHeader(h *PackHeader) error {
	switch {
	case h.Magic != packMagic:
		return fmt.Errorf("%w: it is not a pack", ErrBadPack)
	case h.Format != PackFormat:
		return fmt.Errorf("%w: it is pack format %d, and this floe reads format %d; upgrade floe", ErrBadPack, h.Format, PackFormat)
	case h.Version == 0 || h.Base >= h.Version:
		return fmt.Errorf("%w: version %d on base %d", ErrBadPack, h.Version, h.Base)
	case h.Name == "" || len(h.Name) > MaxPackName || !utf8.ValidString(h.Name) || strings.ContainsAny(h.Name, "\r\n\x00"):
		return fmt.Errorf("%w: a pack's name is one line of 1 to %d bytes", ErrBadPack, MaxPackName)
	case h.Series == [16]byte{}:
		return fmt.Errorf("%w: no series", ErrBadPack)
	}
	return nil
}

// probeNewerPack looks at a first frame that strict decoding refused: a
// pack header with fields this floe does not know comes from a newer
// floe, and the person is told to upgrade, not that the file is damaged.
func probeNewerPack(payload []byte) error {
	var f struct {
		Kind   uint64 `cbor:"1,keyasint"`
		Header *struct {
			Magic  string `cbor:"1,keyasint"`
			Format uint64 `cbor:"2,keyasint"`
		} `cbor:"2,keyasint"`
	}
	if sp.UnmarshalProbe(payload, &f) != nil || f.Kind != packKindHeader || f.Header == nil || f.Header.Magic != packMagic {
		return nil
	}
	if f.Header.Format > PackFormat {
		return fmt.Errorf("%w: it is pack format %d, and this floe reads format %d; upgrade floe", ErrBadPack, f.Header.Format, PackFormat)
	}
	return fmt.Errorf("%w: its header has fields this floe does not know: a newer floe made it; upgrade floe", ErrBadPack)
}

// ReadPack reads a whole pack and checks it: every frame intact, in
// order, the header first and the trailer last, and the trailer's
// signature by the header's signer over everything before it. entry is
// called with each decoded entry as it is read (its own signature is not
// checked here); nothing must be applied before ReadPack returns nil,
// since only then is the pack known to be whole and unaltered. check, if
// set, sees the header first and may refuse the pack.
func ReadPack(r io.Reader, check func(PackHeader) error, entry func(sp.Entry) error, chunk func([]byte) error) (PackHeader, error) {
	var h PackHeader
	br := bufio.NewReaderSize(r, 64<<10)
	sum := sha256.New()
	buf := make([]byte, 0, 64<<10)
	seen, entries := 0, 0
	for {
		payload, err := sp.ReadFrame(br, buf[:0])
		if errors.Is(err, io.EOF) {
			if seen == 0 {
				return h, fmt.Errorf("%w: the file is empty", ErrBadPack)
			}
			return h, fmt.Errorf("%w: it ends before its signature (cut short)", ErrBadPack)
		}
		if err != nil {
			if seen == 0 {
				return h, fmt.Errorf("%w: %v", ErrBadPack, err)
			}
			return h, fmt.Errorf("%w: frame %d is damaged (%v)", ErrBadPack, seen+1, err)
		}
		var f packFrame
		if err := sp.UnmarshalStrict(payload, &f); err != nil {
			if seen == 0 {
				if err := probeNewerPack(payload); err != nil {
					return h, err
				}
			}
			return h, fmt.Errorf("%w: frame %d does not decode (%v)", ErrBadPack, seen+1, err)
		}
		seen++
		switch {
		case seen == 1:
			if f.Kind != packKindHeader || f.Header == nil {
				return h, fmt.Errorf("%w: it does not start with a pack header", ErrBadPack)
			}
			h = *f.Header
			if err := checkPackHeader(&h); err != nil {
				return h, err
			}
			if check != nil {
				if err := check(h); err != nil {
					return h, err
				}
			}
		case f.Kind == packKindEntries:
			for _, b := range f.Entries {
				if entries++; entries > MaxPackEntries {
					return h, fmt.Errorf("%w: over %d entries", ErrBadPack, MaxPackEntries)
				}
				e, err := sp.DecodeEntry(b)
				if err != nil {
					return h, fmt.Errorf("%w: entry %d: %v", ErrBadPack, entries, err)
				}
				if entry != nil {
					if err := entry(e); err != nil {
						return h, err
					}
				}
			}
		case f.Kind == packKindChunks:
			for _, c := range f.Chunks {
				if len(c) == 0 || len(c) > MaxPackChunk {
					return h, fmt.Errorf("%w: a chunk of %d bytes", ErrBadPack, len(c))
				}
				if chunk != nil {
					if err := chunk(c); err != nil {
						return h, err
					}
				}
			}
		case f.Kind == packKindTrailer:
			if !ed25519.Verify(ed25519.PublicKey(h.Signer[:]), append([]byte(packSigDomain), sum.Sum(nil)...), f.Sig) {
				return h, fmt.Errorf("%w: its signature does not verify: it was altered after it was signed", ErrBadPack)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return h, fmt.Errorf("%w: bytes follow its signature", ErrBadPack)
			}
			return h, nil
		default:
			return h, fmt.Errorf("%w: frame %d is of an unknown kind %d", ErrBadPack, seen, f.Kind)
		}
		sum.Write(sp.AppendFrame(nil, payload))
	}
}
