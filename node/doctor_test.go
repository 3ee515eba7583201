package node_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
)

func checkOf(t *testing.T, cs []node.Check, name string) node.Check {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check in %+v", name, cs)
	return node.Check{}
}

func doctor(t *testing.T, n *node.Node) []node.Check {
	t.Helper()
	cs, err := n.Doctor(ctx, node.DoctorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Status != node.CheckOK && c.Advice == "" {
			t.Errorf("the %s check says %s (%s) without advice", c.Name, c.Status, c.Found)
		}
	}
	return cs
}

// A laptop just synced with its hub: every check is well.
func TestDoctorHealthyNode(t *testing.T) {
	ha, a, _, b := pairNodes(t)
	addDirectory(t, b, 5, 30)
	if err := a.AddPeer(node.Peer{Device: b.ID(), Name: "hub"}); err != nil {
		t.Fatal(err)
	}
	syncPipe(t, a, b)
	if c := checkOf(t, doctor(t, a), "backup"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "no backup key") {
		t.Fatalf("before any backup key: %+v", c)
	}
	k, err := a.MakeBackupKey(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PublishBackupKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	syncPipe(t, a, b) // the key goes to the hub as well
	if c := checkOf(t, doctor(t, a), "backup"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "never written a backup") {
		t.Fatalf("with a key and no backup: %+v", c)
	}
	if _, err := a.BackupInto(ctx, t.TempDir(), 2); err != nil {
		t.Fatal(err)
	}
	cs := doctor(t, a)
	for _, c := range cs {
		if c.Status != node.CheckOK {
			t.Errorf("a healthy node's %s check: %s: %s", c.Name, c.Status, c.Found)
		}
	}
	if c := checkOf(t, cs, "store"); !strings.Contains(c.Found, "every row checks out") {
		t.Errorf("store: %+v", c)
	}
	// Nine days on, the backup is old.
	ha.clock.t = ha.clock.t.Add(9 * 24 * time.Hour)
	if c := checkOf(t, doctor(t, a), "backup"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "9 days old") {
		t.Errorf("a backup 9 days old: %+v", c)
	}
}

// The doctor names a device whose clock runs ahead, this laptop's clock
// going back, peers not seen for a week, unconfirmed changes, a spent
// budget and a nearly full disk, each with advice.
func TestDoctorFindsTrouble(t *testing.T) {
	ha, a, hb, b := pairNodes(t)
	if err := a.AddPeer(node.Peer{Device: b.ID(), Name: "hub"}); err != nil {
		t.Fatal(err)
	}
	syncPipe(t, a, b)
	// The hub's clock runs 5 minutes ahead; its writes reach the laptop.
	hb.clock.t = hb.clock.t.Add(5 * time.Minute)
	mustAdd(t, b, node.Directory, "name/en=Fictional Ferry", "kind=transport")
	syncPipe(t, a, b)
	if c := checkOf(t, doctor(t, a), "clock"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "ahead") {
		t.Fatalf("a hub 5 minutes ahead: %+v", c)
	}
	// A week and more later, the laptop has written and not synced, and
	// spent its budget.
	ha.clock.t = ha.clock.t.Add(9 * 24 * time.Hour)
	mustAdd(t, a, node.Outreach, "date=2026-12-03", "community=Fictional Bay", "contact=phone", "subject=S-3J8K")
	if err := a.SetDailyBudget(1); err != nil {
		t.Fatal(err)
	}
	syncBudgetSpent(t, a, b)
	cs := doctor(t, a)
	if c := checkOf(t, cs, "budget"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "spent") {
		t.Errorf("budget: %+v", c)
	}
	if c := checkOf(t, cs, "pending"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "hub") {
		t.Errorf("pending: %+v", c)
	}
	// The laptop's clock goes back a day: its own entries are ahead.
	ha.clock.t = ha.clock.t.Add(-48 * time.Hour)
	if c := checkOf(t, doctor(t, a), "clock"); c.Status != node.CheckFail || !strings.Contains(c.Found, "went back") {
		t.Errorf("the clock gone back: %+v", c)
	}
	ha.clock.t = ha.clock.t.Add(48 * time.Hour)
	// Eight days on with no sync since.
	ha.clock.t = ha.clock.t.Add(8 * 24 * time.Hour)
	if c := checkOf(t, doctor(t, a), "peers"); c.Status != node.CheckWarn || !strings.Contains(c.Found, "hub") {
		t.Errorf("a peer not seen for 8 days: %+v", c)
	}
}

func TestDoctorDiskNearlyFull(t *testing.T) {
	h := newHarness(t)
	free := uint64(1 << 40)
	h.opts.Store.FreeSpace = func(string) (uint64, error) { return free, nil }
	n := h.init()
	if c := checkOf(t, doctor(t, n), "disk"); c.Status != node.CheckOK {
		t.Fatalf("a roomy disk: %+v", c)
	}
	free = 100 << 20
	if c := checkOf(t, doctor(t, n), "disk"); c.Status != node.CheckWarn {
		t.Fatalf("100 MiB free: %+v", c)
	}
	free = 10 << 20
	if c := checkOf(t, doctor(t, n), "disk"); c.Status != node.CheckFail || !strings.Contains(c.Advice, "refuses writes") {
		t.Fatalf("10 MiB free: %+v", c)
	}
}

// syncPipe runs one session between a and b over a pipe.
func syncPipe(t *testing.T, a, b *node.Node) {
	t.Helper()
	ca, cb := net.Pipe()
	if _, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{}); errA != nil || errB != nil {
		t.Fatalf("sync: %v / %v", errA, errB)
	}
}

// syncBudgetSpent runs a session in which a's budget is spent: its
// routine changes stay behind.
func syncBudgetSpent(t *testing.T, a, b *node.Node) {
	t.Helper()
	syncPipe(t, a, b)
	if bud, _ := a.Budget(); !bud.Spent {
		t.Fatalf("the budget is not spent: %+v", bud)
	}
}
