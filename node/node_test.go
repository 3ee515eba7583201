package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

var ctx = context.Background()

const pass = "correct horse battery"

// testClock is a wall clock the test moves by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

type harness struct {
	t     *testing.T
	dir   string
	clock *testClock
	logs  *bytes.Buffer
	opts  node.Options
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "node"), clock: &testClock{time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	h.opts = node.Options{
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.now,
		Store:  store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}},
		// A first device that works alone reads its own shelter locations.
		Audiences: []string{node.ShelterAudience},
	}
	return h
}

// join makes a node that joined a's network with an invite for role and
// areas, was admitted by a, and has its certificate (a's members records
// merged in), as after a first sync.
func join(t *testing.T, a *node.Node, role string, areas ...string) (*harness, *node.Node) {
	t.Helper()
	h := newHarness(t)
	inv, err := a.MakeInvite(node.InviteOptions{Role: role, Areas: areas, Name: "hub"})
	if err != nil {
		t.Fatal(err)
	}
	h.opts.Join = &inv
	b := h.init()
	name := "laptop"
	if ps, _ := a.Peers(); len(ps) > 0 {
		name = fmt.Sprintf("laptop-%d", len(ps)+1)
	}
	req, err := b.MakeJoinRequest(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admit(ctx, req); err != nil {
		t.Fatal(err)
	}
	giveMembers(t, a, b)
	return h, b
}

// giveMembers merges from's members records into to.
func giveMembers(t *testing.T, from, to *node.Node) {
	t.Helper()
	var es []sp.Entry
	if err := from.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Members {
			es = append(es, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := to.Merge(ctx, es); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) init() *node.Node {
	h.t.Helper()
	n, err := node.Init(ctx, h.dir, []byte(pass), h.opts)
	if err != nil {
		h.t.Fatalf("Init: %v", err)
	}
	h.t.Cleanup(func() { n.Close() })
	return n
}

func changes(t *testing.T, args ...string) []node.Change {
	t.Helper()
	var out []node.Change
	for _, a := range args {
		c, err := node.ParseChange(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func mustAdd(t *testing.T, n *node.Node, coll string, args ...string) sp.RecordID {
	t.Helper()
	id, err := n.Add(ctx, coll, changes(t, args...))
	if err != nil {
		t.Fatalf("Add %v: %v", args, err)
	}
	return id
}

func exchange(t *testing.T, a, b *node.Node) {
	t.Helper()
	for _, p := range [][2]*node.Node{{a, b}, {b, a}} {
		var es []sp.Entry
		if err := p[0].Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := p[1].Merge(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
}

func status(t *testing.T, n *node.Node) node.Status {
	t.Helper()
	s, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDirectoryRecordLifecycle(t *testing.T) {
	n := newHarness(t).init()
	id := mustAdd(t, n, node.Directory, "name=Kamatsiaqtut Help Line", "name/iu=ᑲᒪᑦᓯᐊᖅᑐᑦ", "kind=hotline",
		"phone=1-800-265-3333", "hours=24/7", "languages=en,iu")
	r, err := n.Get(ctx, node.Directory, id, node.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Get("name/en") != "Kamatsiaqtut Help Line" || r.Get("phone") != "1-800-265-3333" || r.Get("name/iu") != "ᑲᒪᑦᓯᐊᖅᑐᑦ" {
		t.Fatalf("record not read back: %+v", r)
	}
	if err := n.Update(ctx, node.Directory, id, changes(t, "languages+=fr", "languages-=en", "hours=Mon-Fri")); err != nil {
		t.Fatal(err)
	}
	r, _ = n.Get(ctx, node.Directory, id, node.ReadOptions{})
	var langs []string
	for _, f := range r.Fields {
		if f.Path == "languages" {
			langs = f.Value.([]string)
		}
	}
	slices.Sort(langs)
	if !slices.Equal(langs, []string{"fr", "iu"}) || r.Get("hours") != "Mon-Fri" || r.Conflicted() {
		t.Fatalf("after update: languages %v, hours %q, conflict %v", langs, r.Get("hours"), r.Conflicted())
	}
	// A unique prefix finds it.
	got, err := n.FindID(ctx, node.Directory, id.String()[:6])
	if err != nil || got != id {
		t.Fatalf("FindID by prefix: %v %v", got, err)
	}
	if err := n.Delete(ctx, node.Directory, id); err != nil {
		t.Fatal(err)
	}
	if rs, _ := n.Search(ctx, "kamatsiaqtut", 10); len(rs) != 0 {
		t.Fatalf("a deleted record is still found by search: %+v", rs)
	}
	count := 0
	_ = n.List(ctx, node.Directory, func(node.Record) error { count++; return nil })
	if count != 0 {
		t.Fatal("a deleted record is still listed")
	}
	if err := n.Update(ctx, node.Directory, id, changes(t, "hours=again")); !errors.Is(err, node.ErrDeleted) {
		t.Fatalf("a change to a deleted record: %v, want ErrDeleted", err)
	}
}

func TestBadFieldInput(t *testing.T) {
	n := newHarness(t).init()
	cases := []struct {
		coll string
		args []string
		want string
	}{
		{node.Directory, []string{"name=X", "kind=hotline", "colour=blue"}, "unknown field"},
		{node.Directory, []string{"name=X", "kind=bakery"}, "not one of"},
		{node.Directory, []string{"kind=hotline"}, "required"},
		{node.Directory, []string{"name=" + strings.Repeat("x", 201), "kind=hotline"}, "over the limit of 200"},
		{node.Directory, []string{"name=X", "kind=hotline", "notes=" + strings.Repeat("é", 4001)}, "over the limit of 4000"},
		{node.Directory, []string{"name/english=X", "kind=hotline"}, "language must be a code"},
		{node.Directory, []string{"name=Safe\u202eesuoH", "kind=hotline"}, "text-direction"},
		{node.Directory, []string{"name=Bell\x07", "kind=hotline"}, "control"},
		{node.Directory, []string{"name=X", "kind=hotline", "phone+=1"}, "only on set fields"},
		{node.Directory, []string{"name=X", "kind=hotline", "tags=" + manyTags(65)}, "at most 64 elements"},
		{node.Outreach, []string{"date=2026-13-01", "community=Igloolik", "contact=phone", "subject=S-7K3Q"}, "YYYY-MM-DD"},
		{node.Outreach, []string{"date=2026-11-01", "community=Igloolik", "contact=phone", "subject=Mary Smith"}, "never a name"},
		{node.Outreach, []string{"date=2026-11-01", "community=Igloolik", "contact=phone", "subject=MARY"}, "never a name"},
		{node.Outreach, []string{"date=2026-11-01", "community=Igloolik", "contact=phone", "subject=S-1", "urgent=maybe"}, "true or false"},
	}
	before := status(t, n)
	for _, c := range cases {
		_, err := n.Add(ctx, c.coll, changes(t, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if after := status(t, n); after.StateHash != before.StateHash || after.Entries != before.Entries {
		t.Fatal("refused input changed the store")
	}
}

func TestConcurrentEditsAreKeptAndResolved(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	hb, b := join(t, a, node.RoleCoordinator, "*:*")
	id := mustAdd(t, a, node.Directory, "name=Sample Legal Clinic (fictional)", "kind=legal", "hours=9-5")
	exchange(t, a, b)
	if err := a.Update(ctx, node.Directory, id, changes(t, "hours=Mon-Fri 9-5")); err != nil {
		t.Fatal(err)
	}
	hb.clock.t = hb.clock.t.Add(time.Second)
	if err := b.Update(ctx, node.Directory, id, changes(t, "hours=Tue and Thu 10-4")); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	for _, n := range []*node.Node{a, b} {
		cs, err := n.Conflicts(ctx)
		if err != nil || len(cs) != 1 || cs[0].Field != "hours" || len(cs[0].Values) != 2 {
			t.Fatalf("conflicts: %+v %v; want hours with both values", cs, err)
		}
		r, _ := n.Get(ctx, node.Directory, id, node.ReadOptions{})
		if r.Get("hours") != "Tue and Thu 10-4" {
			t.Fatalf("the newer value should show meanwhile, got %q", r.Get("hours"))
		}
	}
	if status(t, a).StateHash != status(t, b).StateHash {
		t.Fatal("nodes with the same entries have different state hashes")
	}
	cs, _ := a.Conflicts(ctx)
	var keep string
	for _, v := range cs[0].Values {
		if v.Value == "Mon-Fri 9-5" {
			keep = v.Hash[:10]
		}
	}
	if err := a.Resolve(ctx, node.Directory, id, "hours", keep, ""); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	for _, n := range []*node.Node{a, b} {
		if cs, _ := n.Conflicts(ctx); len(cs) != 0 {
			t.Fatalf("conflict still listed after resolving: %+v", cs)
		}
		r, _ := n.Get(ctx, node.Directory, id, node.ReadOptions{})
		if r.Get("hours") != "Mon-Fri 9-5" {
			t.Fatalf("resolved value is %q", r.Get("hours"))
		}
	}
	if status(t, a).StateHash != status(t, b).StateHash {
		t.Fatal("state hashes differ after resolving and syncing")
	}
}

func TestDeletedOutreachLeavesOnlyTombstone(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	hb, b := join(t, a, node.RoleCoordinator, "*:*")
	id := mustAdd(t, a, node.Outreach, "date=2026-11-20", "community=Igloolik", "contact=phone", "subject=S-7K3Q", "referred_to=Kids Help Phone")
	exchange(t, a, b)
	if err := a.Delete(ctx, node.Outreach, id); err != nil {
		t.Fatal(err)
	}
	// b edits the record without having seen the delete, with a later clock.
	hb.clock.t = hb.clock.t.Add(5 * time.Minute)
	if err := b.Update(ctx, node.Outreach, id, changes(t, "follow_up=2026-12-01")); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	for _, n := range []*node.Node{a, b} {
		r, err := n.Get(ctx, node.Outreach, id, node.ReadOptions{})
		if err != nil || !r.Deleted || len(r.Fields) != 0 {
			t.Fatalf("deleted record reads as %+v (%v)", r, err)
		}
		var held int
		_ = n.Entries(ctx, func(e sp.Entry) error {
			if e.Record == id {
				held++
				if e.Kind != sp.KindTombstone {
					t.Fatalf("an entry of the deleted record survived: %q", e.Field)
				}
			}
			return nil
		})
		if held != 1 {
			t.Fatalf("deleted record holds %d entries, want its tombstone alone", held)
		}
	}
}

func TestMergeRefusesForgedAndFutureEntries(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	hb, b := join(t, a, node.RoleCoordinator, "*:*")
	hc, c := join(t, a, node.RoleCoordinator, "*:*")
	giveMembers(t, a, b) // b learns c's certificate
	mustAdd(t, a, node.Directory, "name=Sample Health Centre (fictional)", "kind=health")
	var es []sp.Entry
	_ = a.Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil })

	// A forged entry: content changed after signing.
	forged := es[0]
	forged.Value, _ = sp.EncodeValue("Forged Shelter")
	before := status(t, b)
	_, err := b.Merge(ctx, []sp.Entry{forged})
	if !errors.Is(err, sp.ErrBadSignature) {
		t.Fatalf("forged entry: %v, want ErrBadSignature", err)
	}
	if status(t, b).Entries != before.Entries {
		t.Fatal("a forged entry was applied")
	}

	// a's clock runs an hour fast: its entries are held back on b.
	ha.clock.t = ha.clock.t.Add(time.Hour)
	fast := mustAdd(t, a, node.Directory, "name=Sample Funds Program (fictional)", "kind=funds")
	es = es[:0]
	_ = a.Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil })
	res, err := b.Merge(ctx, es)
	if !errors.Is(err, sp.ErrClockAhead) || !strings.Contains(err.Error(), "ahead of this laptop's clock") {
		t.Fatalf("future entries: %v, want a clock error that says so", err)
	}
	if res.Added != 2 {
		t.Fatalf("the entries within the drift bound should still apply: added %d", res.Added)
	}
	if _, err := b.Get(ctx, node.Directory, fast, node.ReadOptions{}); err == nil {
		t.Fatal("an entry stamped an hour ahead was merged")
	}
	// A device whose clock is five minutes ahead is within the bound.
	hc.clock.t = hb.clock.t.Add(5 * time.Minute)
	ok := mustAdd(t, c, node.Directory, "name=Sample Transport Office (fictional)", "kind=transport")
	es = es[:0]
	_ = c.Entries(ctx, func(e sp.Entry) error {
		if e.Record == ok {
			es = append(es, e)
		}
		return nil
	})
	if _, err := b.Merge(ctx, es); err != nil {
		t.Fatalf("entries 5 minutes ahead were refused: %v", err)
	}
	if _, err := b.Get(ctx, node.Directory, ok, node.ReadOptions{}); err != nil {
		t.Fatalf("entries 5 minutes ahead were not merged: %v", err)
	}
}

func TestClockSurvivesReopenAndWallClockGoingBack(t *testing.T) {
	h := newHarness(t)
	n := h.init()
	id := mustAdd(t, n, node.Directory, "name=A", "kind=other")
	n.Close()
	h.clock.t = h.clock.t.Add(-5 * time.Minute) // the laptop's clock was set back a little
	n, err := node.Open(ctx, h.dir, []byte(pass), h.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Update(ctx, node.Directory, id, changes(t, "name=B")); err != nil {
		t.Fatal(err)
	}
	r, _ := n.Get(ctx, node.Directory, id, node.ReadOptions{})
	if r.Get("name/en") != "B" || r.Conflicted() {
		t.Fatalf("a write after the clock went back lost to the older one: %q", r.Get("name/en"))
	}
}

// A laptop whose clock ran a year fast wrote an entry; with the clock
// corrected, anything it writes must still be stamped after that entry, and
// every peer would hold it back. The node says so instead of writing.
func TestWritesRefusedWhileClockIsBehindNewestEntry(t *testing.T) {
	h := newHarness(t)
	n := h.init()
	real := h.clock.t
	h.clock.t = real.AddDate(1, 0, 0)
	id := mustAdd(t, n, node.Directory, "name=A", "kind=other")
	h.clock.t = real
	before := status(t, n)
	err := n.Update(ctx, node.Directory, id, changes(t, "name=B"))
	if !errors.Is(err, node.ErrClockBehind) || !strings.Contains(err.Error(), "Nothing was written") {
		t.Fatalf("write with the clock a year behind the newest entry: %v", err)
	}
	if _, err := n.AddBatch(ctx, node.Directory, [][]node.Change{changes(t, "name=C", "kind=other")}); !errors.Is(err, node.ErrClockBehind) {
		t.Fatalf("batch write: %v", err)
	}
	if after := status(t, n); after.StateHash != before.StateHash {
		t.Fatal("a refused write changed the store")
	}
}

// The planted location must appear nowhere but in an explicit reveal.
func TestSensitiveLocationStaysHidden(t *testing.T) {
	h := newHarness(t)
	n := h.init()
	var shelter sp.RecordID
	for _, r := range fieldkit.SampleDirectory() {
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			t.Fatal(err)
		}
		id, err := n.Add(ctx, r.Collection, ch)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Fields["location"]; ok {
			shelter = id
		}
	}
	// A conflict on the location field, too, with a coordinator who may
	// write a location (sealed to the audience) but not read it.
	hb, b := join(t, n, node.RoleCoordinator, "*:*")
	exchange(t, n, b)
	if err := b.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" moved")); err != nil {
		t.Fatal(err)
	}
	if err := n.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" other")); err != nil {
		t.Fatal(err)
	}
	exchange(t, n, b)

	canary := strings.ToLower(fieldkit.CanaryMarker)
	check := func(what string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if strings.Contains(strings.ToLower(string(b)), canary) {
			t.Fatalf("%s shows the sealed location", what)
		}
	}
	for _, q := range []string{fieldkit.CanaryMarker, "canary", "sealed location", "fictional safe house", "blue door"} {
		rs, err := n.Search(ctx, q, 50)
		if err != nil {
			t.Fatal(err)
		}
		check("search "+q, rs)
	}
	var all []node.Record
	_ = n.List(ctx, node.Directory, func(r node.Record) error { all = append(all, r); return nil })
	check("list", all)
	r, _ := n.Get(ctx, node.Directory, shelter, node.ReadOptions{})
	check("show", r)
	cs, _ := n.Conflicts(ctx)
	if len(cs) != 1 || cs[0].Field != "location" {
		t.Fatalf("want the location conflict listed (without values), got %+v", cs)
	}
	check("conflicts", cs)
	for _, v := range cs[0].Values {
		// An entry hash covers the value: with it, a guessed address
		// could be confirmed offline.
		if v.Hash != "" {
			t.Fatalf("the location conflict shows an entry hash %s", v.Hash)
		}
	}
	revealed, _ := n.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}})
	if !strings.Contains(revealed.Get("location"), fieldkit.CanaryMarker) {
		t.Fatal("an explicit reveal did not show the location")
	}
	n.Close()
	b.Close()
	if strings.Contains(strings.ToLower(h.logs.String()+hb.logs.String()), canary) {
		t.Fatal("the logs hold the sealed location")
	}
	for _, dir := range []string{h.dir, hb.dir} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(bytes.ToLower(raw), []byte(canary)) {
				t.Fatalf("%s holds the sealed location in plaintext", p)
			}
			return nil
		})
	}
}

func TestDiskFullRefusesWritesAndKeepsStore(t *testing.T) {
	h := newHarness(t)
	free := uint64(1 << 40)
	h.opts.Store.FreeSpace = func(string) (uint64, error) { return free, nil }
	n := h.init()
	mustAdd(t, n, node.Directory, "name=A", "kind=other")
	before := status(t, n)
	free = 1 << 20
	_, err := n.Add(ctx, node.Directory, changes(t, "name=B", "kind=other"))
	if !errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "Free some space") {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull saying what to do", err)
	}
	if after := status(t, n); after.StateHash != before.StateHash {
		t.Fatal("a refused write changed the store")
	}
	free = 1 << 40
	mustAdd(t, n, node.Directory, "name=B", "kind=other")
}

func TestOpenErrors(t *testing.T) {
	h := newHarness(t)
	if _, err := node.Open(ctx, h.dir, []byte(pass), h.opts); !errors.Is(err, store.ErrNoNode) {
		t.Fatalf("open of a missing node: %v", err)
	}
	n := h.init()
	if _, err := node.Open(ctx, h.dir, []byte(pass), h.opts); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open while the first is open: %v, want ErrLocked", err)
	}
	if _, err := node.Init(ctx, h.dir, []byte(pass), h.opts); !errors.Is(err, store.ErrExists) {
		t.Fatalf("init over a node: %v, want ErrExists", err)
	}
	n.Close()
	if _, err := node.Open(ctx, h.dir, []byte("wrong passphrase"), h.opts); !errors.Is(err, store.ErrWrongPassphrase) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func manyTags(n int) string {
	var tags []string
	for i := range n {
		tags = append(tags, fmt.Sprintf("t%d", i))
	}
	return strings.Join(tags, ",")
}
