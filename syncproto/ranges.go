package syncproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// A Bound splits the sync order: a key k is below the bound when
// (k.Time, k.Hash) < (Time, Prefix followed by zero bytes). Inf is above
// every key. Bounds are sent as short as they can be: usually a time alone.
type Bound struct {
	Time   uint64
	Prefix []byte // at most 32 bytes
	Inf    bool
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
		return Bound{Time: nt}
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

// rangeWriter packs ranges: per range, the bound (uvarint time delta plus
// one, 0 for Inf; then a prefix length byte and the prefix), a mode byte
// and the mode's data (uvarint count and 8-byte fingerprint; uvarint n and
// n 8-byte IDs; an 8-byte ID). IDs and fingerprints are little-endian.
type rangeWriter struct {
	buf      []byte
	prevTime uint64
	ids      int // bytes spent on short IDs, for the statistics
	n        int
}

func (w *rangeWriter) bound(b *Bound) {
	if b.Inf {
		w.buf = append(w.buf, 0)
		return
	}
	w.buf = binary.AppendUvarint(w.buf, b.Time-w.prevTime+1)
	w.prevTime = b.Time
	w.buf = append(w.buf, byte(len(b.Prefix)))
	w.buf = append(w.buf, b.Prefix...)
}

func (w *rangeWriter) add(r *wireRange) {
	w.n++
	w.bound(&r.Upper)
	w.buf = append(w.buf, r.Mode)
	switch r.Mode {
	case modeFP:
		w.buf = binary.AppendUvarint(w.buf, r.Count)
		w.buf = binary.LittleEndian.AppendUint64(w.buf, r.FP)
	case modeIDs:
		w.buf = binary.AppendUvarint(w.buf, uint64(len(r.IDs)))
		for _, id := range r.IDs {
			w.buf = binary.LittleEndian.AppendUint64(w.buf, id)
		}
		w.ids += 8 * len(r.IDs)
	case modeSingle:
		w.buf = binary.LittleEndian.AppendUint64(w.buf, r.FP)
		w.ids += 8
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

// decodeBound reads a bound from b and returns the rest.
func decodeBound(b []byte, prevTime *uint64) (Bound, []byte, error) {
	d, n := uvarint(b)
	if n <= 0 {
		return Bound{}, nil, rangesErr("bad bound")
	}
	b = b[n:]
	if d == 0 {
		return InfBound, b, nil
	}
	t := *prevTime + d - 1
	if t < *prevTime {
		return Bound{}, nil, rangesErr("bound time overflows")
	}
	*prevTime = t
	if len(b) < 1 {
		return Bound{}, nil, rangesErr("cut short")
	}
	pl := int(b[0])
	if pl > 32 || len(b) < 1+pl {
		return Bound{}, nil, rangesErr("bad bound prefix")
	}
	return Bound{Time: t, Prefix: b[1 : 1+pl]}, b[1+pl:], nil
}

// decodeRanges unpacks and checks a round's ranges: bounds strictly
// increasing, Inf only last, caps respected.
func decodeRanges(b []byte) ([]wireRange, error) {
	var out []wireRange
	var prevTime uint64
	var prev *Bound
	for len(b) > 0 {
		if len(out) >= MaxRanges {
			return nil, rangesErr("more than %d ranges", MaxRanges)
		}
		if prev != nil && prev.Inf {
			return nil, rangesErr("a range after the end")
		}
		var r wireRange
		var err error
		r.Upper, b, err = decodeBound(b, &prevTime)
		if err != nil {
			return nil, err
		}
		if prev != nil && !prev.less(&r.Upper) {
			return nil, rangesErr("bounds out of order")
		}
		if len(b) < 1 {
			return nil, rangesErr("cut short")
		}
		r.Mode, b = b[0], b[1:]
		switch r.Mode {
		case modeSkip, modeAskList:
		case modeFP:
			c, n := uvarint(b)
			if n <= 0 || len(b) < n+8 {
				return nil, rangesErr("bad fingerprint")
			}
			r.Count, r.FP = c, binary.LittleEndian.Uint64(b[n:])
			b = b[n+8:]
		case modeIDs:
			c, n := uvarint(b)
			if n <= 0 || c > MaxIDList || uint64(len(b)-n) < 8*c {
				return nil, rangesErr("bad ID list")
			}
			b = b[n:]
			r.IDs = make([]uint64, c)
			for i := range r.IDs {
				r.IDs[i] = binary.LittleEndian.Uint64(b[8*i:])
			}
			b = b[8*c:]
		case modeSingle:
			if len(b) < 8 {
				return nil, rangesErr("bad single ID")
			}
			r.FP, b = binary.LittleEndian.Uint64(b), b[8:]
		default:
			return nil, rangesErr("unknown range mode %d", r.Mode)
		}
		out = append(out, r)
		prev = &out[len(out)-1].Upper
	}
	return out, nil
}

// decodeIDs unpacks a list of 8-byte short IDs.
func decodeIDs(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, rangesErr("ID list of %d bytes", len(b))
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out, nil
}
