package syncproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// A Bound splits the sync order: a key k is below the bound when
// (k.Time, k.Hash) < (Time, Prefix followed by zero bytes). Inf is above
// every key. Bounds are sent as short as they can be: usually a time alone.
type Bound struct {
	Time   uint64
	Prefix []byte // at most 32 bytes
	Inf    bool
	// Lo, when not zero, says any time from Lo to Time would do (the
	// bound falls in a gap between two entries); the writer picks the one
	// that is cheapest to send and sets Time to it.
	Lo uint64
}

// InfBound is above every key.
var InfBound = Bound{Inf: true}

// below reports whether k sorts before b.
func (b *Bound) below(k *SyncKey) bool {
	if b.Inf {
		return true
	}
	t := binary.BigEndian.Uint64(k[:8])
	if t != b.Time {
		return t < b.Time
	}
	return bytes.Compare(k[8:8+len(b.Prefix)], b.Prefix) < 0
}

// less orders bounds.
func (b *Bound) less(o *Bound) bool {
	if b.Inf || o.Inf {
		return !b.Inf && o.Inf
	}
	if b.Time != o.Time {
		return b.Time < o.Time
	}
	// Compare prefixes padded with zero bytes.
	n := max(len(b.Prefix), len(o.Prefix))
	for i := 0; i < n; i++ {
		var x, y byte
		if i < len(b.Prefix) {
			x = b.Prefix[i]
		}
		if i < len(o.Prefix) {
			y = o.Prefix[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// boundBetween returns the shortest bound above prev and at or below next
// (prev < next).
func boundBetween(prev, next *SyncKey) Bound {
	pt := binary.BigEndian.Uint64(prev[:8])
	nt := binary.BigEndian.Uint64(next[:8])
	if pt != nt {
		return Bound{Time: nt, Lo: pt + 1}
	}
	i := 8
	for i < len(next) && prev[i] == next[i] {
		i++
	}
	if i == len(next) {
		panic("bug: boundBetween of equal keys")
	}
	return Bound{Time: nt, Prefix: bytes.Clone(next[8 : i+1])}
}

// Range modes in a round. Never reorder.
const (
	modeSkip    = 0 // nothing to do here
	modeFP      = 1 // count and fingerprint of the sender's entries here
	modeIDs     = 2 // the short IDs of all the sender's entries here
	modeSingle  = 3 // "you have one entry more here, with this short ID"
	modeAskList = 4 // "send me your short IDs here"
)

// wireRange is one range of a round. The range runs from the previous
// range's bound (the start of the order for the first) to Upper.
type wireRange struct {
	Upper Bound
	Mode  byte
	Count uint64   // modeFP
	FP    uint64   // modeFP; the short ID for modeSingle
	IDs   []uint64 // modeIDs
}

// Sizes on the wire. Fingerprints and single IDs are the low FPBytes
// bytes of the keyed sum or short ID; ID lists and wants carry the low
// IDBytes bytes of each short ID. Under a fresh random salt per session, a
// false match between different sets is a 2^-40 chance per compared range
// (and the next session, with another salt, finds what it missed).
const (
	FPBytes = 5
	IDBytes = 6
	fpMask  = 1<<(8*FPBytes) - 1
	idMask  = 1<<(8*IDBytes) - 1
)

// rangeWriter packs ranges. Each range is
//
//	head   uvarint: tz' << 4 | hasPrefix << 3 | mode    (tz' = 0: the bound is Inf)
//	q      uvarint, only if tz' > 0: the bound's time is the previous
//	       bound's time + q << (tz'-1); q is odd, or q = 0 with tz' = 1
//	prefix only if hasPrefix: a length byte (1..32) and that many bytes
//	data   by mode: FP: uvarint count, FPBytes fingerprint; IDs: uvarint n,
//	       n IDBytes IDs; Single: FPBytes ID; Skip, AskList: nothing
//
// Numbers are little-endian. A bound between two entries with different
// times may take any time in that gap; the writer takes the one whose
// distance from the previous bound has the most trailing zero bits, so q
// is small.
type rangeWriter struct {
	buf      []byte
	prevTime uint64
	ids      int // bytes spent on short IDs, for the statistics
	n        int
}

// roundTime returns the time in [lo, hi] whose distance from prev has the
// most trailing zero bits (prev < lo <= hi).
func roundTime(prev, lo, hi uint64) uint64 {
	a, b := lo-prev, hi-prev
	for tz := 63; tz > 0; tz-- {
		p := uint64(1) << tz
		m := a + (p-a%p)%p
		if m >= a && m <= b {
			return prev + m
		}
	}
	return lo
}

func (w *rangeWriter) head(b *Bound, mode byte) {
	if b.Inf {
		w.buf = binary.AppendUvarint(w.buf, uint64(mode))
		return
	}
	if b.Lo != 0 && len(b.Prefix) == 0 && b.Lo > w.prevTime && b.Lo <= b.Time {
		b.Time, b.Lo = roundTime(w.prevTime, b.Lo, b.Time), 0
	}
	d := b.Time - w.prevTime
	tz, q := 0, uint64(0)
	if d != 0 {
		tz = bits.TrailingZeros64(d)
		q = d >> tz
	}
	flags := uint64(mode)
	if len(b.Prefix) > 0 {
		flags |= 8
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(tz+1)<<4|flags)
	w.buf = binary.AppendUvarint(w.buf, q)
	if len(b.Prefix) > 0 {
		w.buf = append(w.buf, byte(len(b.Prefix)))
		w.buf = append(w.buf, b.Prefix...)
	}
	w.prevTime = b.Time
}

func appendLE(b []byte, v uint64, n int) []byte {
	for i := 0; i < n; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func readLE(b []byte, n int) uint64 {
	var v uint64
	for i := 0; i < n; i++ {
		v |= uint64(b[i]) << (8 * i)
	}
	return v
}

func (w *rangeWriter) add(r *wireRange) {
	w.n++
	w.head(&r.Upper, r.Mode)
	switch r.Mode {
	case modeFP:
		w.buf = binary.AppendUvarint(w.buf, r.Count)
		w.buf = appendLE(w.buf, r.FP, FPBytes)
	case modeIDs:
		w.buf = binary.AppendUvarint(w.buf, uint64(len(r.IDs)))
		for _, id := range r.IDs {
			w.buf = appendLE(w.buf, id, IDBytes)
		}
		w.ids += IDBytes * len(r.IDs)
	case modeSingle:
		w.buf = appendLE(w.buf, r.FP, FPBytes)
		w.ids += FPBytes
	}
}

// errRanges wraps every complaint about packed ranges from a peer.
var errRanges = errors.New("bad ranges")

func rangesErr(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrMalformed, errRanges, fmt.Sprintf(format, args...))
}

// uvarint reads a minimally encoded uvarint: every value has one encoding,
// as everything from outside must.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != uvarintLen(v) {
		return 0, -1
	}
	return v, n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decodeHead reads a range's bound and mode from b and returns the rest.
func decodeHead(b []byte, prevTime *uint64) (Bound, byte, []byte, error) {
	h, n := uvarint(b)
	if n <= 0 {
		return Bound{}, 0, nil, rangesErr("bad range head")
	}
	b = b[n:]
	mode := byte(h & 7)
	hasPrefix := h&8 != 0
	tz1 := h >> 4
	if tz1 == 0 {
		if hasPrefix || h > 7 {
			return Bound{}, 0, nil, rangesErr("bad end bound")
		}
		return InfBound, mode, b, nil
	}
	if tz1 > 64 {
		return Bound{}, 0, nil, rangesErr("bad bound shift")
	}
	tz := tz1 - 1
	q, n := uvarint(b)
	if n <= 0 {
		return Bound{}, 0, nil, rangesErr("bad bound")
	}
	b = b[n:]
	if (q == 0 && tz != 0) || (q != 0 && q&1 == 0) || (q != 0 && q<<tz>>tz != q) {
		return Bound{}, 0, nil, rangesErr("bound not in its one encoding")
	}
	d := q << tz
	t := *prevTime + d
	if t < *prevTime {
		return Bound{}, 0, nil, rangesErr("bound time overflows")
	}
	*prevTime = t
	bd := Bound{Time: t}
	if hasPrefix {
		if len(b) < 1 {
			return Bound{}, 0, nil, rangesErr("cut short")
		}
		pl := int(b[0])
		if pl < 1 || pl > 32 || len(b) < 1+pl || b[pl] == 0 {
			// A prefix ending in a zero byte means the same bound as the
			// prefix without it: one encoding only.
			return Bound{}, 0, nil, rangesErr("bad bound prefix")
		}
		bd.Prefix, b = b[1:1+pl], b[1+pl:]
	}
	return bd, mode, b, nil
}

// rangeReader unpacks ranges one at a time and checks them as it goes:
// bounds strictly increasing, Inf only last, caps respected. It holds one
// range at a time, so a round costs memory in proportion to its bytes
// only through what the receiver does with each range.
type rangeReader struct {
	b        []byte
	prevTime uint64
	prev     Bound
	n, max   int
}

// next returns the next range, or false at the end. The range's IDs are
// its own; its prefix points into the packed bytes.
func (rr *rangeReader) next() (wireRange, bool, error) {
	var r wireRange
	if len(rr.b) == 0 {
		return r, false, nil
	}
	if rr.n >= rr.max {
		return r, false, rangesErr("more than %d ranges", rr.max)
	}
	if rr.n > 0 && rr.prev.Inf {
		return r, false, rangesErr("a range after the end")
	}
	var err error
	b := rr.b
	r.Upper, r.Mode, b, err = decodeHead(b, &rr.prevTime)
	if err != nil {
		return r, false, err
	}
	if rr.n > 0 && !rr.prev.less(&r.Upper) {
		return r, false, rangesErr("bounds out of order")
	}
	switch r.Mode {
	case modeSkip, modeAskList:
	case modeFP:
		c, n := uvarint(b)
		if n <= 0 || len(b) < n+FPBytes {
			return r, false, rangesErr("bad fingerprint")
		}
		r.Count, r.FP = c, readLE(b[n:], FPBytes)
		b = b[n+FPBytes:]
	case modeIDs:
		c, n := uvarint(b)
		if n <= 0 || c > MaxIDList || uint64(len(b)-n) < IDBytes*c {
			return r, false, rangesErr("bad ID list")
		}
		b = b[n:]
		r.IDs = make([]uint64, c)
		for i := range r.IDs {
			r.IDs[i] = readLE(b[IDBytes*i:], IDBytes)
		}
		b = b[IDBytes*c:]
	case modeSingle:
		if len(b) < FPBytes {
			return r, false, rangesErr("bad single ID")
		}
		r.FP, b = readLE(b, FPBytes), b[FPBytes:]
	default:
		return r, false, rangesErr("unknown range mode %d", r.Mode)
	}
	rr.b = b
	rr.n++
	rr.prev = r.Upper
	return r, true, nil
}

// decodeRanges unpacks and checks at most max ranges into a list.
func decodeRanges(b []byte, max int) ([]wireRange, error) {
	rr := rangeReader{b: b, max: max}
	var out []wireRange
	for {
		r, ok, err := rr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, r)
	}
}

// decodeIDs unpacks a list of IDBytes-byte short IDs.
func decodeIDs(b []byte) ([]uint64, error) {
	if len(b)%IDBytes != 0 {
		return nil, rangesErr("ID list of %d bytes", len(b))
	}
	out := make([]uint64, len(b)/IDBytes)
	for i := range out {
		out[i] = readLE(b[IDBytes*i:], IDBytes)
	}
	return out, nil
}
