package store

import (
	"bytes"
	"cmp"
	"context"
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

	// cand maps each record that matched every term so far to the number
	// of terms it matched exactly.
	var cand map[sp.RecordID]int
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
						cand[id] = c + f
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
		id    sp.RecordID
		exact int
	}
	hits := make([]hit, 0, len(cand))
	for id, c := range cand {
		hits = append(hits, hit{id, c})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(b.exact, a.exact); c != 0 {
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
	out := make([]sp.RecordID, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out, nil
}

// postings reads the postings of every stored term that starts with q, and
// returns the records they name, each with 1 if it has q itself as a term
// and 0 if only longer ones. With cand set, only records in cand are
// returned, and only their postings are checked. n counts rows read, for
// checks of ctx.
func (s *Store) postings(ctx context.Context, txn *badger.Txn, q string, cand map[sp.RecordID]int, n *int) (map[sp.RecordID]int, error) {
	found := map[sp.RecordID]int{}
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
		if err := s.checkTag(item, "the search index"); err != nil {
			return nil, err
		}
		exact := 0
		if row.term == q {
			exact = 1
		}
		found[row.id] = max(found[row.id], exact)
	}
	return found, nil
}
