package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Sessions at the same time share what is left of the day: the second
// gets only what the first was not given, and a settled session frees
// its share for the next.
func TestSessionsAtOnceShareTheBudget(t *testing.T) {
	n, err := Init(context.Background(), filepath.Join(t.TempDir(), "n"), []byte("budget passphrase"),
		Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.SetDailyBudget(10_000); err != nil {
		t.Fatal(err)
	}
	var peer sp.DeviceID
	a, capped, settleA, err := n.reserveBudget(peer)
	if err != nil || !capped || a != 10_000 {
		t.Fatalf("the first session: %d %v %v", a, capped, err)
	}
	b, _, settleB, _ := n.reserveBudget(peer)
	if b != 0 {
		t.Fatalf("a second session at the same time was given %d bytes of a budget already handed out", b)
	}
	settleB(300)
	settleA(4_000)
	c, _, settleC, _ := n.reserveBudget(peer)
	if c != 10_000-4_300 {
		t.Fatalf("after both settled, %d left; want %d", c, 10_000-4_300)
	}
	settleC(0)
}
