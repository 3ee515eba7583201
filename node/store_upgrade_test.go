package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// fixtureDirs are the stored fixtures, one for each released store layout.
func fixtureDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "store-layout*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no store fixtures in testdata")
	}
	return dirs
}

// loadFixture copies a fixture's node to a temporary directory (a test
// must never open the stored one: opening changes the files) and reads
// its expected.json.
func loadFixture(t *testing.T, dir string) (string, storeFixture) {
	t.Helper()
	var f storeFixture
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if want := "store-layout" + fmt.Sprint(f.Layout); filepath.Base(dir) != want {
		t.Fatalf("%s holds a fixture of layout %d", dir, f.Layout)
	}
	to := filepath.Join(t.TempDir(), "node")
	if err := copyTree(filepath.Join(dir, "node"), to); err != nil {
		t.Fatal(err)
	}
	return to, f
}

func openFixture(t *testing.T, dir string, f storeFixture, logs *bytes.Buffer) *Node {
	t.Helper()
	opts := Options{Store: store.Options{KDF: &fixtureKDF}}
	if logs != nil {
		opts.Logger = testLogger(logs)
	}
	n, err := Open(context.Background(), dir, []byte(f.Passphrase), opts)
	if err != nil {
		t.Fatalf("opening the layout-%d fixture: %v", f.Layout, err)
	}
	return n
}

// checkFixture checks that n holds what the fixture's expected.json says,
// read through every path: status, records, a deletion, a conflict, an
// attachment, search, the key list of a filtered session, and a full
// check of the store. It writes nothing.
func checkFixture(t *testing.T, n *Node, f storeFixture) {
	t.Helper()
	ctx := context.Background()
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeID != f.NodeID || st.NetworkID != f.NetworkID || st.Entries != f.Entries || st.StateHash != f.StateHash {
		t.Fatalf("status: node %s network %s, %d entries, state %s; want %s %s %d %s",
			st.NodeID, st.NetworkID, st.Entries, st.StateHash, f.NodeID, f.NetworkID, f.Entries, f.StateHash)
	}
	ps, err := n.Peers()
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range ps {
		peers = append(peers, p.Device.String()+" "+p.Name)
	}
	if strings.Join(peers, "|") != strings.Join(f.Peers, "|") {
		t.Errorf("peers %q, want %q", peers, f.Peers)
	}
	for _, r := range f.Records {
		id := mustRecordID(t, r.ID)
		got, err := n.Get(ctx, r.Collection, id, ReadOptions{})
		if err != nil {
			t.Fatalf("record %s: %v", r.ID, err)
		}
		fields := recordFields(got)
		for k, v := range r.Fields {
			if fields[k] != v {
				t.Errorf("record %s field %s = %q, want %q", r.ID, k, fields[k], v)
			}
		}
		if len(fields) != len(r.Fields) {
			t.Errorf("record %s has fields %v, want %v", r.ID, fields, r.Fields)
		}
	}
	if r, err := n.Get(ctx, Outreach, mustRecordID(t, f.Deleted), ReadOptions{}); err != nil || !r.Deleted {
		t.Errorf("the deleted record reads as %+v, %v", r, err)
	}
	cs, err := n.Conflicts(ctx)
	if err != nil || len(cs) != 1 || cs[0].ID != f.Conflict.ID || cs[0].Field != f.Conflict.Field {
		t.Fatalf("conflicts %+v, %v; want %+v", cs, err, f.Conflict)
	}
	var vals []string
	for _, v := range cs[0].Values {
		vals = append(vals, fmt.Sprint(v.Value))
	}
	sort.Strings(vals)
	if strings.Join(vals, "|") != strings.Join(f.Conflict.Values, "|") {
		t.Errorf("conflict values %q, want %q", vals, f.Conflict.Values)
	}
	var buf bytes.Buffer
	a, err := n.ReadAttachment(ctx, mustRecordID(t, f.Attachment.Record), f.Attachment.Name, &buf)
	sum := sha256.Sum256(buf.Bytes())
	if err != nil || a.Size != f.Attachment.Size || hex.EncodeToString(sum[:]) != f.Attachment.SHA256 {
		t.Errorf("attachment %+v, %v, sha256 %x; want %+v", a, err, sum, f.Attachment)
	}
	found, err := n.Search(ctx, f.Search.Query, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range found {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	if strings.Join(ids, "|") != strings.Join(f.Search.IDs, "|") {
		t.Errorf("search %q found %v, want %v", f.Search.Query, ids, f.Search.IDs)
	}
	keys, d, err := n.offerKeys(ctx, n.filterFor(fixtureWorker))
	if err != nil {
		t.Fatal(err)
	}
	if d.Count != f.Filtered.Count || hex.EncodeToString(d.Sum[:]) != f.Filtered.Sum || uint64(len(keys)) != d.Count {
		t.Errorf("a filtered session offers %d keys (sum %x), want %d (sum %s)", len(keys), d.Sum, f.Filtered.Count, f.Filtered.Sum)
	}
	if rep, err := n.st.Verify(ctx); err != nil {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

func mustRecordID(t *testing.T, s string) sp.RecordID {
	t.Helper()
	id, err := sp.ParseRecordID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every stored fixture opens in this Floe and reads as it did in the Floe
// that made it; it then takes writes, and reopens.
func TestStoreFixturesOpen(t *testing.T) {
	ctx := context.Background()
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			nd, f := loadFixture(t, dir)
			n := openFixture(t, nd, f, nil)
			defer n.Close()
			checkFixture(t, n, f)
			// The shelter's location is sealed, and opens here (an
			// audience member); the reveal writes an audit record.
			r, err := n.Get(ctx, Directory, mustRecordID(t, f.Shelter), ReadOptions{Reveal: []string{"location"}})
			if err != nil || !strings.Contains(r.Get("location"), fieldkit.CanaryMarker) {
				t.Fatalf("the shelter's location does not reveal: %v", err)
			}
			if _, err := n.Add(ctx, Directory, []Change{{Field: "name/en", Value: "Sample Drop-in Centre (fictional)"}, {Field: "kind", Value: "other"}}); err != nil {
				t.Fatal(err)
			}
			st := statusOf(t, n)
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			n2 := openFixture(t, nd, f, nil)
			defer n2.Close()
			if st2 := statusOf(t, n2); st2.StateHash != st.StateHash || st2.Entries != st.Entries {
				t.Fatalf("after reopening: %d entries, state %s; want %d, %s", st2.Entries, st2.StateHash, st.Entries, st.StateHash)
			}
			if rep, err := n2.st.Verify(ctx); err != nil {
				t.Fatalf("verify: %v %+v", err, rep)
			}
		})
	}
}

func testLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func statusOf(t *testing.T, n *Node) Status {
	t.Helper()
	st, err := n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
