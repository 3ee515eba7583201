package soak_test

import (
	"context"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/soak"
	"github.com/floe-north/floe/store"
)

// A short soak runs the whole mix (writes, cut and clean syncs,
// restarts, backups by a given function), samples every interval, and
// ends with the two nodes equal.
func TestShortSoak(t *testing.T) {
	backups := 0
	cfg := soak.Config{
		Dir: t.TempDir(), Duration: 3 * time.Second, Every: 300 * time.Millisecond, Writes: 50, Services: 40,
		SyncEvery: 400 * time.Millisecond, CutPercent: 50, RestartEvery: time.Second, BackupEvery: time.Second,
		Backup: func(ctx context.Context, n *node.Node, dir string) error {
			backups++
			_, err := n.Status(ctx)
			return err
		},
		Node:   node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}},
		Memory: func() (int64, int64, bool) { return 1 << 20, 1 << 19, true },
	}
	var seen int
	rep, err := soak.Run(context.Background(), cfg, func(soak.Sample) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Samples[len(rep.Samples)-1]
	if seen != len(rep.Samples) || len(rep.Samples) < 8 {
		t.Fatalf("%d samples, %d reported", len(rep.Samples), seen)
	}
	if last.Writes < 50 || last.Syncs < 3 || last.Restarts < 1 || last.Backups < 1 || backups != last.Backups {
		t.Fatalf("the mix did not run: %+v (backups called %d times)", last, backups)
	}
	if !last.Converged || last.Disk == 0 || last.Entries == 0 {
		t.Fatalf("the end: %+v", last)
	}
	if rep.AnonGrowth != 1 || rep.RSSGrowth != 1 {
		t.Fatalf("constant memory reads as growth %.2f / %.2f", rep.AnonGrowth, rep.RSSGrowth)
	}
}
