package syncproto

import (
	"errors"
	"fmt"
	"math"
)

// SummaryLeaf is how many entries one range of a SetSummary covers.
const SummaryLeaf = 64

// SetSummary describes a set of entries in ranges of about SummaryLeaf, each
// with a count and a keyed fingerprint. It is how a node acknowledges what
// it holds without a conversation: it travels in bundles, and another node
// compares its own entries against it to find the ranges that differ.
type SetSummary struct {
	Salt    Salt
	Count   uint64   // entries in the summarised set
	Sum     [32]byte // their Digest sum
	Created HLC      // when it was made, by the summarising node's clock
	Ranges  []SummaryRange
}

// SummaryRange is one range: entries below Upper and at or above the
// previous range's bound.
type SummaryRange struct {
	Upper Bound
	Count uint64
	FP    uint64
}

// Summarize summarises keys (in sync order) under salt.
func Summarize(keys []SyncKey, dig Digest, created HLC, salt Salt) SetSummary {
	s := newSet(keys, &salt)
	sum := SetSummary{Salt: salt, Count: dig.Count, Sum: dig.Sum, Created: created}
	for a := 0; a < len(keys); a += SummaryLeaf {
		b := min(a+SummaryLeaf, len(keys))
		var ub Bound
		if b < len(keys) {
			ub = boundBetween(&keys[b-1], &keys[b])
		} else if t := uint64(keys[b-1].Time()); t < math.MaxUint64 {
			// Just past the newest entry, so that entries written later
			// fall in the empty range after it and only they count as
			// missing.
			ub = Bound{Time: t + 1}
		} else {
			ub = InfBound
		}
		sum.Ranges = append(sum.Ranges, SummaryRange{Upper: ub, Count: uint64(b - a), FP: s.fp(a, b)})
	}
	if n := len(sum.Ranges); n == 0 || !sum.Ranges[n-1].Upper.Inf {
		sum.Ranges = append(sum.Ranges, SummaryRange{Upper: InfBound})
	}
	return sum
}

// Missing returns the indices of keys (in sync order) that the summarised
// set may lack: every key in a range whose count or fingerprint differs.
// A nil summary means nothing is known, and every key is returned.
func (s *SetSummary) Missing(keys []SyncKey) []int {
	var out []int
	if s == nil {
		out = make([]int, len(keys))
		for i := range out {
			out[i] = i
		}
		return out
	}
	set := newSet(keys, &s.Salt)
	cur := 0
	for i := range s.Ranges {
		r := &s.Ranges[i]
		a := cur
		b := set.lower(&r.Upper, cur)
		cur = b
		if uint64(b-a) != r.Count || set.fp(a, b) != r.FP {
			for j := a; j < b; j++ {
				if !r.covers(set, j) {
					out = append(out, j)
				}
			}
		}
	}
	for j := cur; j < len(keys); j++ {
		out = append(out, j)
	}
	return out
}

// covers is a refinement for single-entry ranges: if the summarised range
// held one entry, and this is it, it is not missing.
func (r *SummaryRange) covers(s *set, j int) bool {
	return r.Count == 1 && s.ids[j]&fpMask == r.FP
}

// Parts encodes the summary as AckPart messages that each fit a frame.
func (s *SetSummary) Parts() []AckPart {
	var w rangeWriter
	for i := range s.Ranges {
		r := &s.Ranges[i]
		w.add(&wireRange{Upper: r.Upper, Mode: modeFP, Count: r.Count, FP: r.FP})
	}
	const part = MaxFrameLen - 128
	var parts []AckPart
	b := w.buf
	for first := true; first || len(b) > 0; first = false {
		k := min(part, len(b))
		p := AckPart{Salt: s.Salt, Count: s.Count, Sum: s.Sum, Created: s.Created, Ranges: b[:k]}
		b = b[k:]
		p.More = len(b) > 0
		parts = append(parts, p)
	}
	return parts
}

// ErrSummary means an acknowledgement summary did not decode or check.
var ErrSummary = errors.New("bad acknowledgement summary")

// SummaryBuilder reassembles a summary from its parts.
type SummaryBuilder struct {
	first AckPart
	buf   []byte
	n     int
}

// Add takes the next part. It returns the summary after the last part.
func (sb *SummaryBuilder) Add(p AckPart) (*SetSummary, error) {
	if sb.n == 0 {
		sb.first = p
	} else if p.Salt != sb.first.Salt || p.Count != sb.first.Count || p.Sum != sb.first.Sum || p.Created != sb.first.Created {
		return nil, fmt.Errorf("%w: parts of different summaries", ErrSummary)
	}
	sb.n++
	if len(sb.buf)+len(p.Ranges) > MaxRoundLen {
		return nil, fmt.Errorf("%w: over %d bytes", ErrSummary, MaxRoundLen)
	}
	sb.buf = append(sb.buf, p.Ranges...)
	if p.More {
		return nil, nil
	}
	s, err := decodeSummary(sb.first, sb.buf)
	*sb = SummaryBuilder{}
	return s, err
}

func decodeSummary(h AckPart, b []byte) (*SetSummary, error) {
	rs, err := decodeRanges(b, MaxSummaryRanges)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSummary, err)
	}
	if len(rs) == 0 || !rs[len(rs)-1].Upper.Inf {
		return nil, fmt.Errorf("%w: ranges do not cover the order", ErrSummary)
	}
	s := &SetSummary{Salt: h.Salt, Count: h.Count, Sum: h.Sum, Created: h.Created, Ranges: make([]SummaryRange, len(rs))}
	var total uint64
	for i, r := range rs {
		if r.Mode != modeFP {
			return nil, fmt.Errorf("%w: a range without a fingerprint", ErrSummary)
		}
		s.Ranges[i] = SummaryRange{Upper: r.Upper, Count: r.Count, FP: r.FP}
		if total+r.Count < total {
			return nil, fmt.Errorf("%w: range counts overflow", ErrSummary)
		}
		total += r.Count
	}
	if total != h.Count {
		return nil, fmt.Errorf("%w: ranges count %d entries, the summary %d", ErrSummary, total, h.Count)
	}
	return s, nil
}

// EncodeSummary encodes a summary for storage: its parts, as one CBOR
// array.
func EncodeSummary(s *SetSummary) []byte {
	b, err := encMode.Marshal(s.Parts())
	if err != nil {
		panic("bug: encoding a summary: " + err.Error())
	}
	return b
}

// DecodeSummary decodes what EncodeSummary made.
func DecodeSummary(b []byte) (*SetSummary, error) {
	var parts []AckPart
	if err := UnmarshalStrict(b, &parts); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSummary, err)
	}
	var sb SummaryBuilder
	for i, p := range parts {
		s, err := sb.Add(p)
		if err != nil {
			return nil, err
		}
		if s != nil {
			if i != len(parts)-1 {
				return nil, fmt.Errorf("%w: parts after the last", ErrSummary)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: no last part", ErrSummary)
}
