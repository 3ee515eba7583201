package syncproto_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

var bg = context.Background()

func merged(t *testing.T, batches ...[]sp.Entry) *sp.MemStore {
	t.Helper()
	s := sp.NewMemStore()
	for _, b := range batches {
		if _, err := s.ApplyVerified(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func subset(rng *rand.Rand, u []sp.Entry) []sp.Entry {
	var out []sp.Entry
	for _, e := range u {
		switch rng.IntN(4) {
		case 0: // left out
		case 1: // twice
			out = append(out, e, e)
		default:
			out = append(out, e)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func stateOf(s *sp.MemStore) ([]byte, [32]byte) {
	sum, _ := s.Summary(bg)
	return s.Dump(), sum.Digest.StateHash()
}

func sameState(t *testing.T, what string, a, b *sp.MemStore) {
	t.Helper()
	da, ha := stateOf(a)
	db, hb := stateOf(b)
	if !bytes.Equal(da, db) || ha != hb {
		t.Fatalf("%s: states differ (%d vs %d bytes, hash %x vs %x)", what, len(da), len(db), ha[:6], hb[:6])
	}
}

// The merge is a join: commutative, associative and idempotent, whatever
// order entries arrive in and however many times.
func TestMergeLaws(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			h := storetest.RandomHistory(rng, 2+rng.IntN(4), 1+rng.IntN(8), 50+rng.IntN(250))
			a, b, c := subset(rng, h.Universe), subset(rng, h.Universe), subset(rng, h.Universe)

			// Commutative: a then b equals b then a.
			sameState(t, "a⊔b vs b⊔a", merged(t, a, b), merged(t, b, a))
			// Associative: (a⊔b)⊔c equals a⊔(b⊔c), where b⊔c is merged
			// first and its state handed over.
			bc := storetest.All(merged(t, b, c))
			sameState(t, "(a⊔b)⊔c vs a⊔(b⊔c)", merged(t, a, b, c), merged(t, a, bc))
			ab := storetest.All(merged(t, a, b))
			sameState(t, "(a⊔b)⊔c vs c⊔(a⊔b)", merged(t, ab, c), merged(t, c, ab))
			// Idempotent: merging a state into itself changes nothing.
			abc := merged(t, a, b, c)
			sameState(t, "x⊔x vs x", abc, merged(t, a, b, c, storetest.All(abc), a))
			// Order inside one batch and batch sizes do not matter.
			all := append(append(append([]sp.Entry{}, a...), b...), c...)
			one := merged(t, all)
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			var pieces [][]sp.Entry
			for len(all) > 0 {
				n := min(len(all), 1+rng.IntN(7))
				pieces = append(pieces, all[:n])
				all = all[n:]
			}
			sameState(t, "one batch vs shuffled pieces", one, merged(t, pieces...))
		})
	}
}

// Against a reference model that tracks causal history explicitly:
// concurrent writes are never lost, and superseded ones are never kept or
// reported as conflicts.
func TestMergeMatchesCausalReference(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2))
		h := storetest.RandomHistory(rng, 2+rng.IntN(4), 1+rng.IntN(6), 50+rng.IntN(250))
		delivered := subset(rng, h.Universe)
		got := merged(t, delivered)

		want := reference(h.Past, delivered)
		gotSet := map[sp.EntryHash]bool{}
		for _, e := range storetest.All(got) {
			gotSet[e.Hash()] = true
		}
		for hsh, e := range want {
			if !gotSet[hsh] {
				t.Fatalf("seed %d: %s entry on %s %q by %s was lost: nothing that had seen it was delivered",
					seed, e.Kind, e.Record.Short(), e.Field, e.Author.Short())
			}
		}
		for hsh := range gotSet {
			if _, ok := want[hsh]; !ok {
				t.Fatalf("seed %d: entry %s is kept (a conflict sibling) though a delivered entry had seen it", seed, hsh.Short())
			}
		}
		// Conflicts reported by the record view are exactly the concurrent
		// entries of the reference.
		for _, id := range h.Records {
			for _, coll := range []string{"directory", "outreach"} {
				es, err := got.Record(bg, coll, id)
				if err != nil {
					continue
				}
				rv := sp.Fold(coll, id, es)
				for _, f := range rv.Fields {
					if f.Kind != sp.KindValue {
						continue
					}
					n := 0
					for _, e := range want {
						if e.Collection == coll && e.Record == id && e.Field == f.Field {
							n++
						}
					}
					if len(f.All()) != n {
						t.Fatalf("seed %d: field %q shows %d values, reference has %d concurrent", seed, f.Field, len(f.All()), n)
					}
				}
			}
		}
	}
}

// reference computes the expected kept set from first principles.
func reference(past map[sp.EntryHash]map[sp.EntryHash]struct{}, delivered []sp.Entry) map[sp.EntryHash]sp.Entry {
	type rk struct {
		coll string
		id   sp.RecordID
	}
	all := map[sp.EntryHash]sp.Entry{}
	for _, e := range delivered {
		all[e.Hash()] = e
	}
	tomb := map[rk]sp.Entry{}
	for _, e := range all {
		if e.Kind != sp.KindTombstone {
			continue
		}
		k := rk{e.Collection, e.Record}
		if t, ok := tomb[k]; !ok || sp.Newer(&t, &e) {
			tomb[k] = e
		}
	}
	want := map[sp.EntryHash]sp.Entry{}
	for h, e := range all {
		k := rk{e.Collection, e.Record}
		if t, ok := tomb[k]; ok {
			if e.Kind == sp.KindTombstone && t.Hash() == h {
				want[h] = e
			}
			continue
		}
		keep := true
		for oh, o := range all {
			if oh == h || o.Collection != e.Collection || o.Record != e.Record || o.Field != e.Field {
				continue
			}
			switch e.Kind {
			case sp.KindValue:
				if _, seen := past[oh][h]; seen {
					keep = false
				}
			case sp.KindTally:
				if o.Author == e.Author && o.Time > e.Time {
					keep = false
				}
			}
		}
		if keep {
			want[h] = e
		}
	}
	return want
}

// A record tombstone destroys the record on every node, and entries
// written later for it are dropped whatever their timestamp.
func TestTombstoneWinsOverLaterWrites(t *testing.T) {
	a, b := storetest.NewDevice(1), storetest.NewDevice(2)
	id := sp.NewRecordID()
	e1 := a.Set("outreach", id, "subject", "S-7K3Q")
	b.Receive([]sp.Entry{e1})
	del := a.Delete("outreach", id)
	b.Tick(1 << 40)
	late := b.Set("outreach", id, "subject", "S-9ZZZ")
	for _, order := range [][]sp.Entry{{e1, del, late}, {late, e1, del}, {del, late, e1}} {
		s := merged(t, order)
		es, _ := s.Record(bg, "outreach", id)
		if len(es) != 1 || es[0].Hash() != del.Hash() {
			t.Fatalf("order %v: record holds %d entries, want only its tombstone", order, len(es))
		}
	}
}

// Two counts from one author with one timestamp (a cloned key, say) must
// merge to the same state in either order.
func TestTallyTieIsOrderIndependent(t *testing.T) {
	d := storetest.NewDevice(1)
	id := sp.NewRecordID()
	a := d.Count("outreach", id, "tally/contacts", 5)
	b := a
	b.Value, _ = sp.EncodeValue(uint64(7))
	b.Sign(d.Key)
	sameState(t, "a,b vs b,a", merged(t, []sp.Entry{a, b}), merged(t, []sp.Entry{b, a}))
}
