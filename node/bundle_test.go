package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

func export(t *testing.T, from, to *node.Node) ([]byte, node.BundleExport) {
	t.Helper()
	var buf bytes.Buffer
	ex, err := from.ExportBundle(ctx, &buf, to.ID())
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ex
}

func importB(t *testing.T, n *node.Node, b []byte) node.BundleImport {
	t.Helper()
	im, err := n.ImportBundle(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return im
}

// Bundles carried both ways make two nodes equal, and the acknowledgement
// that travels back makes the next bundle small.
func TestBundlesConvergeAndShrink(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 200)
	addDirectory(t, b, 2, 30)
	toB, ex := export(t, a, b)
	if !ex.Everything {
		t.Error("a first bundle should say it holds everything")
	}
	im := importB(t, b, toB)
	// b already holds the members records it got when admitted.
	if im.New+im.Known != ex.Entries || im.New < 2000 || !im.Report.Signed || im.Report.Problems() != "" {
		t.Fatalf("import: %+v, problems %q", im, im.Report.Problems())
	}
	toA, _ := export(t, b, a) // carries b's acknowledgement
	im = importB(t, a, toA)
	if !im.AckKept {
		t.Fatal("the acknowledgement in b's bundle was not kept")
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("two bundles did not make the nodes equal")
	}
	addDirectory(t, a, 3, 2)
	next, ex2 := export(t, a, b)
	if ex2.Everything || ex2.Entries > 200 {
		t.Errorf("after an acknowledgement the next bundle holds %d entries (%d bytes); it should hold about the new ones", ex2.Entries, len(next))
	}
	if len(next) >= len(toB)/4 {
		t.Errorf("next bundle is %d bytes, the first was %d; it did not shrink", len(next), len(toB))
	}
	importB(t, b, next)
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("the small bundle did not bring b level")
	}
	st, _ := b.Status(ctx)
	if len(st.Peers) != 1 || st.Peers[0].Bundles == 0 {
		t.Errorf("status should count bundles: %+v", st.Peers)
	}
}

// Importing the same bundle twice, or an older one after a newer one,
// changes nothing and is not an error.
func TestBundleImportIsIdempotentAndOrderFree(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 20)
	first, _ := export(t, a, b)
	addDirectory(t, a, 2, 20)
	second, _ := export(t, a, b)
	importB(t, b, second)
	h := stateHash(t, b)
	if im := importB(t, b, second); im.New != 0 || stateHash(t, b) != h {
		t.Errorf("a second import changed things: %+v", im)
	}
	if im := importB(t, b, first); im.New != 0 || stateHash(t, b) != h {
		t.Errorf("an older bundle after a newer changed things: %+v", im)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("not level")
	}
}

// A truncated or damaged bundle applies what is intact, says what was
// lost, and leaves a consistent store; a whole copy later completes it.
func TestDamagedBundleAppliesWhatIsIntact(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 400)
	whole, ex := export(t, a, b)
	var cut bytes.Buffer
	w := linkemu.CutWriter(&cut, int64(len(whole)/2))
	w.Write(whole)
	im := importB(t, b, cut.Bytes())
	if im.New == 0 || im.New >= ex.Entries || !im.Report.Truncated || im.AckKept {
		t.Fatalf("cut bundle: %+v", im)
	}
	if p := im.Report.Problems(); !strings.Contains(p, "cut short") {
		t.Errorf("problems should say the bundle was cut short: %q", p)
	}
	if _, err := b.Store().Verify(ctx); err != nil {
		t.Fatalf("store not consistent after a cut bundle: %v", err)
	}
	damaged := linkemu.Damage(whole, 7, 3)
	im = importB(t, b, damaged)
	if im.Report.Damaged == 0 || im.AckKept {
		t.Errorf("damaged bundle: %+v", im.Report)
	}
	importB(t, b, whole)
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("the whole bundle did not complete what the damaged ones began")
	}
}

func TestBundleForAnotherNodeIsRefused(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 5)
	forB, _ := export(t, a, b)
	other := newHarness(t).init() // another network
	otherBefore := status(t, other).Entries
	if _, err := other.ImportBundle(ctx, bytes.NewReader(forB)); !errors.Is(err, node.ErrWrongBundle) || !strings.Contains(err.Error(), "does not open with this device's key") {
		t.Errorf("another network: %v", err)
	}
	hc := newHarness(t)
	inv := a.Invite(nil, "hub")
	hc.opts.Join = &inv
	c := hc.init() // same network, another device
	cBefore := status(t, c).Entries
	if _, err := c.ImportBundle(ctx, bytes.NewReader(forB)); !errors.Is(err, node.ErrWrongBundle) || !strings.Contains(err.Error(), "made for another device") {
		t.Errorf("another device: %v", err)
	}
	if _, err := a.ImportBundle(ctx, bytes.NewReader(forB)); !errors.Is(err, node.ErrWrongBundle) {
		t.Errorf("own bundle: %v", err)
	}
	if status(t, other).Entries != otherBefore || status(t, c).Entries != cBefore {
		t.Error("a refused bundle applied entries")
	}
}

// What matters most goes first: urgent referrals, then the directory, then
// the rest (membership, first of all, comes with the trust layer).
func TestBundleCarriesUrgentReferralsFirst(t *testing.T) {
	_, a, _, b := pairNodes(t)
	for i := 0; i < 5; i++ {
		if _, err := a.Add(ctx, node.Outreach, changes(t, "date=2026-11-20", "community=Arviat", "contact=phone", fmt.Sprintf("subject=P-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	addDirectory(t, a, 1, 5)
	urgent, err := a.Add(ctx, node.Outreach, changes(t, "date=2026-11-21", "community=Arviat", "contact=phone", "subject=U-1", "urgent=true"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := export(t, a, b)
	plain, err := b.OpenBundle(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	_, err = fieldkit.ReadBundle(plain, nil, func(es []sp.Entry) error {
		for _, e := range es {
			switch {
			case e.Collection == node.Members:
				order = append(order, "members")
			case e.Record == urgent:
				order = append(order, "urgent")
			case e.Collection == node.Directory:
				order = append(order, "directory")
			default:
				order = append(order, "other")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{"members": -1, "urgent": 0, "directory": 1, "other": 2}
	for i := 1; i < len(order); i++ {
		if rank[order[i]] < rank[order[i-1]] {
			t.Fatalf("entry %d is %s after %s; order %v", i, order[i], order[i-1], order)
		}
	}
	for len(order) > 0 && order[0] == "members" {
		order = order[1:]
	}
	if order[0] != "urgent" {
		t.Fatalf("the urgent referral did not go first: %v", order)
	}
}

// A bundle from a revoked device is refused whole, and importing it does
// not put its sender back on the peer list.
func TestBundleFromARevokedDeviceIsRefused(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, b, 1, 5)
	fromB, _ := export(t, b, a)
	if _, err := a.Revoke(ctx, b.ID(), "lost on the ice road"); err != nil {
		t.Fatal(err)
	}
	before := status(t, a)
	_, err := a.ImportBundle(ctx, bytes.NewReader(fromB))
	if !errors.Is(err, node.ErrWrongBundle) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("want a refusal naming a revoked sender, got %v", err)
	}
	if ps, _ := a.Peers(); len(ps) != 0 {
		t.Fatalf("the import put the revoked device back on the peer list: %+v", ps)
	}
	if st := status(t, a); st.StateHash != before.StateHash {
		t.Fatal("entries applied from a revoked sender")
	}
	// Nor does a's own export go to it.
	if _, err := a.ExportBundle(ctx, io.Discard, b.ID()); !errors.Is(err, node.ErrRevoked) {
		t.Fatalf("a bundle was made for a revoked device: %v", err)
	}
}

// A bundle from a device with no certificate (not a peer either) is
// refused before anything is applied.
func TestBundleFromAStrangerIsRefused(t *testing.T) {
	_, a, _, _ := pairNodes(t)
	hx := newHarness(t)
	inv := a.Invite(nil, "hub")
	hx.opts.Join = &inv
	x := hx.init() // has the network key, never admitted
	if err := x.AddPeer(node.Peer{Device: a.ID(), Name: "a2"}); err == nil {
		t.Log("peer already known")
	}
	var buf bytes.Buffer
	if _, err := x.ExportBundle(ctx, &buf, a.ID()); err != nil {
		t.Fatal(err)
	}
	before := status(t, a)
	if _, err := a.ImportBundle(ctx, &buf); !errors.Is(err, node.ErrWrongBundle) || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("want a refusal naming a stranger, got %v", err)
	}
	if status(t, a).StateHash != before.StateHash {
		t.Fatal("a stranger's bundle changed the store")
	}
}

func TestPeerNamesStayUnique(t *testing.T) {
	_, a, _, b := pairNodes(t)
	c := newHarness(t).init()
	if err := a.AddPeer(node.Peer{Device: c.ID(), Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddPeer(node.Peer{Device: c.ID(), Name: "laptop"}); err == nil {
		t.Fatal("renaming a peer to another peer's name was allowed")
	}
	if p, err := a.FindPeer("laptop"); err != nil || p.Device != b.ID() {
		t.Fatalf("laptop now finds %v, %v", p.Device, err)
	}
	if err := a.AddPeer(node.Peer{Device: c.ID(), Name: "bad\x1b[2Jname"}); err == nil {
		t.Fatal("a name with an escape sequence was allowed")
	}
}

// A bundle is sealed to its recipient: the file holds no trace of what it
// carries, not even that it is a Floe bundle, and only the recipient opens
// it.
func TestBundleIsSealedToItsRecipient(t *testing.T) {
	_, a, _, b := pairNodes(t)
	shelter, err := a.Add(ctx, node.Directory, changes(t, "name=Fictional Safe House (sample)", "kind=shelter", "community=Arviat", "phone=867-555-0142"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" 12 Hidden Road")); err != nil {
		t.Fatal(err)
	}
	data, _ := export(t, a, b)
	lower := bytes.ToLower(data)
	for _, leak := range []string{strings.ToLower(fieldkit.CanaryMarker), "hidden road", "safe house", "arviat", "867-555-0142", "directory", "location"} {
		if bytes.Contains(lower, []byte(leak)) {
			t.Fatalf("the bundle file shows %q", leak)
		}
	}
	if bytes.HasPrefix(data, sp.AppendFrame(nil, nil)[:3]) {
		t.Fatal("the bundle file starts with the frame magic: it says what it is")
	}
	im := importB(t, b, data)
	if im.New == 0 || !im.Report.Signed {
		t.Fatalf("the recipient could not open it: %+v", im)
	}
	// b is a coordinator: it holds the sealed value and cannot open it.
	if _, err := b.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("a coordinator revealed a shelter location: %v", err)
	}
	// A shelter-staff device gets it in its own bundle and opens it.
	_, s := join(t, a, node.RoleShelterStaff, "*:*")
	im = importB(t, s, exportB(t, a, s))
	r, err := s.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}})
	if err != nil || !strings.Contains(r.Get("location"), fieldkit.CanaryMarker) {
		t.Fatalf("the shelter-staff recipient did not get the location: %v", err)
	}
}

func exportB(t *testing.T, from, to *node.Node) []byte {
	t.Helper()
	b, _ := export(t, from, to)
	return b
}
