package node_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

// BenchmarkImport measures local writes of generated directory records in
// batches of 200 records (sign and apply), per entry.
func BenchmarkImport(b *testing.B) {
	n, err := node.Init(ctx, filepath.Join(b.TempDir(), "n"), []byte(pass), node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}, Audiences: []string{node.ShelterAudience}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var batch [][]node.Change
	_ = fieldkit.GenerateDirectory(1, 2000, func(r fieldkit.Record) error {
		ch, _ := node.ChangesFrom(r.Fields)
		batch = append(batch, ch)
		return nil
	})
	b.ResetTimer()
	entries := 0
	for i := 0; i < b.N; i++ {
		part := batch[(i*200)%len(batch):][:200]
		if _, err := n.AddBatch(ctx, node.Directory, part); err != nil {
			b.Fatal(err)
		}
		for _, r := range part {
			entries += len(r)
		}
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "changes/s")
}

var benchSearchNode *node.Node

// searchNode builds, once per process, a node of about 100,000 generated
// entries: the scale the search target is set at.
func searchNode(b *testing.B) *node.Node {
	if benchSearchNode != nil {
		return benchSearchNode
	}
	dir, err := os.MkdirTemp("", "floe-search-bench-")
	if err != nil {
		b.Fatal(err)
	}
	n, err := node.Init(ctx, filepath.Join(dir, "n"), []byte(pass), node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}, Audiences: []string{node.ShelterAudience}})
	if err != nil {
		b.Fatal(err)
	}
	var batch [][]node.Change
	flush := func() {
		if _, err := n.AddBatch(ctx, node.Directory, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	_ = fieldkit.GenerateDirectory(1, 9000, func(r fieldkit.Record) error {
		ch, _ := node.ChangesFrom(r.Fields)
		batch = append(batch, ch)
		if len(batch) == 500 {
			flush()
		}
		return nil
	})
	flush()
	benchSearchNode = n
	return n
}

var searchQueries = []string{"shelter", "health", "iqaluit", "clinique", "santé", "legal aid", "867-555", "ᐃᓄ", "transport baker", "funds", "centre de sante", "fictional", "sample legal"}

// BenchmarkSearch is a directory search as a person runs it, at about
// 100,000 entries: the index lookup and the reading of up to 20 results.
func BenchmarkSearch(b *testing.B) {
	n := searchNode(b)
	st, _ := n.Status(ctx)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := n.Search(ctx, searchQueries[i%len(searchQueries)], 20); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)*99/100, len(lat)-1)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(st.Entries), "entries")
}
