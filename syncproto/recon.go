package syncproto

import (
	"math/bits"
	"slices"
)

// Lane orders what a session sends: lower lanes go first, so a short link
// window carries what matters most. Never reorder.
type Lane uint8

// Lanes.
const (
	LaneMembers   Lane = 0 // membership, certificates, revocations
	LaneUrgent    Lane = 1 // urgent outreach referrals
	LaneDirectory Lane = 2 // the service directory
	LaneOther     Lane = 3 // everything else
	LaneBulk      Lane = 4 // attachments and other bulk data
)

// Reconciliation defaults. Ranges are split BranchFactor ways until they
// hold at most LeafSize entries, which are then listed by short ID.
const (
	BranchFactor = 16
	LeafSize     = 12
)

// set is the sorted snapshot of sync keys that one side reconciles, with
// the keyed short ID of each.
type set struct {
	keys []SyncKey
	ids  []uint64
	byID []int32 // indices sorted by ID, built on first lookup
}

func newSet(keys []SyncKey, salt *Salt) *set {
	s := &set{keys: keys, ids: make([]uint64, len(keys))}
	for i := range keys {
		s.ids[i] = shortID(salt, &keys[i]) & idMask
	}
	return s
}

// lower returns the first index at or after from whose key is not below b.
func (s *set) lower(b *Bound, from int) int {
	if b.Inf {
		return len(s.keys)
	}
	lo, hi := from, len(s.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b.below(&s.keys[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// fp is the fingerprint of keys[a:b]: the sum of their short IDs, mod
// 2^(8*FPBytes).
func (s *set) fp(a, b int) uint64 {
	var f uint64
	for _, id := range s.ids[a:b] {
		f += id
	}
	return f & fpMask
}

// find returns the indices whose short ID is id.
func (s *set) find(id uint64) []int32 {
	if s.byID == nil {
		s.byID = make([]int32, len(s.ids))
		for i := range s.byID {
			s.byID[i] = int32(i)
		}
		slices.SortFunc(s.byID, func(a, b int32) int {
			x, y := s.ids[a], s.ids[b]
			if x < y {
				return -1
			}
			if x > y {
				return 1
			}
			return 0
		})
	}
	i, _ := slices.BinarySearchFunc(s.byID, id, func(a int32, id uint64) int {
		x := s.ids[a]
		if x < id {
			return -1
		}
		if x > id {
			return 1
		}
		return 0
	})
	j := i
	for j < len(s.byID) && s.ids[s.byID[j]] == id {
		j++
	}
	return s.byID[i:j]
}

// reconciler answers rounds over one set and collects what to send and
// what to ask for.
type reconciler struct {
	set          *set
	leaf, branch int
	send         []uint64 // bitset over set indices
	nsend        int
	wants        []uint64
}

func newReconciler(s *set, leaf, branch int) *reconciler {
	return &reconciler{set: s, leaf: leaf, branch: branch, send: make([]uint64, (len(s.keys)+63)/64)}
}

func (r *reconciler) mark(i int) {
	if r.send[i/64]&(1<<(i%64)) == 0 {
		r.send[i/64] |= 1 << (i % 64)
		r.nsend++
	}
}

func (r *reconciler) markAll(a, b int) {
	for i := a; i < b; i++ {
		r.mark(i)
	}
}

// emitter writes ranges, folding runs of skipped ranges into one.
type emitter struct {
	w       rangeWriter
	skipTo  *Bound
	nonSkip int
}

func (e *emitter) skip(b *Bound) { e.skipTo = b }

func (e *emitter) emit(r wireRange) {
	if e.skipTo != nil {
		e.w.add(&wireRange{Upper: *e.skipTo, Mode: modeSkip})
		e.skipTo = nil
	}
	e.w.add(&r)
	e.nonSkip++
}

// split sends keys[a:b], which end at hi, as up to k sub-ranges.
func (r *reconciler) split(e *emitter, a, b int, hi Bound, k int) {
	s := r.set
	n := b - a
	k = min(k, n)
	for j := 0; j < k; j++ {
		lo, up := a+n*j/k, a+n*(j+1)/k
		ub := hi
		if j < k-1 {
			ub = boundBetween(&s.keys[up-1], &s.keys[up])
		}
		if up-lo <= 1 {
			e.emit(wireRange{Upper: ub, Mode: modeIDs, IDs: slices.Clone(s.ids[lo:up])})
		} else {
			e.emit(wireRange{Upper: ub, Mode: modeFP, Count: uint64(up - lo), FP: s.fp(lo, up)})
		}
	}
}

// first is the opening round: the whole set, split. peerCount is what the
// peer's hello said it holds.
func (r *reconciler) first(peerCount uint64) emitter {
	var e emitter
	n := len(r.set.keys)
	switch {
	case peerCount == 0:
		r.markAll(0, n)
	case n <= r.leaf:
		e.emit(wireRange{Upper: InfBound, Mode: modeIDs, IDs: slices.Clone(r.set.ids)})
	default:
		r.split(&e, 0, n, InfBound, r.branch)
	}
	return e
}

// respond answers a round's packed ranges, one range at a time. It returns
// the answer, the bytes of short IDs the round carried, and whether it had
// any ranges at all.
func (r *reconciler) respond(packed []byte) (emitter, int64, bool, error) {
	var e emitter
	var idBytes int64
	s := r.set
	cur := 0
	rr := rangeReader{b: packed, max: MaxRanges}
	for {
		v, ok, err := rr.next()
		if err != nil {
			return e, idBytes, rr.n > 0, err
		}
		if !ok {
			break
		}
		rg := &v
		idBytes += int64(IDBytes * len(rg.IDs))
		if rg.Mode == modeSingle {
			idBytes += FPBytes
		}
		a := cur
		b := s.lower(&rg.Upper, cur)
		cur = b
		m := b - a
		switch rg.Mode {
		case modeSkip:
			e.skip(&rg.Upper)
		case modeFP:
			g := s.fp(a, b)
			c, f := rg.Count, rg.FP
			switch {
			case uint64(m) == c && g == f:
				e.skip(&rg.Upper)
			case uint64(m) == c+1 && r.markID(a, b, (g-f)&fpMask):
				e.skip(&rg.Upper)
			case c == uint64(m)+1:
				e.emit(wireRange{Upper: rg.Upper, Mode: modeSingle, FP: (f - g) & fpMask})
			case m <= r.leaf:
				e.emit(wireRange{Upper: rg.Upper, Mode: modeIDs, IDs: slices.Clone(s.ids[a:b])})
			case c <= uint64(r.leaf):
				e.emit(wireRange{Upper: rg.Upper, Mode: modeAskList})
			default:
				r.split(&e, a, b, rg.Upper, r.parts(m, c))
			}
		case modeSingle:
			switch {
			case r.markID(a, b, rg.FP):
				e.skip(&rg.Upper)
			case m <= r.leaf:
				e.emit(wireRange{Upper: rg.Upper, Mode: modeIDs, IDs: slices.Clone(s.ids[a:b])})
			default:
				r.split(&e, a, b, rg.Upper, 4)
			}
		case modeAskList:
			if m <= MaxIDList {
				e.emit(wireRange{Upper: rg.Upper, Mode: modeIDs, IDs: slices.Clone(s.ids[a:b])})
			} else {
				r.split(&e, a, b, rg.Upper, r.branch)
			}
		case modeIDs:
			r.compare(a, b, rg.IDs)
			e.skip(&rg.Upper)
		}
	}
	return e, idBytes, rr.n > 0, nil
}

// parts is how many ways to split a differing range of m entries (ours)
// against the peer's c. When the counts differ by δ, the range most likely
// holds about δ differences (one side has them): splitting 2δ ways leaves
// most parts with none or one, and a part with exactly one is settled
// from its fingerprint without another split. With equal counts nothing
// says how many differences there are, so the split is the full branch.
func (r *reconciler) parts(m int, c uint64) int {
	d := uint64(m) - c
	if uint64(m) < c {
		d = c - uint64(m)
	}
	if d == 0 || d >= uint64(r.branch) {
		return r.branch
	}
	return max(4, min(r.branch, int(2*d)))
}

// markID marks the entry in keys[a:b] whose short ID has id as its low
// FPBytes bytes, if any.
func (r *reconciler) markID(a, b int, id uint64) bool {
	for i := a; i < b; i++ {
		if r.set.ids[i]&fpMask == id {
			r.mark(i)
			return true
		}
	}
	return false
}

// compare takes the peer's full list of short IDs for keys[a:b]: entries
// of ours not listed are sent, listed entries we lack are wanted.
func (r *reconciler) compare(a, b int, theirs []uint64) {
	mine := make(map[uint64]struct{}, b-a)
	for _, id := range r.set.ids[a:b] {
		mine[id] = struct{}{}
	}
	listed := make(map[uint64]struct{}, len(theirs))
	for _, id := range theirs {
		listed[id] = struct{}{}
		if _, ok := mine[id]; !ok {
			r.wants = append(r.wants, id)
		}
	}
	for i := a; i < b; i++ {
		if _, ok := listed[r.set.ids[i]]; !ok {
			r.mark(i)
		}
	}
}

// wanted marks the entries the peer asked for by short ID. It returns how
// many asked-for IDs matched nothing.
func (r *reconciler) wanted(ids []uint64) int {
	miss := 0
	for _, id := range ids {
		idx := r.set.find(id)
		if len(idx) == 0 {
			miss++
		}
		for _, i := range idx {
			r.mark(int(i))
		}
	}
	return miss
}

// sendList returns the marked indices in order.
func (r *reconciler) sendList() []int32 {
	out := make([]int32, 0, r.nsend)
	for w, bits := range r.send {
		for bits != 0 {
			t := bits & -bits
			i := w*64 + trailingZeros(bits)
			out = append(out, int32(i))
			bits ^= t
		}
	}
	return out
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }
