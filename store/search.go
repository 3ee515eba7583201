package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/floe-north/floe/store/textfold"
	sp "github.com/floe-north/floe/syncproto"
)

// Search finds the records whose indexed text (see Options.IndexText)
// matches query. The query is folded into terms by textfold.QueryTerms, and
// each term matches as a prefix of a stored term ("inuk" finds
// "inuktitut"). A record must match every term. Records that match more
// terms exactly come first, then records in ID order. limit <= 0 means no
// limit. An empty query finds nothing.
func (s *Store) Search(ctx context.Context, query string, limit int) ([]sp.RecordID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var terms []string
	for _, t := range textfold.QueryTerms(query) {
		if validTerm(t) {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return nil, nil
	}
	// Longer terms usually match fewer postings: scan them first, so the
	// candidate set shrinks early.
	slices.SortStableFunc(terms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()

	// First, the records that have every term exactly rank highest, in ID
	// order. A join of the terms' exact postings, which are stored in
	// record order, finds the first limit of them and stops: a query of
	// common words ends after a few dozen seeks instead of reading every
	// posting of every word.
	if limit > 0 {
		var ids []sp.RecordID
		err := s.view("the search index", func(txn *badger.Txn) error {
			var err error
			ids, err = s.exactJoin(ctx, txn, terms, limit)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(ids) == limit {
			return ids, nil
		}
	}

	// Otherwise, the full scan: every posting of every term, prefix
	// matches too, ranked by exact matches and then ID.
	// cand maps each record that matched every term so far to the number
	// of terms it matched exactly, and to one posting per term that made
	// it match. Tags are checked only on the postings of the records
	// returned, after the scan: checking every posting scanned was a third
	// of a search's time.
	var cand map[sp.RecordID]*match
	err = s.view("the search index", func(txn *badger.Txn) error {
		n := 0
		for _, q := range terms {
			found, err := s.postings(ctx, txn, q, cand, &n)
			if err != nil {
				return err
			}
			if cand == nil {
				cand = found
			} else {
				for id, c := range cand {
					if f, ok := found[id]; ok {
						c.exact += f.exact
						c.proofs = append(c.proofs, f.proofs...)
					} else {
						delete(cand, id)
					}
				}
			}
			if len(cand) == 0 {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type hit struct {
		id sp.RecordID
		m  *match
	}
	hits := make([]hit, 0, len(cand))
	for id, c := range cand {
		hits = append(hits, hit{id, c})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(b.m.exact, a.m.exact); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	if len(hits) == 0 {
		return nil, nil
	}
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	for _, h := range hits {
		for _, p := range h.m.proofs {
			if !s.tags.check(p.tag, p.key, nil) {
				return nil, s.integrity("the search index", "a row's tag does not match")
			}
		}
	}
	out := make([]sp.RecordID, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out, nil
}

// match is what the scan knows of one candidate record.
type match struct {
	exact  int
	proofs []posting
}

// posting is a copy of a posting row, to check its tag later.
type posting struct {
	key, tag []byte
}

// postings reads the postings of every stored term that starts with q, and
// returns the records they name, each with exact 1 if it has q itself as a
// term and 0 if only longer ones, and one posting as proof. With cand set,
// only records in cand are returned. n counts rows read, for checks of ctx.
func (s *Store) postings(ctx context.Context, txn *badger.Txn, q string, cand map[sp.RecordID]*match, n *int) (map[sp.RecordID]*match, error) {
	found := map[sp.RecordID]*match{}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: searchPrefix(q)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if *n++; *n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		item := it.Item()
		row, ok := parseSearchKey(item.Key())
		if !ok || !strings.HasPrefix(row.term, q) {
			return nil, s.integrity("the search index", "a key does not parse")
		}
		if cand != nil {
			if _, in := cand[row.id]; !in {
				continue
			}
		}
		exact := 0
		if row.term == q {
			exact = 1
		}
		m := found[row.id]
		if m != nil && (m.exact >= exact) {
			continue
		}
		tag, err := item.ValueCopy(nil)
		if err != nil {
			return nil, s.readError("the search index", err)
		}
		found[row.id] = &match{exact: exact, proofs: []posting{{item.KeyCopy(nil), tag}}}
	}
	return found, nil
}

// exactJoin returns, in ID order, the first limit records that have every
// one of terms as an exact term: a leapfrog join over the terms' exact
// postings ('x' term 0x00 record hash, so in record order for each term).
// It checks the tags of the postings behind the records it returns.
func (s *Store) exactJoin(ctx context.Context, txn *badger.Txn, terms []string, limit int) ([]sp.RecordID, error) {
	type cursor struct {
		prefix []byte
		it     *badger.Iterator
	}
	cs := make([]cursor, len(terms))
	for i, t := range terms {
		p := append(searchPrefix(t), 0)
		cs[i] = cursor{p, txn.NewIterator(badger.IteratorOptions{Prefix: p})}
		defer cs[i].it.Close()
	}
	// at reads the record a cursor is on, after checking its key.
	at := func(c *cursor) (sp.RecordID, bool, error) {
		if !c.it.Valid() {
			return sp.RecordID{}, false, nil
		}
		row, ok := parseSearchKey(c.it.Item().Key())
		if !ok {
			return sp.RecordID{}, false, s.integrity("the search index", "a key does not parse")
		}
		return row.id, true, nil
	}
	seek := func(c *cursor, id sp.RecordID) {
		c.it.Seek(append(append([]byte{}, c.prefix...), id[:]...))
	}
	var out []sp.RecordID
	var target sp.RecordID
	for i := range cs {
		cs[i].it.Rewind()
	}
	for n := 0; len(out) < limit; n++ {
		if n%ctxEvery == ctxEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		agree := true
		for i := range cs {
			id, ok, err := at(&cs[i])
			if err != nil || !ok {
				return out, err
			}
			switch c := bytes.Compare(id[:], target[:]); {
			case c < 0:
				seek(&cs[i], target)
				agree = false
			case c > 0:
				target = id
				agree = false
			}
		}
		if !agree {
			continue
		}
		for i := range cs {
			item := cs[i].it.Item()
			var ok bool
			if err := item.Value(func(v []byte) error {
				ok = s.tags.check(v, item.Key(), nil)
				return nil
			}); err != nil {
				return nil, s.readError("the search index", err)
			}
			if !ok {
				return nil, s.integrity("the search index", "a row's tag does not match")
			}
		}
		out = append(out, target)
		next, more := nextRecordID(target)
		if !more {
			return out, nil
		}
		target = next
		for i := range cs {
			seek(&cs[i], target)
		}
	}
	return out, nil
}

// indexID names what the search index is built with: textfold's rules and
// the IndexText policy.
func (s *Store) indexID() string {
	return "textfold/" + textfold.Version + " " + s.opts.IndexVersion
}

// checkIndex rebuilds the search index if it was built with other rules or
// another policy than this store is opened with.
func (s *Store) checkIndex() error {
	var built string
	err := s.view("the index row", func(txn *badger.Txn) error {
		b, err := s.getMetaTxn(txn, metaIndex)
		if errors.Is(err, sp.ErrNotFound) {
			return nil // built before the row existed: rebuild
		}
		if err != nil {
			return err
		}
		var r indexRow
		if err := sp.UnmarshalStrict(b, &r); err != nil {
			return s.integrity("the index row", "%v", err)
		}
		built = r.ID
		return nil
	})
	if err != nil || built == s.indexID() {
		return err
	}
	return s.rebuildIndex(built)
}

// rebuildIndex drops every search posting and indexes every kept entry
// again. It writes the index row last, so an interrupted rebuild is done
// again from the start at the next open.
func (s *Store) rebuildIndex(built string) error {
	s.log.Info("rebuilding the search index", "was", built, "now", s.indexID())
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := s.view("the search index", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSearch}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		it2 := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEntry}})
		defer it2.Close()
		for it2.Rewind(); it2.Valid(); it2.Next() {
			item := it2.Item()
			h, ok := parseEntryKey(item.Key())
			if !ok {
				return s.integrity("an entry key", "it does not parse")
			}
			var e sp.Entry
			err := item.Value(func(v []byte) error {
				var err error
				e, err = s.decodeEntryValue(h, item.Key(), v)
				return err
			})
			if err != nil {
				return err
			}
			for _, t := range s.terms(&e) {
				xk := searchKey(t, e.Record, h)
				if err := wb.Set(xk, s.tags.sum(nil, xk, nil)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = s.putStoreRow(metaIndex, &indexRow{ID: s.indexID()})
	}
	if err != nil {
		return fmt.Errorf("rebuilding the search index: %w", err)
	}
	return nil
}
