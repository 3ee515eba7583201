package node_test

import (
	"net"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
)

// A laptop whose daily budget is spent still gets an urgent referral and
// membership changes; the directory waits for the next day, and then
// comes whole.
func TestSpentBudgetLetsOnlyUrgentWorkThrough(t *testing.T) {
	ha, a, _, b := pairNodes(t)
	if err := a.SetDailyBudget(1); err != nil {
		t.Fatal(err)
	}
	addDirectory(t, b, 3, 150)
	urgent := mustAdd(t, b, node.Outreach, "date=2026-11-24", "community=Fictional Bay", "contact=phone", "subject=S-7K3Q", "urgent=true", "referred_to=Crisis line")
	calm := mustAdd(t, b, node.Outreach, "date=2026-11-24", "community=Fictional Bay", "contact=phone", "subject=S-2M8P")

	ca, cb := net.Pipe()
	ra, rb, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatalf("a session with the budget spent must still complete: %v / %v", errA, errB)
	}
	if _, err := a.Get(ctx, node.Outreach, urgent, node.ReadOptions{}); err != nil {
		t.Fatalf("the urgent referral did not come with the budget spent: %v", err)
	}
	if _, err := a.Get(ctx, node.Outreach, calm, node.ReadOptions{}); err == nil {
		t.Fatal("a routine record came though the budget was spent")
	}
	if rb.Stats.Withheld == 0 || ra.Stats.PeerWithheld != rb.Stats.Withheld {
		t.Fatalf("the hub withheld %d entries and the laptop heard of %d", rb.Stats.Withheld, ra.Stats.PeerWithheld)
	}
	bud, err := a.Budget()
	if err != nil || !bud.Spent || bud.Used == 0 || bud.DailyBytes != 1 {
		t.Fatalf("budget after the session: %+v %v", bud, err)
	}
	ps, err := a.PeerStatuses(ctx)
	if err != nil || len(ps) != 1 || ps[0].Waiting != rb.Stats.Withheld || ps[0].BytesToday != bud.Used {
		t.Fatalf("the sync screen's peer row: %+v %v", ps, err)
	}
	// The hub has no budget of its own, yet it kept to the laptop's.
	if hb, _ := b.Budget(); hb.DailyBytes != 0 || hb.Spent {
		t.Fatalf("the hub's own budget: %+v", hb)
	}
	// The hub must not count the laptop as holding what it withheld: its
	// next bundle for the laptop would otherwise leave them out.
	bps, _ := b.PeerStatuses(ctx)
	if len(bps) != 1 || bps[0].EntriesPending == 0 {
		t.Fatalf("the hub thinks the laptop holds everything: %+v", bps)
	}

	// The next day the rest comes.
	ha.clock.t = ha.clock.t.Add(24 * time.Hour)
	if bud, _ := a.Budget(); bud.Spent || bud.Used != 0 || bud.Remaining != 1 {
		t.Fatalf("a new day's budget: %+v", bud)
	}
	if err := a.SetDailyBudget(0); err != nil {
		t.Fatal(err)
	}
	ca, cb = net.Pipe()
	if _, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{}); errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("the two nodes differ after a session without a budget")
	}
}

// A budget with room lets part of a large directory through, and stops
// near the line.
func TestBudgetStopsNearTheLine(t *testing.T) {
	_, a, _, b := pairNodes(t)
	const budget = 60_000
	if err := a.SetDailyBudget(budget); err != nil {
		t.Fatal(err)
	}
	addDirectory(t, b, 4, 400)
	ca, cb := net.Pipe()
	ra, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if ra.Stats.Applied == 0 || ra.Stats.PeerWithheld == 0 {
		t.Fatalf("applied %d, withheld %d: want part of the directory", ra.Stats.Applied, ra.Stats.PeerWithheld)
	}
	bud, _ := a.Budget()
	// One batch of urgent entries may straddle the line; here there are
	// none, so the overshoot is the end of the session's own messages.
	if bud.Used > budget+2000 {
		t.Fatalf("used %d bytes of a %d budget", bud.Used, budget)
	}
}

func TestBudgetSettingIsChecked(t *testing.T) {
	h := newHarness(t)
	n := h.init()
	for _, v := range []int64{-1, node.MaxDailyBytes + 1} {
		if err := n.SetDailyBudget(v); err == nil {
			t.Fatalf("a budget of %d was accepted", v)
		}
	}
	if err := n.SetDailyBudget(50 << 20); err != nil {
		t.Fatal(err)
	}
	if b, _ := n.Budget(); b.DailyBytes != 50<<20 || b.Remaining != 50<<20 || b.Spent {
		t.Fatalf("%+v", b)
	}
}
