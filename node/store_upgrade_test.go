package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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
			var logs bytes.Buffer
			n := openFixture(t, nd, f, &logs)
			defer n.Close()
			if up := strings.Contains(logs.String(), "upgraded the store's layout"); up != (f.Layout < store.LayoutVersion) {
				t.Errorf("a store of layout %d, upgraded: %v\n%s", f.Layout, up, logs.String())
			}
			checkFixture(t, n, f)
			// Sessions with devices of every role offer, from the index
			// alone, what reading every entry says both may hold.
			b, _ := sp.ParseDeviceID(strings.Fields(f.Peers[0])[0])
			for _, rule := range []holdRule{
				fixtureWorker,
				{id: sp.DeviceID{7}, ok: true, cert: Cert{Role: RoleOutreach, Areas: []string{"outreach:qikiqtaaluk", "directory:*"}}},
				{id: sp.DeviceID{8}, ok: true, cert: Cert{Role: RoleTrainer, Areas: []string{"directory:*"}}},
				{id: sp.DeviceID{9}, ok: true, cert: Cert{Role: RoleShelterStaff, Areas: []string{"*:*"}}},
				{id: sp.DeviceID{10}, ok: true, cert: Cert{Role: RoleCoordinator, Areas: []string{"outreach:kivalliq"}}},
				n.holdRuleOf(b),
				{id: sp.DeviceID{11}}, // no certificate yet: members only
			} {
				_, want, err := heldByBoth(ctx, n, rule)
				if err != nil {
					t.Fatal(err)
				}
				filter := n.filterFor(rule)
				if filter == nil {
					filter = func(store.Scope) bool { return true }
				}
				if _, got, err := n.offerKeys(ctx, filter); err != nil || got != want {
					t.Errorf("%s %v: the index offers %d keys, reading the entries %d (%v)", rule.cert.Role, rule.cert.Areas, got.Count, want.Count, err)
				}
			}
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

// upgradeSteps opens a copy of a fixture and returns the steps its
// upgrade takes.
func upgradeSteps(t *testing.T, dir string) []string {
	t.Helper()
	nd, f := loadFixture(t, dir)
	var steps []string
	n, err := Open(context.Background(), nd, []byte(f.Passphrase), Options{Store: store.Options{KDF: &fixtureKDF,
		UpgradeHook: func(s string) error { steps = append(steps, s); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	return steps
}

// The upgrade of each stored fixture of an older layout, stopped after
// any of its steps, is finished by the next open: the same state hash,
// the same key list for a filtered session, and a store that passes a
// full check.
func TestFixtureUpgradeStoppedAtEveryStep(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		if strings.HasSuffix(dir, fmt.Sprint(store.LayoutVersion)) {
			continue
		}
		steps := upgradeSteps(t, dir)
		if len(steps) < 4 {
			t.Fatalf("%s: the upgrade took steps %q", dir, steps)
		}
		for i, step := range steps {
			t.Run(fmt.Sprintf("%s/%d-%s", filepath.Base(dir), i+1, step), func(t *testing.T) {
				nd, f := loadFixture(t, dir)
				calls := 0
				_, err := Open(context.Background(), nd, []byte(f.Passphrase), Options{Store: store.Options{KDF: &fixtureKDF,
					UpgradeHook: func(string) error {
						if calls++; calls == i+1 {
							return errors.New("stopped by the test")
						}
						return nil
					}}})
				if err == nil || !strings.Contains(err.Error(), "stopped by the test") {
					t.Fatalf("Open: %v", err)
				}
				n := openFixture(t, nd, f, nil)
				defer n.Close()
				checkFixture(t, n, f)
			})
		}
	}
}

// TestFixtureUpgradeChild is run by TestFixtureUpgradeKilledAtEveryStep
// in a child process, which kills itself after a step of the upgrade.
func TestFixtureUpgradeChild(t *testing.T) {
	dir, at := os.Getenv("FLOE_FIXTURE_CHILD_DIR"), os.Getenv("FLOE_FIXTURE_KILL_AT")
	if dir == "" {
		t.Skip("run by TestFixtureUpgradeKilledAtEveryStep")
	}
	kill, _ := strconv.Atoi(at)
	calls := 0
	n, err := Open(context.Background(), dir, []byte(fixturePassphrase), Options{Store: store.Options{KDF: &fixtureKDF,
		UpgradeHook: func(string) error {
			if calls++; calls == kill {
				// As a crash or a pulled plug would: nothing is closed
				// or flushed, no deferred call runs.
				if p, err := os.FindProcess(os.Getpid()); err == nil {
					p.Kill()
				}
				time.Sleep(time.Minute)
			}
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}

// The upgrade of each stored fixture of an older layout, its process
// killed after any of its steps, is finished by the next open, with the
// same state hash and the same key list for a filtered session.
func TestFixtureUpgradeKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process for each step")
	}
	for _, dir := range fixtureDirs(t) {
		if strings.HasSuffix(dir, fmt.Sprint(store.LayoutVersion)) {
			continue
		}
		steps := upgradeSteps(t, dir)
		for i, step := range steps {
			t.Run(fmt.Sprintf("%s/%d-%s", filepath.Base(dir), i+1, step), func(t *testing.T) {
				nd, f := loadFixture(t, dir)
				cmd := exec.Command(os.Args[0], "-test.run=^TestFixtureUpgradeChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), "FLOE_FIXTURE_CHILD_DIR="+nd, "FLOE_FIXTURE_KILL_AT="+strconv.Itoa(i+1))
				out, _ := cmd.CombinedOutput()
				if !killed(cmd) || bytes.Contains(out, []byte("FAIL")) {
					t.Fatalf("the child was not killed (%v):\n%s", cmd.ProcessState, out)
				}
				var logs bytes.Buffer
				n := openFixture(t, nd, f, &logs)
				defer n.Close()
				checkFixture(t, n, f)
				if !strings.Contains(logs.String(), "not closed cleanly") {
					t.Errorf("the open after the kill did not notice it:\n%s", logs.String())
				}
			})
		}
	}
}

// killed reports whether a child process was killed, rather than ending
// on its own. (On Windows a killed process exits with code 1.)
func killed(cmd *exec.Cmd) bool {
	if runtime.GOOS == "windows" {
		return cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1
	}
	return cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == -1
}
