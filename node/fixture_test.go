package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Stores written by earlier versions of Floe are kept in
// testdata/store-layout<N>, one for each store layout that was released,
// with what a later Floe must read from them in expected.json. They are
// made by TestWriteStoreFixture, with the code of their own version; the
// tests in store_upgrade_test.go open copies of them.

// fixturePassphrase unlocks every stored fixture. They hold only sample
// data: hotlines, clearly fictional services and shelters.
const fixturePassphrase = "fixture passphrase"

// fixtureKDF is the cheapest key derivation the store accepts, so that
// opening a fixture is quick. Tests open them with the same parameters,
// so the key file is not re-wrapped.
var fixtureKDF = store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}

// fixtureWorker is the device a filtered session is checked against: an
// outreach worker in Arviat, who reads the directory and Arviat's
// outreach records only.
var fixtureWorker = holdRule{id: sp.DeviceID{9, 9, 9}, ok: true,
	cert: Cert{Role: RoleOutreach, Areas: []string{"outreach:kivalliq/arviat", "directory:*"}}}

// storeFixture is expected.json: what the fixture's node holds.
type storeFixture struct {
	Layout     int      `json:"layout"`
	MadeBy     string   `json:"made_by"`
	Passphrase string   `json:"passphrase"`
	NodeID     string   `json:"node_id"`
	NetworkID  string   `json:"network_id"`
	Entries    uint64   `json:"entries"`
	StateHash  string   `json:"state_hash"`
	Peers      []string `json:"peers"`
	// Records are a few records, field by field, as Get shows them.
	Records []fixtureRecord `json:"records"`
	// Deleted is a record that was deleted.
	Deleted string `json:"deleted"`
	// Shelter is a shelter whose location is sealed; it reveals to this
	// node, and holds fieldkit.CanaryMarker.
	Shelter string `json:"shelter"`
	// Conflict is a field with two concurrent values.
	Conflict fixtureConflict `json:"conflict"`
	// Attachment is a file attached to a directory record.
	Attachment fixtureAttachment `json:"attachment"`
	// Search is a query and the records it finds.
	Search fixtureSearch `json:"search"`
	// Filtered is the key list of a session with fixtureWorker.
	Filtered fixtureKeys `json:"filtered"`
}

type fixtureRecord struct {
	Collection string            `json:"collection"`
	ID         string            `json:"id"`
	Fields     map[string]string `json:"fields"`
}

type fixtureConflict struct {
	ID     string   `json:"id"`
	Field  string   `json:"field"`
	Values []string `json:"values"`
}

type fixtureAttachment struct {
	Record string `json:"record"`
	Name   string `json:"name"`
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256"`
}

type fixtureSearch struct {
	Query string   `json:"query"`
	IDs   []string `json:"ids"`
}

type fixtureKeys struct {
	Count uint64 `json:"count"`
	Sum   string `json:"sum"`
}

// TestWriteStoreFixture writes testdata/store-layout<N> for the layout
// this build writes. Run it once, when a layout is released:
//
//	FLOE_WRITE_FIXTURE=1 go test ./node -run TestWriteStoreFixture
//
// It refuses to overwrite a fixture: the stored ones were made by the
// Floe of their own layout, and that is what they test.
func TestWriteStoreFixture(t *testing.T) {
	if os.Getenv("FLOE_WRITE_FIXTURE") == "" {
		t.Skip("set FLOE_WRITE_FIXTURE=1 to write a store fixture")
	}
	ctx := context.Background()
	clock := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	opts := Options{Now: now, Store: store.Options{KDF: &fixtureKDF}, Audiences: []string{ShelterAudience}, NetworkName: "kivalliq"}
	tmp := t.TempDir()
	adir := filepath.Join(tmp, "a")
	a, err := Init(ctx, adir, []byte(fixturePassphrase), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// A coordinator's laptop, for a conflict.
	inv, err := a.MakeInvite(InviteOptions{Role: RoleCoordinator, Areas: []string{"*:*"}, Name: "hub"})
	if err != nil {
		t.Fatal(err)
	}
	bclock := clock
	bopts := Options{Now: func() time.Time { return bclock }, Store: store.Options{KDF: &fixtureKDF}, Join: &inv}
	b, err := Init(ctx, filepath.Join(tmp, "b"), []byte(fixturePassphrase), bopts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	req, err := b.MakeJoinRequest("rankin-laptop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admit(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := a.AddPeer(Peer{Device: b.ID(), Name: "rankin-laptop", Addrs: []string{"/ip4/127.0.0.1/tcp/7420"}}); err != nil {
		t.Fatal(err)
	}

	var f storeFixture
	var hotline, shelter sp.RecordID
	for _, r := range fieldkit.SampleDirectory() {
		ch, err := ChangesFrom(r.Fields)
		if err != nil {
			t.Fatal(err)
		}
		id, err := a.Add(ctx, Directory, ch)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := r.Fields[fieldkit.FieldNameEN].(string)
		if strings.HasPrefix(name, "Kamatsiaqtut") {
			hotline = id
		}
		if r.Fields[fieldkit.FieldKind] == fieldkit.KindShelter && shelter == (sp.RecordID{}) {
			shelter = id
		}
		clock = clock.Add(time.Second)
	}
	if hotline == (sp.RecordID{}) || shelter == (sp.RecordID{}) {
		t.Fatal("the sample directory lacks the Kamatsiaqtut Help Line or a shelter")
	}
	areas := []string{"kivalliq/arviat", "qikiqtaaluk/iqaluit"}
	var outreach []sp.RecordID
	for i, r := range fieldkit.SampleOutreach(clock) {
		ch, err := ChangesFrom(r.Fields)
		if err != nil {
			t.Fatal(err)
		}
		id, err := a.AddIn(ctx, Outreach, areas[i%2], ch)
		if err != nil {
			t.Fatal(err)
		}
		outreach = append(outreach, id)
		clock = clock.Add(time.Second)
	}
	if err := a.Delete(ctx, Outreach, outreach[2]); err != nil {
		t.Fatal(err)
	}
	poster := []byte("Sample poster (fictional): the Kamatsiaqtut Help Line answers day and night.\n")
	if _, err := a.Attach(ctx, hotline, "poster.txt", bytes.NewReader(poster)); err != nil {
		t.Fatal(err)
	}

	// The hours of the hotline, changed on both laptops while apart.
	exchangeAll(t, a, b)
	clock = clock.Add(time.Minute)
	bclock = clock.Add(time.Second)
	if err := a.Update(ctx, Directory, hotline, []Change{{Field: "hours", Value: "24/7 (English and Inuktitut)"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, Directory, hotline, []Change{{Field: "hours", Value: "24/7"}}); err != nil {
		t.Fatal(err)
	}
	exchangeAll(t, a, b)

	// What a later Floe must find.
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Layout = store.LayoutVersion
	f.MadeBy = "TestWriteStoreFixture, node/fixture_test.go, with the Floe of store layout " + fmt.Sprint(store.LayoutVersion)
	f.Passphrase = fixturePassphrase
	f.NodeID, f.NetworkID, f.Entries, f.StateHash = st.NodeID, st.NetworkID, st.Entries, st.StateHash
	ps, err := a.Peers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		f.Peers = append(f.Peers, p.Device.String()+" "+p.Name)
	}
	for _, r := range []struct {
		coll string
		id   sp.RecordID
	}{{Directory, hotline}, {Directory, shelter}, {Outreach, outreach[0]}, {Outreach, outreach[1]}} {
		rec, err := a.Get(ctx, r.coll, r.id, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.Records = append(f.Records, fixtureRecord{Collection: r.coll, ID: r.id.String(), Fields: recordFields(rec)})
	}
	f.Deleted = outreach[2].String()
	f.Shelter = shelter.String()
	cs, err := a.Conflicts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %+v, %v; want one", cs, err)
	}
	f.Conflict = fixtureConflict{ID: cs[0].ID, Field: cs[0].Field}
	for _, v := range cs[0].Values {
		f.Conflict.Values = append(f.Conflict.Values, fmt.Sprint(v.Value))
	}
	sort.Strings(f.Conflict.Values)
	sum := sha256.Sum256(poster)
	f.Attachment = fixtureAttachment{Record: hotline.String(), Name: "poster.txt", Size: uint64(len(poster)), SHA256: hex.EncodeToString(sum[:])}
	f.Search.Query = "kamatsiaqtut"
	found, err := a.Search(ctx, f.Search.Query, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range found {
		f.Search.IDs = append(f.Search.IDs, r.ID)
	}
	sort.Strings(f.Search.IDs)
	_, d, err := heldByBoth(ctx, a, fixtureWorker)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count == 0 || d.Count == st.Entries {
		t.Fatalf("the worker may hold %d of %d entries; want some, not all", d.Count, st.Entries)
	}
	f.Filtered = fixtureKeys{Count: d.Count, Sum: hex.EncodeToString(d.Sum[:])}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("testdata", fmt.Sprintf("store-layout%d", store.LayoutVersion))
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("%s exists; a stored fixture is never rewritten", out)
	}
	if err := copyTree(adir, filepath.Join(out, "node")); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "expected.json"), append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d entries", out, f.Entries)
}

// heldByBoth lists the keys of the entries both n and peer may hold, and
// their digest, found by reading every entry (as store layout 1 had to):
// what a filtered session must offer, whatever the index keeps.
func heldByBoth(ctx context.Context, n *Node, peer holdRule) ([]sp.SyncKey, sp.Digest, error) {
	me := n.holdRuleOf(n.id)
	var ks []sp.SyncKey
	var d sp.Digest
	err := n.st.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, e sp.Entry) error {
		if me.holds(&e) && peer.holds(&e) {
			ks = append(ks, k)
			d.Add(k.Hash())
		}
		return nil
	})
	return ks, d, err
}

// recordFields is a record's fields as text; attachments are checked on
// their own.
func recordFields(r Record) map[string]string {
	out := map[string]string{}
	for _, f := range r.Fields {
		switch v := f.Value.(type) {
		case Attachment:
		case []string:
			out[f.Path] = strings.Join(v, ",")
		default:
			out[f.Path] = fmt.Sprint(v)
		}
	}
	return out
}

// exchangeAll merges each node's entries into the other.
func exchangeAll(t *testing.T, a, b *Node) {
	t.Helper()
	ctx := context.Background()
	for _, p := range [][2]*Node{{a, b}, {b, a}} {
		var es []sp.Entry
		if err := p[0].Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := p[1].Merge(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
}

// copyTree copies the files under src to dst, which must not exist.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}
