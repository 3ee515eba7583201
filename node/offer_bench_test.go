package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// BenchmarkOfferKeys compares what a session costs to set up: the whole
// store's keys (both ends may hold everything), the keys an outreach
// worker may hold as store layout 2 lists them (from the sync-order
// index, which keeps each entry's scope), and the same keys found as
// layout 1 had to, by reading and checking every entry. 4,000 directory
// records and 1,000 outreach records, about 47,000 entries.
func BenchmarkOfferKeys(b *testing.B) {
	ctx := context.Background()
	n, err := Init(ctx, filepath.Join(b.TempDir(), "n"), []byte("bench passphrase"), Options{
		Store:     store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}},
		Audiences: []string{ShelterAudience}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var dir, out [][]Change
	_ = fieldkit.GenerateDirectory(1, 4000, func(r fieldkit.Record) error {
		ch, _ := ChangesFrom(r.Fields)
		dir = append(dir, ch)
		return nil
	})
	for i := 0; i < 1000; i++ {
		out = append(out, []Change{{Field: "date", Value: "2026-11-20"}, {Field: "community", Value: "Arviat"},
			{Field: "contact", Value: "phone"}, {Field: "subject", Value: "S-1234"}})
	}
	for i := 0; i < len(dir); i += 500 {
		if _, err := n.AddBatch(ctx, Directory, dir[i:min(i+500, len(dir))]); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < len(out); i += 500 {
		if _, err := n.AddBatch(ctx, Outreach, out[i:min(i+500, len(out))]); err != nil {
			b.Fatal(err)
		}
	}
	worker := holdRule{id: sp.DeviceID{1}, ok: true, cert: Cert{Role: RoleOutreach, Areas: []string{"outreach:kivalliq/arviat", "directory:*"}}}
	filter := n.filterFor(worker)
	_, want, err := heldByBoth(ctx, n, worker)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("everything", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ks, err := n.syncKeys(ctx)
			if err != nil || len(ks) == 0 {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(ks)), "keys")
		}
	})
	b.Run("filtered", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ks, d, err := n.offerKeys(ctx, filter)
			if err != nil || d != want {
				b.Fatal(err, d.Count, want.Count)
			}
			b.ReportMetric(float64(len(ks)), "keys")
		}
	})
	b.Run("filtered-reading-entries", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ks, d, err := heldByBoth(ctx, n, worker)
			if err != nil || d != want {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(ks)), "keys")
		}
	})
}
