package node_test

import (
	"path/filepath"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

// BenchmarkImport measures local writes of generated directory records in
// batches of 200 records (sign and apply), per entry.
func BenchmarkImport(b *testing.B) {
	n, err := node.Init(ctx, filepath.Join(b.TempDir(), "n"), []byte(pass), node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}})
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
