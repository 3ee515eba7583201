package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/floe-north/floe/store/textfold"
	sp "github.com/floe-north/floe/syncproto"
)

// ApplyVerified implements syncproto.Store. Entries are merged in order by
// syncproto.Merge, inside badger write transactions that the store
// serializes. A transaction is committed when it nears badger's size cap,
// and the call goes on in a new one: each entry is applied atomically with
// the pruning it causes, its index rows and the state row. On error, the
// entries before the failing transaction stay applied.
func (s *Store) ApplyVerified(ctx context.Context, entries []sp.Entry) (sp.ApplyResult, error) {
	var total sp.ApplyResult
	if err := ctx.Err(); err != nil {
		return total, err
	}
	release, err := s.acquire()
	if err != nil {
		return total, err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	committed := false
	for len(entries) > 0 {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if err := checkFree(s.dataDir, s.dir, &s.opts, committed); err != nil {
			return total, err
		}
		res, n, err := s.applyTxn(entries)
		if err != nil {
			return total, s.writeError(err, committed)
		}
		total.Add(res)
		committed = true
		entries = entries[n:]
	}
	// One sync for the whole call: what ApplyVerified returns as applied
	// is on disk (Floe's sync acknowledges it), at one fsync per call
	// rather than per transaction.
	if err := s.db.Sync(); err != nil {
		return total, s.writeError(err, committed)
	}
	return total, nil
}

// applyTxn applies as many of entries as fit in one transaction and
// commits them. It returns how many it applied.
func (s *Store) applyTxn(entries []sp.Entry) (sp.ApplyResult, int, error) {
	limit := len(entries)
	for {
		res, n, err := s.tryApplyTxn(entries[:limit])
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return res, n, err
		}
		if n == 0 {
			e := &entries[0]
			return res, 0, fmt.Errorf("the %s entry for record %s (field %q) changes more rows than one transaction can hold (%d KiB); it was not applied",
				e.Kind, e.Record.Short(), e.Field, s.db.MaxBatchSize()>>10)
		}
		// The entries are merged deterministically: the first n fit
		// before, and will fit again.
		limit = n
	}
}

// txnFillPercent is how full, in percent of badger's cap, a transaction may
// grow before it is committed and the call goes on in a new one. Well short
// of the cap, so that redoing a transaction (see applyTxn) stays rare; a
// variable so that tests can make redoing the rule.
var txnFillPercent int64 = 75

// tryApplyTxn merges entries in one transaction and commits. If the
// transaction grows too big, it discards it and returns badger.ErrTxnTooBig
// and the number of entries that fitted.
func (s *Store) tryApplyTxn(entries []sp.Entry) (res sp.ApplyResult, n int, err error) {
	defer func() {
		// Badger can panic on damaged data while the merge reads (see
		// view); the transaction is discarded, and nothing is written.
		if r := recover(); r != nil {
			if msg, ok := r.(string); ok && strings.HasPrefix(msg, "bug:") {
				panic(r)
			}
			res, n, err = sp.ApplyResult{}, 0, s.integrity("a merge", "the database failed while reading: %v", r)
		}
	}()
	m := &mergeTx{
		s:       s,
		txn:     s.db.NewTransaction(true),
		scanned: map[string][]string{},
		touched: map[string]map[string]bool{},
		puts:    map[sp.EntryHash]*sp.Entry{},
	}
	defer m.txn.Discard()
	// Writes are serialized, so this read-only transaction sees the same
	// snapshot as m.txn.
	m.snap = s.db.NewTransaction(false)
	defer m.snap.Discard()
	if m.state, err = s.readState(m.txn); err != nil {
		return res, 0, err
	}
	maxCount := s.db.MaxBatchCount() * txnFillPercent / 100
	maxSize := s.db.MaxBatchSize() * txnFillPercent / 100
	for i := range entries {
		r, err := sp.Merge(m, entries[i:i+1])
		if err == nil {
			err = m.updateConflict(&entries[i], r)
		}
		if err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return sp.ApplyResult{}, i, err
			}
			return sp.ApplyResult{}, 0, err
		}
		res.Add(r)
		n++
		if m.count >= maxCount || m.size >= maxSize {
			break
		}
	}
	k, v := s.sealRow(metaState, &m.state)
	if err := m.txn.Set(k, v); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) {
			return sp.ApplyResult{}, n - 1, err
		}
		return sp.ApplyResult{}, 0, err
	}
	if err := m.txn.Commit(); err != nil {
		return sp.ApplyResult{}, 0, err
	}
	return res, n, nil
}

// mergeTx is the syncproto.MergeTx of one badger write transaction.
//
// Badger sorts all of a transaction's pending writes each time an iterator
// is opened on it, which would make a transaction of n entries cost
// O(n² log n). So prefix scans read a read-only snapshot instead, once per
// record, and the 'r' rows this transaction wrote or deleted are laid over
// it from touched. Point reads go to txn, which sees its own writes.
type mergeTx struct {
	s    *Store
	txn  *badger.Txn // every write, and point reads
	snap *badger.Txn // prefix scans
	// scanned holds, per record prefix, the record's 'r' keys in snap.
	scanned map[string][]string
	// touched holds, per record prefix, the 'r' keys written (true) or
	// deleted (false) in this transaction.
	touched map[string]map[string]bool
	// puts holds the entries put in this transaction.
	puts  map[sp.EntryHash]*sp.Entry
	state stateRow
	// count and size follow badger's own accounting of the transaction.
	count, size int64
}

var _ sp.MergeTx = (*mergeTx)(nil)

func (m *mergeTx) set(k, v []byte) error {
	if err := m.txn.Set(k, v); err != nil {
		return err
	}
	m.count++
	m.size += int64(len(k)+len(v)) + 12
	return nil
}

func (m *mergeTx) del(k []byte) error {
	if err := m.txn.Delete(k); err != nil {
		return err
	}
	m.count++
	m.size += int64(len(k)) + 12
	return nil
}

func (m *mergeTx) touch(e *sp.Entry, rk []byte, present bool) {
	rp := string(recordPrefix(e.Collection, e.Record))
	t := m.touched[rp]
	if t == nil {
		t = map[string]bool{}
		m.touched[rp] = t
	}
	t[string(rk)] = present
}

// snapRows returns the 'r' keys of a record in the snapshot, checked. A
// merge reads a record's tombstone and then a field's siblings: one scan
// of the record serves both, and every later entry of the record in this
// transaction.
func (m *mergeTx) snapRows(rp string) ([]string, error) {
	if keys, ok := m.scanned[rp]; ok {
		return keys, nil
	}
	var keys []string
	it := m.snap.NewIterator(badger.IteratorOptions{Prefix: []byte(rp)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if err := m.s.checkTag(item, "the record index"); err != nil {
			return nil, err
		}
		keys = append(keys, string(item.Key()))
	}
	m.scanned[rp] = keys
	return keys, nil
}

// rows returns the 'r' rows of a record under prefix p, as this
// transaction sees them, in key order.
func (m *mergeTx) rows(coll string, id sp.RecordID, p []byte) ([]recordRow, error) {
	rp := string(recordPrefix(coll, id))
	snap, err := m.snapRows(rp)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, k := range snap {
		if strings.HasPrefix(k, string(p)) {
			present[k] = true
		}
	}
	for k, ok := range m.touched[rp] {
		if strings.HasPrefix(k, string(p)) {
			present[k] = ok
		}
	}
	keys := make([]string, 0, len(present))
	for k, ok := range present {
		if ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]recordRow, 0, len(keys))
	for _, k := range keys {
		row, ok := parseRecordKey([]byte(k))
		if !ok || row.coll != coll || row.id != id {
			return nil, m.s.integrity("the record index", "a key does not parse")
		}
		out = append(out, row)
	}
	return out, nil
}

func (m *mergeTx) rowEntry(row recordRow) (sp.Held, error) {
	if e, ok := m.puts[row.hash]; ok {
		return sp.Held{Hash: row.hash, Entry: *e}, nil
	}
	e, err := m.s.recordRowEntry(m.txn, row)
	return sp.Held{Hash: row.hash, Entry: e}, err
}

// Tombstone implements syncproto.MergeTx.
func (m *mergeTx) Tombstone(coll string, id sp.RecordID) (*sp.Held, error) {
	rows, err := m.rows(coll, id, fieldPrefix(coll, id, ""))
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	h, err := m.rowEntry(rows[0])
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// Siblings implements syncproto.MergeTx.
func (m *mergeTx) Siblings(coll string, id sp.RecordID, field string) ([]sp.Held, error) {
	rows, err := m.rows(coll, id, fieldPrefix(coll, id, field))
	if err != nil {
		return nil, err
	}
	out := make([]sp.Held, 0, len(rows))
	for _, row := range rows {
		h, err := m.rowEntry(row)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Put implements syncproto.MergeTx: the entry and its 'r', 'o' and 'x'
// rows.
func (m *mergeTx) Put(e *sp.Entry, h sp.EntryHash) error {
	ek := entryKey(h)
	if err := m.set(ek, m.s.entryValue(ek, e.Encode())); err != nil {
		return err
	}
	rk := recordKey(e, h)
	if err := m.set(rk, m.s.tags.sum(nil, rk, nil)); err != nil {
		return err
	}
	m.touch(e, rk, true)
	sk := syncRowKey(sp.MakeSyncKey(e.Time, h))
	if err := m.set(sk, m.s.syncRowValue(sk, e)); err != nil {
		return err
	}
	for _, t := range m.s.terms(e) {
		xk := searchKey(t, e.Record, h)
		if err := m.set(xk, m.s.tags.sum(nil, xk, nil)); err != nil {
			return err
		}
	}
	m.state.add(h, e.Time)
	c := *e
	m.puts[h] = &c
	return nil
}

// Delete implements syncproto.MergeTx: the entry and all its index rows.
func (m *mergeTx) Delete(e *sp.Entry, h sp.EntryHash) error {
	ek := entryKey(h)
	if _, ok := m.puts[h]; !ok {
		_, err := m.txn.Get(ek)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return m.s.readError("entry "+h.Short(), err)
		}
	}
	if err := m.del(ek); err != nil {
		return err
	}
	rk := recordKey(e, h)
	if err := m.del(rk); err != nil {
		return err
	}
	m.touch(e, rk, false)
	if err := m.del(syncRowKey(sp.MakeSyncKey(e.Time, h))); err != nil {
		return err
	}
	for _, t := range m.s.terms(e) {
		if err := m.del(searchKey(t, e.Record, h)); err != nil {
			return err
		}
	}
	m.state.remove(h)
	delete(m.puts, h)
	return nil
}

// updateConflict keeps the 'c' row of the field of e, after e was merged
// with result r: a conflict appears only when an entry is added, and goes
// only when entries are pruned.
func (m *mergeTx) updateConflict(e *sp.Entry, r sp.ApplyResult) error {
	if e.Kind != sp.KindValue || !conflictField(e.Field) || (r.Added == 0 && r.Pruned == 0) {
		return nil
	}
	rows, err := m.rows(e.Collection, e.Record, fieldPrefix(e.Collection, e.Record, e.Field))
	if err != nil {
		return err
	}
	ck := conflictKey(e.Collection, e.Record, e.Field)
	switch {
	case len(rows) >= 2 && r.Added > 0:
		return m.set(ck, m.s.tags.sum(nil, ck, nil))
	case len(rows) < 2 && r.Pruned > 0:
		return m.del(ck)
	}
	return nil
}

// DeleteRecord implements syncproto.MergeTx.
func (m *mergeTx) DeleteRecord(coll string, id sp.RecordID) (int, error) {
	rows, err := m.rows(coll, id, recordPrefix(coll, id))
	if err != nil {
		return 0, err
	}
	// The record's conflicts go with it.
	perField := map[string]int{}
	for _, row := range rows {
		perField[row.field]++
	}
	for field, c := range perField {
		if c >= 2 && conflictField(field) {
			if err := m.del(conflictKey(coll, id, field)); err != nil {
				return 0, err
			}
		}
	}
	n := 0
	for _, row := range rows {
		h, err := m.rowEntry(row)
		if err != nil {
			return n, err
		}
		if err := m.Delete(&h.Entry, h.Hash); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// terms are the search terms of an entry: the folded terms of the text
// Options.IndexText gives for it.
func (s *Store) terms(e *sp.Entry) []string {
	if s.opts.IndexText == nil || e.Kind == sp.KindTombstone {
		return nil
	}
	text := s.opts.IndexText(e)
	if text == "" {
		return nil
	}
	ts := textfold.Terms(text)
	out := ts[:0]
	for _, t := range ts {
		if validTerm(t) {
			out = append(out, t)
		}
	}
	return out
}
