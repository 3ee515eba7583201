package store

import (
	"math/rand/v2"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

type conflictRow struct {
	coll  string
	id    sp.RecordID
	field string
}

// The conflict index lists exactly the value fields that have two or more
// kept entries, after any history, and Verify agrees with it.
func TestConflictIndexMatchesRecords(t *testing.T) {
	seen := 0
	defer func() {
		if !t.Failed() && seen == 0 {
			t.Fatal("no history had a conflict: the test checked nothing")
		}
	}()
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 17))
		h := storetest.RandomHistory(rng, 4, 6, 400)
		s := newStore(t, testOptions())
		es := append([]sp.Entry(nil), h.Universe...)
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		for len(es) > 0 {
			n := min(len(es), 1+rng.IntN(30))
			mustApply(t, s, es[:n]...)
			es = es[n:]
		}
		want := map[conflictRow]bool{}
		for _, id := range h.Records {
			for _, coll := range []string{"directory", "outreach"} {
				rs, err := s.Record(ctx, coll, id)
				if err != nil {
					continue
				}
				rv := sp.Fold(coll, id, rs)
				for _, f := range rv.Fields {
					if f.Conflict() {
						want[conflictRow{coll, id, f.Field}] = true
					}
				}
			}
		}
		seen += len(want)
		got := map[conflictRow]bool{}
		err := s.Conflicts(ctx, func(coll string, id sp.RecordID, field string) error {
			got[conflictRow{coll, id, field}] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: conflict index lists %d fields, the records have %d in conflict", seed, len(got), len(want))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("seed %d: field %q of %s is in conflict but not in the index", seed, k.field, k.id.Short())
			}
		}
		rep := mustVerify(t, s)
		if rep.ConflictRows != len(want) {
			t.Fatalf("seed %d: Verify counted %d conflict rows, want %d", seed, rep.ConflictRows, len(want))
		}
	}
}
