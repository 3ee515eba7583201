package syncproto

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
)

// MemStore is an in-memory Store. It is the reference the badger store is
// checked against, and what property tests and simulations run on.
type MemStore struct {
	mu      sync.RWMutex
	entries map[EntryHash]Entry
	fields  map[fieldKey]map[EntryHash]struct{}
	records map[recordKey]map[EntryHash]struct{}
	tombs   map[recordKey]EntryHash
	digest  Digest
	last    HLC
}

type recordKey struct {
	coll string
	id   RecordID
}

type fieldKey struct {
	recordKey
	field string
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		entries: map[EntryHash]Entry{},
		fields:  map[fieldKey]map[EntryHash]struct{}{},
		records: map[recordKey]map[EntryHash]struct{}{},
		tombs:   map[recordKey]EntryHash{},
	}
}

// ApplyVerified implements Store.
func (m *MemStore) ApplyVerified(ctx context.Context, entries []Entry) (ApplyResult, error) {
	if err := ctx.Err(); err != nil {
		return ApplyResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// memTx never fails, so a call is applied whole (atomic per call).
	return Merge(memTx{m}, entries)
}

type memTx struct{ m *MemStore }

func (t memTx) Tombstone(coll string, id RecordID) (*Held, error) {
	h, ok := t.m.tombs[recordKey{coll, id}]
	if !ok {
		return nil, nil
	}
	return &Held{Hash: h, Entry: t.m.entries[h]}, nil
}

func (t memTx) Siblings(coll string, id RecordID, field string) ([]Held, error) {
	set := t.m.fields[fieldKey{recordKey{coll, id}, field}]
	out := make([]Held, 0, len(set))
	for h := range set {
		out = append(out, Held{Hash: h, Entry: t.m.entries[h]})
	}
	return out, nil
}

func (t memTx) Put(e *Entry, h EntryHash) error {
	m := t.m
	m.entries[h] = *e
	rk := recordKey{e.Collection, e.Record}
	addTo(m.records, rk, h)
	if e.Kind == KindTombstone {
		m.tombs[rk] = h
	} else {
		addTo(m.fields, fieldKey{rk, e.Field}, h)
	}
	m.digest.Add(h)
	m.last = max(m.last, e.Time)
	return nil
}

func addTo[K comparable](m map[K]map[EntryHash]struct{}, k K, h EntryHash) {
	s := m[k]
	if s == nil {
		s = map[EntryHash]struct{}{}
		m[k] = s
	}
	s[h] = struct{}{}
}

func (t memTx) Delete(e *Entry, h EntryHash) error {
	m := t.m
	if _, ok := m.entries[h]; !ok {
		return nil
	}
	delete(m.entries, h)
	rk := recordKey{e.Collection, e.Record}
	delete(m.records[rk], h)
	if e.Kind == KindTombstone {
		if m.tombs[rk] == h {
			delete(m.tombs, rk)
		}
	} else {
		fk := fieldKey{rk, e.Field}
		delete(m.fields[fk], h)
		if len(m.fields[fk]) == 0 {
			delete(m.fields, fk)
		}
	}
	m.digest.Remove(h)
	return nil
}

func (t memTx) DeleteRecord(coll string, id RecordID) (int, error) {
	rk := recordKey{coll, id}
	n := 0
	for h := range t.m.records[rk] {
		e := t.m.entries[h]
		if err := t.Delete(&e, h); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, h EntryHash) (Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[h]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// Record implements Store.
func (m *MemStore) Record(_ context.Context, coll string, id RecordID) ([]Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	set := m.records[recordKey{coll, id}]
	if len(set) == 0 {
		return nil, ErrNotFound
	}
	out := make([]Entry, 0, len(set))
	for h := range set {
		out = append(out, m.entries[h])
	}
	SortRecordEntries(out)
	return out, nil
}

// SortRecordEntries orders a record's entries as Store.Record returns them:
// by field path, then hash.
func SortRecordEntries(es []Entry) {
	type kv struct {
		e Entry
		h EntryHash
	}
	tmp := make([]kv, len(es))
	for i := range es {
		tmp[i] = kv{es[i], es[i].Hash()}
	}
	slices.SortFunc(tmp, func(a, b kv) int {
		if c := cmp.Compare(a.e.Field, b.e.Field); c != 0 {
			return c
		}
		return a.h.Compare(b.h)
	})
	for i := range tmp {
		es[i] = tmp[i].e
	}
}

// Records implements Store.
func (m *MemStore) Records(ctx context.Context, coll string, start RecordID, fn func(RecordID, bool) error) error {
	m.mu.RLock()
	var ids []RecordID
	deleted := map[RecordID]bool{}
	for rk, set := range m.records {
		if rk.coll == coll && len(set) > 0 && bytes.Compare(rk.id[:], start[:]) >= 0 {
			ids = append(ids, rk.id)
			_, deleted[rk.id] = m.tombs[rk]
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(ids, func(a, b RecordID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(id, deleted[id]); err != nil {
			return err
		}
	}
	return nil
}

// ScanSyncOrder implements Store.
func (m *MemStore) ScanSyncOrder(ctx context.Context, after *SyncKey, fn func(SyncKey, Entry) error) error {
	m.mu.RLock()
	keys := make([]SyncKey, 0, len(m.entries))
	byKey := make(map[SyncKey]Entry, len(m.entries))
	for h, e := range m.entries {
		k := MakeSyncKey(e.Time, h)
		if after != nil && bytes.Compare(k[:], after[:]) <= 0 {
			continue
		}
		keys = append(keys, k)
		byKey[k] = e
	}
	m.mu.RUnlock()
	slices.SortFunc(keys, func(a, b SyncKey) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, byKey[k]); err != nil {
			return err
		}
	}
	return nil
}

// Summary implements Store.
func (m *MemStore) Summary(context.Context) (Summary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Summary{Digest: m.digest, LastWrite: m.last}, nil
}

// Dump is the whole state as bytes: the encodings of the kept entries in
// sync order. Two stores with the same merged state dump the same bytes.
func (m *MemStore) Dump() []byte {
	var buf bytes.Buffer
	_ = m.ScanSyncOrder(context.Background(), nil, func(_ SyncKey, e Entry) error {
		buf.Write(e.Encode())
		return nil
	})
	return buf.Bytes()
}
