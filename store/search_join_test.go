package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// A search with a limit stops early when enough records have every term
// exactly. Its results must be exactly the first results of the full
// ranking, whatever the words and how common they are.
func TestLimitedSearchMatchesFullRanking(t *testing.T) {
	s := newStore(t, testOptions())
	rng := rand.New(rand.NewPCG(5, 5))
	words := []string{"centre", "centres", "de", "sante", "santé", "legal", "legally", "aid", "iqaluit", "igloolik", "867", "555", "0101", "shelter", "ᐃᓄᒃᑎᑐᑦ", "ᐃᓄ"}
	d := storetest.NewDevice(1)
	var es []sp.Entry
	for range 400 {
		id := sp.NewRecordID()
		for _, f := range []string{"name/en", "notes"} {
			n := 1 + rng.IntN(4)
			text := ""
			for range n {
				text += words[rng.IntN(len(words))] + " "
			}
			es = append(es, d.Set("directory", id, f, text))
		}
	}
	mustApply(t, s, es...)
	queries := []string{"de", "centre de", "sante legal", "867 555", "ᐃᓄ", "shelter aid", "centres", "igloolik 0101 de", "legal legally", "nothing"}
	for range 40 {
		queries = append(queries, words[rng.IntN(len(words))]+" "+words[rng.IntN(len(words))])
	}
	for _, q := range queries {
		full, err := s.Search(ctx, q, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 5, 20, 1000} {
			got, err := s.Search(ctx, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := full
			if len(want) > limit {
				want = want[:limit]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Search(%q, %d) = %s, want the first %d of the full ranking %s", q, limit, ids(got), limit, ids(want))
			}
		}
	}
}

func ids(rs []sp.RecordID) string {
	out := ""
	for _, r := range rs {
		out += fmt.Sprint(r.Short(), " ")
	}
	return out
}
