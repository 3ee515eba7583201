package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	sp "github.com/floe-north/floe/syncproto"
)

// ChangesFrom turns a field map (as sample data and spreadsheets give it)
// into changes: strings as they are, booleans and integers as text, and
// []string as a whole set.
func ChangesFrom(fields map[string]any) ([]Change, error) {
	paths := make([]string, 0, len(fields))
	for p := range fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]Change, 0, len(paths))
	for _, p := range paths {
		var v string
		switch x := fields[p].(type) {
		case string:
			v = x
		case bool, int, int64, uint64:
			v = fmt.Sprint(x)
		case []string:
			v = strings.Join(x, ",")
		default:
			return nil, fmt.Errorf("field %q: unsupported value type %T", p, x)
		}
		out = append(out, Change{Field: p, Value: v})
	}
	return out, nil
}

// AddBatch creates many records of one collection in one write, for imports.
// Either all are created or, on a validation error, none.
func (n *Node) AddBatch(ctx context.Context, coll string, records [][]Change) ([]sp.RecordID, error) {
	schema, err := SchemaFor(coll)
	if err != nil {
		return nil, err
	}
	if n.key == nil {
		return nil, ErrLocked
	}
	area := n.DefaultArea(coll)
	var all []sp.Entry
	ids := make([]sp.RecordID, len(records))
	for i, changes := range records {
		es, err := fieldWrites(schema, nil, changes)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		if err := checkRequired(schema, es); err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		ids[i] = sp.NewRecordIDIn(coll, area)
		for j := range es {
			e := &es[j]
			e.Collection, e.Record, e.Area, e.Author = coll, ids[i], area, n.id
			if err := n.checkLocalWrite(e); err != nil {
				return nil, err
			}
			if isSealedField(coll, e.Field) {
				if e.Value, err = n.sealValue(coll, ids[i], e.Field, e.Value); err != nil {
					return nil, fmt.Errorf("record %d: %w", i+1, err)
				}
			}
		}
		all = append(all, es...)
	}
	// New records need no causal context, so only stamping holds the
	// lock: two imports can sign one batch while the store applies
	// another.
	n.mu.Lock()
	now := n.now()
	if err := n.checkClock(now); err != nil {
		n.mu.Unlock()
		return nil, err
	}
	for i := range all {
		all[i].Time = n.clock.Now(now)
	}
	n.mu.Unlock()
	signAll(all, n.key)
	if _, err := n.st.ApplyVerified(ctx, all); err != nil {
		return nil, err
	}
	return ids, nil
}

// signAll signs entries on every core: signing is most of an import's work.
func signAll(es []sp.Entry, key ed25519.PrivateKey) {
	parallel(len(es), func(i int) error { es[i].Sign(key); return nil })
}

// parallel runs fn for 0..n-1 on every core and returns its errors by
// index. Signing and verifying are most of the work of an import or a
// merge, and they are independent per entry.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	workers := runtime.GOMAXPROCS(0)
	if n < 64 || workers == 1 {
		for i := range n {
			errs[i] = fn(i)
		}
		return errs
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	return errs
}

func checkRequired(schema *Schema, es []sp.Entry) error {
	for _, f := range schema.Fields {
		if !f.Required {
			continue
		}
		if !slices.ContainsFunc(es, func(e sp.Entry) bool { t, _, _ := splitPath(e.Field); return t == f.Name }) {
			return &FieldError{schema.Collection, f.Name, "is required (" + f.Help + ")"}
		}
	}
	return nil
}
