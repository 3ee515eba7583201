package fieldkit

// Bundles: sync frames in a file, for the sneakernet path. The layout is
// written down in docs/bundle-format.md.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// bundleSigDomain separates bundle signatures from anything else a device
// key signs (entries sign under "floe/entry/v1\x00").
const bundleSigDomain = "floe/bundle/v1\x00"

// BundleFormat is the bundle format this floe writes and reads
// (docs/bundle-format.md). A bundle is made of sync frames, and carries
// its format as their version byte: it is the sync protocol's version. A
// header of a newer version, with fields this floe does not know, or
// with a sealing it does not know, is refused with "upgrade floe".
const BundleFormat = sp.ProtocolVersion

// SealingPlain is the only sealing this floe knows: the frames after the
// header are written as they are (each entry is signed, but readable).
const SealingPlain = 0

// frameMagic is the first bytes of every frame, taken from syncproto so
// that the layout lives in one place.
var frameMagic = sp.AppendFrame(nil, nil)[:3]

// frameHeaderLen is a frame's magic, version and length; the rest of
// sp.FrameOverhead is the CRC after the payload.
const frameHeaderLen = sp.FrameOverhead - 4

// bundleSigned is the message a trailer signature covers.
func bundleSigned(sum []byte) []byte {
	return append([]byte(bundleSigDomain), sum...)
}

// Errors that callers branch on.
var (
	// ErrNotBundle means the first frame of a file is not an intact bundle
	// header. The error wrapping it says what the file seems to be.
	ErrNotBundle = errors.New("not a Floe bundle")
	// ErrBundleWriter means a BundleWriter was misused or has already
	// failed; nothing more can be written with it.
	ErrBundleWriter = errors.New("bundle writer")
)

// SealingError means a bundle's frames are protected with a scheme this
// floe does not know. Nothing in it was applied.
type SealingError struct{ Sealing uint64 }

func (e *SealingError) Error() string {
	return fmt.Sprintf("this bundle is encrypted with a scheme this floe does not know (sealing %d); upgrade floe", e.Sealing)
}

// BundleWriter writes one bundle: the header frame when it is made, then
// entries and acknowledgement frames in the order they are given, then the
// signed trailer on Close. It is not safe for concurrent use.
type BundleWriter struct {
	w      io.Writer
	key    ed25519.PrivateKey
	hash   hash.Hash // of every byte written before the trailer
	err    error     // sticky: the first write error, or the writer is closed
	frame  []byte    // reused frame buffer
	frames int
	ents   int
	bytes  int64
	acked  bool

	// The pending Entries frame: copies of the encoded entries in one
	// arena, and the payload size they will encode to.
	arena   []byte
	pending [][]byte
	size    int
	// headerHash is the SHA-256 of the header payload; entries frames
	// are signed over it and their sequence number.
	headerHash [32]byte
	seq        uint64
}

// NewBundleWriter writes the header frame of a bundle to w. key signs the
// trailer, and h.From must be its public key. h.Sealing must be
// SealingPlain: this floe cannot seal bundles yet.
func NewBundleWriter(w io.Writer, h sp.BundleHeader, key ed25519.PrivateKey) (*BundleWriter, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: the signing key is %d bytes, not an ed25519 private key", ErrBundleWriter, len(key))
	}
	var from sp.DeviceID
	copy(from[:], key.Public().(ed25519.PublicKey))
	if !from.Equal(h.From) {
		return nil, fmt.Errorf("%w: the header names sender %s but the signing key is %s's; sign with the sender's own device key", ErrBundleWriter, h.From.Short(), from.Short())
	}
	if h.Sealing != SealingPlain {
		return nil, fmt.Errorf("%w: this floe cannot seal bundles yet (sealing %d); write with sealing %d", ErrBundleWriter, h.Sealing, SealingPlain)
	}
	b := &BundleWriter{w: w, key: key, hash: sha256.New(), arena: make([]byte, 0, sp.MaxFrameLen)}
	hp := sp.EncodeMsg(sp.MsgBundleHeader, h)
	b.headerHash = sha256.Sum256(hp)
	if err := b.write(hp, true); err != nil {
		return nil, err
	}
	// Recipient encryption, when it comes (a non-zero h.Sealing), will wrap
	// everything written after the header frame; the header stays plain so
	// a receiver can tell the network, sender and recipient, and refuse a
	// bundle that is not for it, before it decrypts anything.
	return b, nil
}

// write writes one frame, hashing it unless it is the trailer.
func (b *BundleWriter) write(payload []byte, hashed bool) error {
	if b.err != nil {
		return b.err
	}
	b.frame = sp.AppendFrame(b.frame[:0], payload)
	n, err := b.w.Write(b.frame)
	b.bytes += int64(n)
	if err != nil {
		b.err = fmt.Errorf("writing the bundle: %w", err)
		return b.err
	}
	if hashed {
		b.hash.Write(b.frame)
	}
	b.frames++
	return nil
}

// cborHead is the length of a CBOR head for an argument of n.
func cborHead(n int) int {
	switch {
	case n < 24:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	case uint64(n) < 1<<32:
		return 5
	}
	return 9
}

// entriesPayloadLen bounds the size of the MsgEntries payload that holds n
// entries whose byte strings (heads included) take body bytes:
// [3, {1: [bstr, ...], 2: seq, 3: sig}] in canonical CBOR, with room for
// the largest sequence number and the 64-byte signature.
func entriesPayloadLen(n, body int) int {
	const seqSig = 1 + 9 + 1 + 2 + ed25519.SignatureSize
	return 1 + 1 + 1 + 1 + cborHead(n) + body + seqSig
}

// Entries adds encoded entries to the bundle. They are packed into as few
// MsgEntries frames as fit sp.MaxFrameLen and sp.MaxItems; the last, partly
// filled frame is held back and filled by the next call, until Ack or Close
// writes it. The writer copies what it holds back, so encoded may be reused
// once Entries returns. The entries are not checked here: the exporting
// node gives what its store holds, and every receiver verifies each one.
func (b *BundleWriter) Entries(encoded [][]byte) error {
	if b.err != nil {
		return b.err
	}
	for i, e := range encoded {
		if len(e) == 0 || len(e) > sp.MaxEntryLen {
			return fmt.Errorf("%w: entry %d is %d bytes; an encoded entry is 1 to %d", ErrBundleWriter, i, len(e), sp.MaxEntryLen)
		}
		add := cborHead(len(e)) + len(e)
		if len(b.pending) > 0 && (len(b.pending) >= sp.MaxItems || entriesPayloadLen(len(b.pending)+1, b.size+add) > sp.MaxFrameLen) {
			if err := b.flush(); err != nil {
				return err
			}
		}
		start := len(b.arena)
		b.arena = append(b.arena, e...)
		b.pending = append(b.pending, b.arena[start:len(b.arena):len(b.arena)])
		b.size += add
	}
	return nil
}

// flush writes the pending Entries frame, if any.
func (b *BundleWriter) flush() error {
	if len(b.pending) == 0 {
		return b.err
	}
	b.seq++
	sig := ed25519.Sign(b.key, sp.BundleFrameMessage(b.headerHash, b.seq, b.pending))
	p := sp.EncodeMsg(sp.MsgEntries, sp.Entries{List: b.pending, Seq: b.seq, Sig: sig})
	if len(p) > entriesPayloadLen(len(b.pending), b.size) {
		panic("bug: entries frame over its predicted size")
	}
	n := len(b.pending)
	b.pending, b.arena, b.size = b.pending[:0], b.arena[:0], 0
	if err := b.write(p, true); err != nil {
		return err
	}
	b.ents += n
	return nil
}

// Ack writes the sender's summary of its set as MsgAck frames, so the
// receiver's next export to this sender can leave out what it already has.
// A bundle carries at most one.
func (b *BundleWriter) Ack(s *sp.SetSummary) error {
	if b.err != nil {
		return b.err
	}
	if s == nil {
		return fmt.Errorf("%w: no summary to acknowledge with", ErrBundleWriter)
	}
	if b.acked {
		return fmt.Errorf("%w: a bundle carries one acknowledgement", ErrBundleWriter)
	}
	if err := b.flush(); err != nil {
		return err
	}
	for _, p := range s.Parts() {
		if err := b.write(sp.EncodeMsg(sp.MsgAck, p), true); err != nil {
			return err
		}
	}
	b.acked = true
	return nil
}

// Close writes any pending entries and the signed trailer. It does not
// close the underlying writer; the bundle is complete only if Close returns
// nil and the caller's file is then synced and closed without error.
func (b *BundleWriter) Close() error {
	if err := b.flush(); err != nil {
		return err
	}
	t := sp.BundleTrailer{
		Frames: uint64(b.frames),
		Sig:    ed25519.Sign(b.key, bundleSigned(b.hash.Sum(nil))),
	}
	if err := b.write(sp.EncodeMsg(sp.MsgBundleTrailer, t), false); err != nil {
		return err
	}
	b.err = fmt.Errorf("%w: the bundle is already closed", ErrBundleWriter)
	return nil
}

// Stats counts the frames and entries written so far (entries still held
// back for the next frame are not counted) and the bytes handed to the
// underlying writer.
func (b *BundleWriter) Stats() (frames int, entries int, bytes int64) {
	return b.frames, b.ents, b.bytes
}

// BundleReport says what ReadBundle found in a bundle.
type BundleReport struct {
	Header   sp.BundleHeader
	HeaderOK bool
	// Frames counts the intact frames read, header and trailer included.
	Frames int
	// Damaged counts stretches of bytes that were skipped because they were
	// not intact frames. A frame cut off by the end of the file is counted
	// in Truncated instead.
	Damaged int
	// Entries counts the entries handed to apply.
	Entries int
	// BadEntries counts entries in intact frames that failed
	// sp.DecodeEntry. The CRC protects against accidents only, so this
	// means a forged or buggy bundle; those entries were skipped.
	BadEntries int
	// Truncated means the file ended before a trailer: at a frame boundary,
	// or inside a frame that was cut short.
	Truncated bool
	// Signed means the trailer is present and intact, its frame count
	// matches, and its signature verifies against Header.From over every
	// byte before it.
	Signed bool
	// Ack is the sender's summary of its set. It is set only if Signed:
	// an acknowledgement from a damaged bundle is never trusted.
	Ack *sp.SetSummary
	// Forged counts intact entries frames whose sender signature does not
	// verify: none of their entries was applied.
	Forged int
	// Unknown counts intact frames of a kind a bundle does not carry (a
	// newer kind, a live-session kind, or a second header), skipped.
	Unknown int
	// Trailing means bytes followed the trailer; they were not read.
	Trailing bool

	trailer bool // an intact trailer was read
}

// Problems describes in plain words what was wrong with the bundle, or
// returns "" if it was whole and signed. It describes a report that came
// with a nil error; an error from ReadBundle speaks for itself.
func (r BundleReport) Problems() string {
	if !r.HeaderOK {
		return "the bundle header could not be read; nothing was applied"
	}
	var ps []string
	if r.Truncated {
		ps = append(ps, fmt.Sprintf("the bundle was cut short after %d frames; what arrived intact was applied; ask for a new bundle", r.Frames))
	}
	switch {
	case r.Damaged == 1:
		ps = append(ps, "1 damaged stretch was skipped")
	case r.Damaged > 1:
		ps = append(ps, fmt.Sprintf("%d damaged stretches were skipped", r.Damaged))
	}
	switch {
	case r.BadEntries == 1:
		ps = append(ps, "1 entry in an intact frame did not decode and was skipped (the bundle may be forged)")
	case r.BadEntries > 1:
		ps = append(ps, fmt.Sprintf("%d entries in intact frames did not decode and were skipped (the bundle may be forged)", r.BadEntries))
	}
	if r.Forged > 0 {
		ps = append(ps, fmt.Sprintf("%d frames were not signed by the sender the header names and were not applied: the bundle was tampered with", r.Forged))
	}
	switch {
	case r.Signed, r.Truncated:
	case r.trailer:
		ps = append(ps, "the signature does not verify: its acknowledgement was ignored")
	default:
		ps = append(ps, "the signed trailer is damaged, so the sender could not be confirmed: its acknowledgement was ignored")
	}
	if r.Trailing {
		ps = append(ps, "bytes after the trailer were ignored")
	}
	return strings.Join(ps, "; ")
}

// bundleReader is the state of one ReadBundle.
type bundleReader struct {
	br   *bufio.Reader
	hash hash.Hash // of every byte consumed before the trailer
	rep  BundleReport
	// The damaged stretch being skipped, if any, and whether it began
	// with a frame cut off by the end of the file.
	inStretch, stretchCut bool
	ack                   sp.SummaryBuilder
	lastAck               *sp.SetSummary
	headerHash            [32]byte
}

// consume hashes and drops the next n bytes, which are buffered.
func (rd *bundleReader) consume(n int) {
	b, _ := rd.br.Peek(n)
	rd.hash.Write(b)
	rd.br.Discard(len(b))
}

// frameAt is what peekFrame found at the read position.
type frameAt int

const (
	frameOK      frameAt = iota // an intact frame
	frameEnd                    // no bytes left
	frameCut                    // the start of a frame, cut off by the end of the file
	frameBad                    // not a frame: bad magic, length or CRC
	frameVersion                // a frame of another protocol version
	frameIO                     // reading failed
)

// peekFrame looks at the frame at the read position without consuming it.
// err says why for frameBad and frameVersion, and is the read error for
// frameIO.
func (rd *bundleReader) peekFrame() (payload []byte, size int, at frameAt, err error) {
	h, err := rd.br.Peek(frameHeaderLen)
	switch {
	case len(h) == 0 && err == io.EOF:
		return nil, 0, frameEnd, nil
	case len(h) < frameHeaderLen && err == io.EOF:
		if bytes.HasPrefix(frameMagic, h[:min(len(h), len(frameMagic))]) {
			return nil, 0, frameCut, nil
		}
		return nil, 0, frameBad, nil
	case err != nil:
		return nil, 0, frameIO, fmt.Errorf("reading the bundle: %w", err)
	}
	// The header is checked by sp.NextFrame; with no payload behind it, a
	// good header gives io.ErrUnexpectedEOF.
	if _, _, herr := sp.NextFrame(h); herr != io.ErrUnexpectedEOF {
		var ve *sp.VersionError
		if errors.As(herr, &ve) {
			return nil, 0, frameVersion, herr
		}
		return nil, 0, frameBad, herr
	}
	// Bytes 4..8 are the payload length (docs/bundle-format.md); it is at
	// most sp.MaxFrameLen, which NextFrame checked.
	n := int(binary.BigEndian.Uint32(h[4:8])) + sp.FrameOverhead
	data, err := rd.br.Peek(n)
	if len(data) < n {
		if err == io.EOF {
			return nil, 0, frameCut, nil
		}
		return nil, 0, frameIO, fmt.Errorf("reading the bundle: %w", err)
	}
	payload, size, err = sp.NextFrame(data)
	if err != nil {
		return nil, 0, frameBad, err
	}
	return payload, size, frameOK, nil
}

// damaged starts (or continues) a damaged stretch.
func (rd *bundleReader) damaged(cut bool) {
	if !rd.inStretch {
		rd.inStretch, rd.stretchCut = true, cut
	}
}

// intact ends a damaged stretch at an intact frame.
func (rd *bundleReader) intact() {
	if rd.inStretch {
		rd.rep.Damaged++
		rd.inStretch = false
	}
	rd.rep.Frames++
}

// skip drops the byte at the read position and everything up to the next
// frame magic, or up to the last two bytes of the file.
func (rd *bundleReader) skip() error {
	rd.consume(1)
	for {
		if rd.br.Buffered() < len(frameMagic) {
			b, err := rd.br.Peek(len(frameMagic))
			if len(b) < len(frameMagic) {
				if err == io.EOF {
					return nil
				}
				return fmt.Errorf("reading the bundle: %w", err)
			}
		}
		b, _ := rd.br.Peek(rd.br.Buffered())
		if i := sp.FindFrame(b, 0); i >= 0 {
			rd.consume(i)
			return nil
		}
		rd.consume(len(b) - (len(frameMagic) - 1))
	}
}

// ReadBundle reads a bundle from r as a stream; it never holds more than a
// frame or two in memory.
//
// check is called once with the header before anything else; if it
// returns an error (another network, another recipient), ReadBundle returns
// that error and applies nothing. The header is not authenticated until
// the trailer's signature is checked at the end: check is a filter, not a
// proof of origin. A nil check accepts every header.
//
// apply is called with the entries of each intact MsgEntries frame, in
// file order, decoded and checked for form by sp.DecodeEntry but not
// verified: the caller verifies signatures and authorization. apply may
// keep the slice. An error from apply stops reading and is returned. A nil
// apply reads the bundle without applying anything.
//
// Damage does not stop the reading: a stretch of bytes that is not an
// intact frame is skipped up to the next frame magic, so a damaged or
// truncated bundle still applies every intact frame. The report says what
// was lost. Reading ends at the end of the file or at the trailer.
//
// The returned error is nil for a readable bundle, however damaged; it is
// ErrNotBundle (wrapped) if the first frame is not an intact bundle header,
// a *sp.VersionError if the header is of another protocol version, a
// *SealingError for an unknown sealing, or an error from r, check or apply.
func ReadBundle(r io.Reader, check func(sp.BundleHeader) error, apply func([]sp.Entry) error) (BundleReport, error) {
	rd := &bundleReader{br: bufio.NewReaderSize(r, sp.MaxFrameLen+sp.FrameOverhead), hash: sha256.New()}
	if err := rd.header(check); err != nil {
		return rd.rep, err
	}
	for {
		payload, size, at, err := rd.peekFrame()
		switch at {
		case frameIO:
			return rd.rep, err
		case frameEnd:
			rd.end()
			return rd.rep, nil
		case frameCut, frameBad, frameVersion:
			rd.damaged(at == frameCut)
			if err := rd.skip(); err != nil {
				return rd.rep, err
			}
			continue
		}
		kind, body, err := sp.DecodeMsg(payload)
		if err != nil {
			rd.damaged(false)
			rd.consume(size)
			continue
		}
		switch kind {
		case sp.MsgEntries:
			var m sp.Entries
			if err := sp.DecodeBody(kind, body, &m); err != nil {
				rd.damaged(false)
				rd.consume(size)
				continue
			}
			// Only the sender named in the header can have made this
			// frame, for this bundle: anything else is forged (a courier
			// who knows the header's plain fields cannot sign).
			if len(m.Sig) != ed25519.SignatureSize ||
				!ed25519.Verify(rd.rep.Header.From[:], sp.BundleFrameMessage(rd.headerHash, m.Seq, m.List), m.Sig) {
				rd.intact()
				rd.consume(size)
				rd.rep.Forged++
				continue
			}
			es := make([]sp.Entry, 0, len(m.List))
			for _, b := range m.List {
				e, err := sp.DecodeEntry(b)
				if err != nil {
					rd.rep.BadEntries++
					continue
				}
				es = append(es, e)
			}
			rd.intact()
			rd.consume(size)
			if len(es) > 0 && apply != nil {
				if err := apply(es); err != nil {
					return rd.rep, err
				}
			}
			rd.rep.Entries += len(es)
		case sp.MsgAck:
			var p sp.AckPart
			if err := sp.DecodeBody(kind, body, &p); err != nil {
				rd.damaged(false)
				rd.consume(size)
				continue
			}
			rd.intact()
			rd.consume(size)
			if s, err := rd.ack.Add(p); err != nil {
				rd.lastAck = nil
			} else if s != nil {
				rd.lastAck = s
			}
		case sp.MsgBundleTrailer:
			var t sp.BundleTrailer
			if err := sp.DecodeBody(kind, body, &t); err != nil {
				rd.damaged(false)
				rd.consume(size)
				continue
			}
			rd.intact()
			rd.trailer(t)
			rd.br.Discard(size) // the trailer is not part of what it signs
			if b, _ := rd.br.Peek(1); len(b) > 0 {
				rd.rep.Trailing = true
			}
			return rd.rep, nil
		default:
			rd.intact()
			rd.consume(size)
			rd.rep.Unknown++
		}
	}
}

// header reads and checks the header frame.
func (rd *bundleReader) header(check func(sp.BundleHeader) error) error {
	payload, size, at, err := rd.peekFrame()
	switch at {
	case frameIO:
		return err
	case frameEnd:
		return fmt.Errorf("%w: the file is empty", ErrNotBundle)
	case frameCut:
		n := rd.br.Buffered()
		return fmt.Errorf("%w: the file is %d bytes long and ends inside its first frame, so it was cut short; nothing was applied; ask for a new bundle", ErrNotBundle, n)
	case frameVersion:
		return fmt.Errorf("reading the bundle header: %w", err)
	case frameBad:
		b, _ := rd.br.Peek(rd.br.Buffered())
		return fmt.Errorf("%w: %s", ErrNotBundle, describe(b))
	}
	kind, body, err := sp.DecodeMsg(payload)
	if err != nil {
		return fmt.Errorf("%w: its first frame is intact but does not decode; nothing was applied; ask for a new bundle", ErrNotBundle)
	}
	if kind != sp.MsgBundleHeader {
		return fmt.Errorf("%w: it holds Floe sync frames but starts with a %s frame: it looks like a recorded sync stream, not a bundle", ErrNotBundle, kind)
	}
	var h sp.BundleHeader
	if err := sp.DecodeBody(kind, body, &h); err != nil {
		if sealing, ok := sp.ProbeBundleHeader(body); ok {
			if sealing != SealingPlain {
				return &SealingError{Sealing: sealing}
			}
			return fmt.Errorf("%w: its header has fields this floe does not know: it was made by a newer floe; upgrade floe here; nothing was applied", ErrNotBundle)
		}
		return fmt.Errorf("%w: its header does not decode (%v); nothing was applied; ask for a new bundle", ErrNotBundle, err)
	}
	rd.rep.Header, rd.rep.HeaderOK = h, true
	rd.headerHash = sha256.Sum256(payload)
	rd.rep.Frames++
	rd.consume(size)
	if check != nil {
		if err := check(h); err != nil {
			return err
		}
	}
	if h.Sealing != SealingPlain {
		// Recipient encryption will plug in here: the frames after the
		// header will be unsealed before they are read as below.
		return &SealingError{Sealing: h.Sealing}
	}
	return nil
}

// trailer checks the trailer against what was read before it.
func (rd *bundleReader) trailer(t sp.BundleTrailer) {
	rd.rep.trailer = true
	before := rd.rep.Frames - 1
	if t.Frames != uint64(before) || len(t.Sig) != ed25519.SignatureSize {
		return
	}
	if !ed25519.Verify(rd.rep.Header.From.PublicKey(), bundleSigned(rd.hash.Sum(nil)), t.Sig) {
		return
	}
	rd.rep.Signed = true
	rd.rep.Ack = rd.lastAck
}

// end closes the report at the end of the file, which came before a trailer.
func (rd *bundleReader) end() {
	if rd.inStretch && !rd.stretchCut {
		// The file ends in damage, not in a cut frame: the trailer or the
		// last frames were damaged.
		rd.rep.Damaged++
		return
	}
	rd.rep.Truncated = true
}

// describe says in a few words what a file that is not a bundle seems to
// be, from its first bytes.
func describe(b []byte) string {
	b = b[:min(len(b), 512)]
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "it is a zip archive; if the bundle was zipped, unzip it first"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "it is gzip-compressed; decompress it first"
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "it is a PDF document"
	case bytes.HasPrefix(b, []byte("\x89PNG")), bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "it is an image"
	case bytes.HasPrefix(b, frameMagic):
		return "it starts like a Floe bundle, but its first frame (the header) is damaged, so its network and sender cannot be checked; nothing was applied; ask for a new bundle"
	case looksLikeText(b):
		first, _, _ := strings.Cut(string(b), "\n")
		if len(first) > 40 {
			first = first[:40]
			for !utf8.ValidString(first) {
				first = first[:len(first)-1]
			}
			first += "…"
		}
		return fmt.Sprintf("it is a text file (it starts %q); choose the bundle file that floe wrote", strings.TrimSpace(first))
	}
	return "it does not start with a Floe frame; choose the bundle file that floe wrote"
}

// looksLikeText reports whether b is UTF-8 with no control characters but
// whitespace. A cut in the middle of a character at the end is allowed.
func looksLikeText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}
