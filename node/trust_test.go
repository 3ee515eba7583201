package node_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// deviceKey reads a node's device key from its store, as a thief who
// copied an unlocked keystore could.
func deviceKey(t *testing.T, n *node.Node) ed25519.PrivateKey {
	t.Helper()
	seed, err := n.Store().GetMeta("device-key")
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// forge makes an entry signed by key, stamped now on the harness clock.
func forge(t *testing.T, h *harness, key ed25519.PrivateKey, coll, area string, id sp.RecordID, field string, v any) sp.Entry {
	t.Helper()
	b, err := sp.EncodeValue(v)
	if err != nil {
		t.Fatal(err)
	}
	e := sp.Entry{Collection: coll, Record: id, Area: area, Field: field, Kind: sp.KindValue, Value: b,
		Time: sp.MakeHLC(uint64(h.clock.t.Add(time.Minute).UnixMilli()), 0)}
	e.Sign(key)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// Each bad entry is refused, counted, and leaves the store as it was.
func TestBadEntriesAreRefused(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, w := join(t, a, node.RoleOutreach, "outreach:kivalliq/arviat", "directory:*")
	wkey := deviceKey(t, w)
	rec := mustAdd(t, w, node.Outreach, "date=2026-11-20", "community=Arviat", "contact=phone", "subject=S-1AAA")
	if err := w.Update(ctx, node.Outreach, rec, changes(t, "contact=in-person")); err != nil {
		t.Fatal(err)
	}
	var mine []sp.Entry
	_ = w.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Outreach {
			mine = append(mine, e)
		}
		return nil
	})
	if _, err := a.Merge(ctx, mine); err != nil {
		t.Fatalf("the worker's own entries were refused: %v", err)
	}
	before := status(t, a).StateHash

	stranger := make([]byte, 32)
	rand.Read(stranger)
	strangerKey := ed25519.NewKeyFromSeed(stranger)
	baker := sp.NewRecordIDIn(node.Outreach, "kivalliq/baker-lake")
	dirID := sp.NewRecordIDIn(node.Directory, "")
	cases := []struct {
		name string
		e    sp.Entry
		want error
	}{
		{"out of area", forge(t, ha, wkey, node.Outreach, "kivalliq/baker-lake", baker, "subject", "S-2BBB"), node.ErrNotAllowed},
		{"role may not write the directory", forge(t, ha, wkey, node.Directory, "", dirID, "name/en", "Fake Safe House"), node.ErrNotAllowed},
		{"forged signature", func() sp.Entry {
			e := mine[0]
			e.Value, _ = sp.EncodeValue("P-FORGED")
			return e
		}(), sp.ErrBadSignature},
		{"no certificate", forge(t, ha, strangerKey, node.Outreach, "", sp.NewRecordID(), "subject", "S-3CCC"), node.ErrUnknownAuthor},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.Merge(ctx, []sp.Entry{c.e})
			if !errors.Is(err, c.want) {
				t.Fatalf("want %v, got %v", c.want, err)
			}
			if status(t, a).StateHash != before {
				t.Fatal("a refused entry changed the store")
			}
		})
	}
	t.Run("plaintext location", func(t *testing.T) {
		e := forge(t, ha, deviceKey(t, a), node.Directory, "", dirID, "location", "12 Plain Street")
		if _, err := a.Merge(ctx, []sp.Entry{e}); !errors.Is(err, node.ErrNotAllowed) || !strings.Contains(err.Error(), "must be sealed") {
			t.Fatalf("an unsealed location was accepted: %v", err)
		}
		if status(t, a).StateHash != before {
			t.Fatal("a refused entry changed the store")
		}
	})
	t.Run("replayed", func(t *testing.T) {
		// The first version of the contact field was superseded: sent
		// again, it changes nothing.
		if _, err := a.Merge(ctx, mine); err != nil {
			t.Fatal(err)
		}
		if status(t, a).StateHash != before {
			t.Fatal("a replayed entry changed the store")
		}
	})
	t.Run("forged certificate", func(t *testing.T) {
		// A member signs a certificate for itself with its own key in
		// place of the root's.
		body, _ := sp.Marshal(node.Cert{Device: w.ID(), Role: node.RoleAdmin, Areas: []string{"*:*"}, Issued: 1})
		_ = body
		e := forge(t, ha, wkey, node.Members, "", memberRecordOf(t, a, w.ID()), "cert", []byte("not a statement"))
		if _, err := a.Merge(ctx, []sp.Entry{e}); !errors.Is(err, node.ErrNotAllowed) {
			t.Fatalf("a self-made certificate was accepted: %v", err)
		}
		if c, _ := a.Members(), 0; len(c) == 0 {
			t.Fatal("no members")
		}
		for _, m := range a.Members() {
			if m.Device == w.ID() && m.Role != node.RoleOutreach {
				t.Fatalf("the worker's role became %s", m.Role)
			}
		}
	})
	// The local checks say why, in words.
	if _, err := w.Add(ctx, node.Directory, changes(t, "name=Fake Shelter", "kind=shelter")); !errors.Is(err, node.ErrNotAllowed) || !strings.Contains(err.Error(), "outreach-worker") {
		t.Fatalf("a worker wrote the directory: %v", err)
	}
	if _, err := w.AddIn(ctx, node.Outreach, "kivalliq/baker-lake", changes(t, "date=2026-11-20", "community=Baker Lake", "contact=phone", "subject=S-4DDD")); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("a worker wrote outside its area: %v", err)
	}
}

// memberRecordOf finds the members record that holds d's certificate.
func memberRecordOf(t *testing.T, n *node.Node, d sp.DeviceID) sp.RecordID {
	t.Helper()
	var id sp.RecordID
	_ = n.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Members && e.Field == "cert" && e.Author != d {
			// the admin authored every certificate; find d's by content
			if v, err := sp.DecodeValue(e.Value); err == nil {
				if b, ok := v.([]byte); ok && bytes.Contains(b, d[:]) {
					id = e.Record
				}
			}
		}
		return nil
	})
	if id.IsZero() {
		t.Fatal("no certificate record found")
	}
	return id
}

// A session offers only what both ends may hold: an outreach worker in
// Arviat gets Arviat's outreach records and the directory, and nothing of
// Pangnirtung or the audit log; a second session moves nothing.
func TestSyncOffersOnlyReadableAreas(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, w := join(t, a, node.RoleOutreach, "outreach:kivalliq/arviat", "directory:*")
	arviat, err := a.AddIn(ctx, node.Outreach, "kivalliq/arviat", changes(t, "date=2026-11-20", "community=Arviat", "contact=phone", "subject=S-ARV1"))
	if err != nil {
		t.Fatal(err)
	}
	pang, err := a.AddIn(ctx, node.Outreach, "qikiqtaaluk/pangnirtung", changes(t, "date=2026-11-20", "community=Pangnirtung", "contact=phone", "subject=S-PNG1"))
	if err != nil {
		t.Fatal(err)
	}
	hotline := mustAdd(t, a, node.Directory, "name=Sample Territorial Help Line", "kind=hotline", "phone=18005550100")
	shelter := mustAdd(t, a, node.Directory, "name=Fictional Safe House (sample)", "kind=shelter")
	if err := a.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" 4 Hidden Lane")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); err != nil {
		t.Fatal(err) // writes an audit record on a
	}
	ca, cw := net.Pipe()
	if _, _, errA, errW := syncOver(t, a, w, ca, cw, node.SyncOptions{}); errA != nil || errW != nil {
		t.Fatal(errA, errW)
	}
	if _, err := w.Get(ctx, node.Outreach, arviat, node.ReadOptions{}); err != nil {
		t.Fatalf("the Arviat record did not arrive: %v", err)
	}
	if _, err := w.Get(ctx, node.Directory, hotline, node.ReadOptions{}); err != nil {
		t.Fatalf("the directory did not arrive: %v", err)
	}
	if _, err := w.Get(ctx, node.Outreach, pang, node.ReadOptions{}); err == nil {
		t.Fatal("a Pangnirtung record reached an Arviat worker")
	}
	if log, _ := w.AuditLog(ctx); len(log) != 0 {
		t.Fatal("the audit log reached an outreach worker")
	}
	// The shelter record arrives with its location sealed: held, relayed,
	// never readable here.
	if _, err := w.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("an outreach worker revealed a location: %v", err)
	}
	ca, cw = net.Pipe()
	ra, _, errA, errW := syncOver(t, a, w, ca, cw, node.SyncOptions{})
	if errA != nil || errW != nil {
		t.Fatal(errA, errW)
	}
	if ra.Stats.Sent != 0 || ra.Stats.Received != 0 || ra.Stats.RoundsIn+ra.Stats.RoundsOut > 2 {
		t.Fatalf("a second session between equal filtered sets moved entries: %+v", ra.Stats)
	}
}

// Revocation: a copy of a revoked device's keystore opens nothing sealed
// after the revocation, gets no bundle, and cannot connect; the device's
// later entries are refused and its old key epoch's ciphertexts pruned.
func TestRevocation(t *testing.T) {
	ha := newHarness(t)
	ha.opts.Audiences = nil // the admin is not in the audience
	a := ha.init()
	_, s := join(t, a, node.RoleShelterStaff, "*:*")
	hr, r := join(t, a, node.RoleShelterStaff, "*:*")
	exchange(t, a, s)
	if rep, err := s.Maintain(ctx); err != nil || rep.Shared != 1 {
		t.Fatalf("s did not share the audience key with r: %+v %v", rep, err)
	}
	exchange(t, a, s)
	exchange(t, a, r)
	shelter := mustAdd(t, a, node.Directory, "name=Fictional Safe House (sample)", "kind=shelter")
	if err := a.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" old place")); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, r)
	exchange(t, a, s)
	if got, err := r.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); err != nil || !strings.Contains(got.Get("location"), "old place") {
		t.Fatalf("before revocation r reads the location: %v", err)
	}
	// Copy r's keystore (its whole data directory) while it is closed.
	r.Close()
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copyDir, os.DirFS(hr.dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, r.ID(), "left on a plane"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, r.ID(), ""); err == nil {
		t.Fatal("revoked twice")
	}
	exchange(t, a, s) // s learns of it and re-seals under the new key
	if rep, err := s.Maintain(ctx); err != nil || rep.Resealed != 1 {
		t.Fatalf("s did not re-seal the location: %+v %v", rep, err)
	}
	exchange(t, a, s)
	if err := s.Update(ctx, node.Directory, shelter, changes(t, "location="+fieldkit.CanaryMarker+" new place")); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, s)
	// Old ciphertexts are gone: every sealed value left is under epoch 2.
	_ = a.Entries(ctx, func(e sp.Entry) error {
		if e.Field == "location" {
			v, _ := sp.DecodeValue(e.Value)
			if ep, err := fieldkit.SealedEpoch(v.([]byte)); err != nil || ep < 2 {
				t.Errorf("a location sealed under epoch %d survived the rotation", ep)
			}
		}
		return nil
	})

	cp := *hr
	cp.dir = copyDir
	opts := cp.opts
	opts.Join = nil
	rc, err := node.Open(ctx, copyDir, []byte(pass), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// No bundle is made for it; one made for s does not open with its key.
	if _, err := a.ExportBundle(ctx, &bytes.Buffer{}, r.ID()); !errors.Is(err, node.ErrRevoked) {
		t.Fatalf("a bundle was made for the revoked device: %v", err)
	}
	forS, _ := export(t, a, s)
	if _, err := rc.ImportBundle(ctx, bytes.NewReader(forS)); err == nil {
		t.Fatal("the revoked copy opened a bundle")
	}
	// Even with every entry handed over, the new location does not open.
	var all []sp.Entry
	_ = a.Entries(ctx, func(e sp.Entry) error { all = append(all, e); return nil })
	_, _ = rc.Merge(ctx, all)
	if got, err := rc.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); err == nil {
		t.Fatalf("the revoked copy read the new location: %q", got.Get("location"))
	}
	// Its writes after the revocation are refused everywhere.
	late := forge(t, ha, deviceKey(t, rc), node.Directory, "", shelter, "hours", "never")
	if _, err := a.Merge(ctx, []sp.Entry{late}); !errors.Is(err, node.ErrRevoked) {
		t.Fatalf("an entry of a revoked device was accepted: %v", err)
	}

	// It cannot connect: the network key rotated, and the gater refuses it.
	addrs := listen(t, a)
	h, err := rc.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p, err := rc.FindPeer(a.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	p.Addrs = addrs
	if _, err := rc.SyncPeer(ctx, h, p, node.SyncOptions{StallTimeout: 5 * time.Second}); err == nil {
		t.Fatal("the revoked device synced")
	}
	// The old network key stays in use for a grace period, while the new
	// one travels; after it, only the new key finishes a handshake.
	if a.PSK() != rc.Network().PSK {
		t.Fatal("the network key changed before the grace period ended")
	}
	ha.clock.t = ha.clock.t.Add(node.KeyGrace + time.Minute)
	if a.PSK() == rc.PSK() {
		t.Fatal("the network key did not rotate")
	}
}

// listen starts n's libp2p host on a loopback port and returns its
// addresses.
func listen(t *testing.T, n *node.Node) []string {
	t.Helper()
	h, err := n.StartHost(ctx, []string{"/ip4/127.0.0.1/tcp/0"}, node.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h.Addrs()
}

// dialSync makes one live session from n to d at addrs.
func dialSync(t *testing.T, n *node.Node, d sp.DeviceID, addrs []string) error {
	t.Helper()
	h, err := n.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = n.SyncPeer(ctx, h, node.Peer{Device: d, Addrs: addrs}, node.SyncOptions{StallTimeout: 5 * time.Second})
	return err
}

// Outsiders: a node with the network key but no certificate is cut off
// after the handshake; a node without the key never completes one. A
// member gets through the same host.
func TestOutsidersAreCutOff(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addrs := listen(t, a)
	hx := newHarness(t)
	inv := a.Invite(nil, "hub")
	hx.opts.Join = &inv
	x := hx.init() // has the key from an invite, never admitted
	if err := dialSync(t, x, a.ID(), addrs); err == nil {
		t.Fatal("a device without a certificate synced")
	}
	y := newHarness(t).init() // another network, another key
	if err := dialSync(t, y, a.ID(), addrs); err == nil {
		t.Fatal("a device of another network synced")
	}
	if err := dialSync(t, b, a.ID(), addrs); err != nil {
		t.Fatalf("a member was refused: %v", err)
	}
	if strings.Contains(hx.logs.String(), "sync session done") {
		t.Fatal("the outsider's log shows a finished session")
	}
}

// A laptop that has not heard of a revocation relays the revoked device's
// later entries in good faith: the session is not cut for it, the relay
// learns of the revocation in the same session (it travels first) and
// forgets those entries, and the two end equal.
func TestRevocationReachesARelay(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, s := join(t, a, node.RoleCoordinator, "*:*")
	_, r := join(t, a, node.RoleCoordinator, "*:*")
	exchange(t, a, s)
	exchange(t, s, r)
	id := mustAdd(t, a, node.Directory, "name=Sample Clinic (fictional)", "kind=health")
	exchange(t, a, s)
	if _, err := a.Revoke(ctx, r.ID(), "taken"); err != nil {
		t.Fatal(err)
	}
	// r, not knowing, writes; s takes it from r directly.
	exchange(t, s, r)
	if err := r.Update(ctx, node.Directory, id, changes(t, "hours=never open")); err != nil {
		t.Fatal(err)
	}
	exchange(t, s, r)
	if got, _ := s.Get(ctx, node.Directory, id, node.ReadOptions{}); got.Get("hours") != "never open" {
		t.Fatal("setup: s should hold r's late entry")
	}
	ca, cs := net.Pipe()
	ra, rs, errA, errS := syncOver(t, a, s, ca, cs, node.SyncOptions{})
	if errA != nil || errS != nil {
		t.Fatalf("the session was cut: %v / %v", errA, errS)
	}
	t.Logf("a refused %d, s refused %d, a received %d", ra.Refused, rs.Refused, ra.Stats.Received)
	if got, _ := s.Get(ctx, node.Directory, id, node.ReadOptions{}); got.Get("hours") != "" {
		t.Fatal("the relay kept the revoked device's later entry")
	}
	ca, cs = net.Pipe()
	if _, _, errA, errS := syncOver(t, a, s, ca, cs, node.SyncOptions{}); errA != nil || errS != nil {
		t.Fatal(errA, errS)
	}
	if stateHash(t, a) != stateHash(t, s) {
		t.Fatal("a and the relay did not converge")
	}
}

// A member cannot plant a network key for others, nor blame another
// device in the audit log: the log names who signed each record.
func TestMembersCannotForgeKeysOrAuditRecords(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, w := join(t, a, node.RoleCoordinator, "*:*")
	wkey := deviceKey(t, w)
	// A wrap of a made-up network key for a, in the network group's
	// record (found from a's own entries).
	var netRec sp.RecordID
	if _, err := a.Revoke(ctx, sp.DeviceID{7}, "never existed"); err != nil {
		t.Fatal(err)
	}
	_ = a.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Members && strings.HasPrefix(e.Field, "epoch/") {
			v, _ := sp.DecodeValue(e.Value)
			if b, _ := v.([]byte); bytes.Contains(b, []byte("network")) {
				netRec = e.Record
			}
		}
		return nil
	})
	if netRec.IsZero() {
		t.Fatal("no network key epoch")
	}
	giveMembers(t, a, w)
	fake := forge(t, ha, wkey, node.Members, "", netRec, "wrap/1/"+strings.TrimPrefix(a.ID().String(), "dev:"), make([]byte, 104))
	if _, err := a.Merge(ctx, []sp.Entry{fake}); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("a coordinator shared a network key: %v", err)
	}
	// An audit record that names a as the revealer, signed by w.
	id := sp.NewRecordID()
	var es []sp.Entry
	for _, kv := range [][2]string{{"action", "reveal"}, {"collection", "directory"}, {"device", a.ID().String()}, {"field", "location"}, {"record", sp.NewRecordID().String()}} {
		es = append(es, forge(t, ha, wkey, node.Audit, "", id, kv[0], kv[1]))
	}
	if _, err := a.Merge(ctx, es); err != nil {
		t.Fatal(err)
	}
	log, err := a.AuditLog(ctx)
	if err != nil || len(log) != 1 || log[0].Device != w.ID().String() {
		t.Fatalf("the audit log does not name the signer: %+v %v", log, err)
	}
}
