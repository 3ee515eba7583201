package syncproto

// The merge. The state of a store is a set of entries; merging is set union
// followed by pruning down to the maximal entries:
//
//   - A record with a tombstone keeps only that tombstone. Of two tombstones
//     for one record the older, by (time, author, hash), is kept.
//   - Tally entries are kept per (field, author): the newest wins.
//   - Value entries form a multi-value register per field. An entry is
//     pruned when another entry's causal context covers it (that writer had
//     seen it). Entries that nobody has seen yet stay, as conflict siblings;
//     the newest by (time, author, hash) is the field's value.
//
// Writers build contexts with Context, which joins the contexts of all the
// siblings they saw, so "covers" is transitive and pruning a set in any
// order and grouping gives the same result.

// Newer reports whether a is ordered after b by (time, author, hash).
func Newer(a, b *Entry) bool { return newer(a, a.Hash(), b, b.Hash()) }

func newer(a *Entry, ah EntryHash, b *Entry, bh EntryHash) bool {
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	if c := compareBytes(a.Author[:], b.Author[:]); c != 0 {
		return c > 0
	}
	return ah.Compare(bh) > 0
}

// Covers reports whether e's causal context covers the entry o: the writer
// of e had seen o.
func Covers(e, o *Entry) bool {
	for _, d := range e.Context {
		if d.Author == o.Author {
			return d.Time >= o.Time
		}
	}
	return false
}

// Context is the causal context for a new write to a field whose current
// entries are siblings: the join of their contexts and their own dots.
func Context(siblings []Entry) []Dot {
	m := map[DeviceID]HLC{}
	for i := range siblings {
		s := &siblings[i]
		for _, d := range s.Context {
			m[d.Author] = max(m[d.Author], d.Time)
		}
		m[s.Author] = max(m[s.Author], s.Time)
	}
	out := make([]Dot, 0, len(m))
	for a, t := range m {
		out = append(out, Dot{Author: a, Time: t})
	}
	sortDots(out)
	return out
}

func sortDots(d []Dot) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && compareBytes(d[j-1].Author[:], d[j].Author[:]) > 0; j-- {
			d[j-1], d[j] = d[j], d[j-1]
		}
	}
}

// DropReason says why an entry was not kept.
type DropReason uint8

const (
	Kept          DropReason = iota
	Duplicate                // the store already holds it
	Superseded               // a kept entry has seen it, or is a newer count
	RecordDeleted            // its record has a tombstone
)

func (r DropReason) String() string {
	return [...]string{"kept", "duplicate", "superseded", "record deleted"}[r]
}

// Existing is what a store holds that a new entry merges with.
type Existing struct {
	// Tombstone is the record's tombstone, if it has one.
	Tombstone *Held
	// Siblings are the current entries of the new entry's field: for a
	// value entry, the field's kept entries; for a tally entry, the kept
	// entry of the same author, if any.
	Siblings []Held
}

// Held is an entry that a store keeps, with its hash.
type Held struct {
	Hash  EntryHash
	Entry Entry
}

// Decision is what a store must do with a new entry.
type Decision struct {
	Drop DropReason
	// Prune lists kept entries that the new entry replaces.
	Prune []EntryHash
	// PruneRecord means every other entry of the record goes: the new
	// entry is its first tombstone.
	PruneRecord bool
}

// Decide applies the merge rules to one new entry e, whose hash is h.
func Decide(ex Existing, e *Entry, h EntryHash) Decision {
	if e.Kind == KindTombstone {
		if t := ex.Tombstone; t != nil {
			if t.Hash == h {
				return Decision{Drop: Duplicate}
			}
			if newer(e, h, &t.Entry, t.Hash) {
				return Decision{Drop: Superseded}
			}
			return Decision{Prune: []EntryHash{t.Hash}}
		}
		return Decision{PruneRecord: true}
	}
	if ex.Tombstone != nil {
		return Decision{Drop: RecordDeleted}
	}
	var d Decision
	for i := range ex.Siblings {
		s, sh := &ex.Siblings[i].Entry, ex.Siblings[i].Hash
		if sh == h {
			return Decision{Drop: Duplicate}
		}
		switch e.Kind {
		case KindTally:
			if s.Author != e.Author {
				continue
			}
			// The newer by (time, author, hash) wins, so that two
			// counts with one time (a cloned key) merge alike
			// everywhere.
			if !newer(e, h, s, sh) {
				return Decision{Drop: Superseded}
			}
			d.Prune = append(d.Prune, sh)
		case KindValue:
			if Covers(s, e) {
				return Decision{Drop: Superseded}
			}
			if Covers(e, s) {
				d.Prune = append(d.Prune, sh)
			}
		}
	}
	return d
}
