package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// newBackupKey makes and publishes a backup key on the admin's node a.
func newBackupKey(t testing.TB, a *node.Node) node.BackupKey {
	t.Helper()
	k, err := a.MakeBackupKey(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PublishBackupKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return k
}

func backupOf(t testing.TB, n *node.Node) ([]byte, node.BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := n.WriteBackup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != int64(buf.Len()) {
		t.Fatalf("the backup says %d bytes and is %d", info.Bytes, buf.Len())
	}
	return buf.Bytes(), info
}

// restoreTo restores b into a new directory with h's options and opens it.
func restoreTo(t *testing.T, h *harness, b []byte, k node.BackupKey, opts node.RestoreOptions) (*node.Node, node.RestoreReport) {
	t.Helper()
	opts.Options = h.opts
	rep, err := node.Restore(ctx, bytes.NewReader(b), k, h.dir, []byte("a new passphrase"), opts)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	n, err := node.Open(ctx, h.dir, []byte("a new passphrase"), h.opts)
	if err != nil {
		t.Fatalf("opening the restored node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n, rep
}

func hashes(t testing.TB, n *node.Node) map[sp.EntryHash]bool {
	t.Helper()
	out := map[sp.EntryHash]bool{}
	if err := n.Entries(ctx, func(e sp.Entry) error { out[e.Hash()] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func pipeSync(t *testing.T, x, y *node.Node) {
	t.Helper()
	cx, cy := net.Pipe()
	if _, _, e1, e2 := syncOver(t, x, y, cx, cy, node.SyncOptions{}); e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
}

// A backup of a node that keeps writing meanwhile is one moment of it:
// restored elsewhere, it has that moment's state hash, every entry the
// node had when the backup began, nothing it never had, its attachments,
// its peers, and the same device key.
func TestBackupOfARunningNodeRestores(t *testing.T) {
	ha, a, hb, b := pairNodes(t)
	k := newBackupKey(t, a)
	giveMembers(t, a, b)
	addDirectory(t, b, 1, 200)
	hotline := mustAdd(t, b, node.Directory, "name=Tuktuqjuaq Hotline (fictional)", "kind=hotline", "phone=867-555-0150")
	poster := bytes.Repeat([]byte("a fictional poster, "), 9000) // 180 KB: three chunks
	if _, err := b.Attach(ctx, hotline, "poster.txt", bytes.NewReader(poster)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(node.Peer{Device: a.ID(), Name: "hub", Addrs: []string{"/ip4/127.0.0.1/tcp/7420"}}); err != nil {
		t.Fatal(err)
	}
	before := hashes(t, b)

	// Writes go on while the backup is written.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Add(ctx, node.Outreach, changes(t, "date=2026-11-24", "community=Fictional Bay", "contact=phone", fmt.Sprintf("subject=S-%04d", i))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	stopWriting := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriting()
	time.Sleep(20 * time.Millisecond)
	raw, info := backupOf(t, b)
	stopWriting()
	after := hashes(t, b)
	if len(after) <= len(before) {
		t.Fatal("no writes happened during the backup")
	}

	hr := newHarness(t)
	hr.clock = hb.clock
	hr.opts.Now = hb.clock.now
	r, rep := restoreTo(t, hr, raw, k, node.RestoreOptions{})
	st := status(t, r)
	if st.StateHash != info.StateHash || rep.StateHash != info.StateHash || uint64(st.Entries) != info.Entries {
		t.Fatalf("restored state %s (%d entries), backup %s (%d)", st.StateHash, st.Entries, info.StateHash, info.Entries)
	}
	if r.ID() != b.ID() || rep.NodeID != b.ID().String() || rep.NewDevice {
		t.Fatalf("restored as %s, backed up %s", r.ID(), b.ID())
	}
	got := hashes(t, r)
	for h := range before {
		if !got[h] {
			t.Fatalf("entry %s, there before the backup began, is not restored", h.Short())
		}
	}
	for h := range got {
		if !after[h] {
			t.Fatalf("the restored node holds entry %s, which the node never had", h.Short())
		}
	}
	var out bytes.Buffer
	if _, err := r.ReadAttachment(ctx, hotline, "poster.txt", &out); err != nil || !bytes.Equal(out.Bytes(), poster) {
		t.Fatalf("the attachment after restoring: %v (%d bytes)", err, out.Len())
	}
	if ps, _ := r.Peers(); len(ps) != 1 || ps[0].Device != a.ID() || ps[0].Addrs[0] != "/ip4/127.0.0.1/tcp/7420" {
		t.Fatalf("peers after restoring: %+v", ps)
	}
	if rs, err := r.Search(ctx, "tuktuqjuaq", 5); err != nil || len(rs) != 1 || rs[0].ID != hotline.String() {
		t.Fatalf("search after restoring: %v %v", rs, err)
	}
	if c, ok := r.Cert(); !ok || c.Role != node.RoleCoordinator {
		t.Fatalf("the restored node's certificate: %+v", c)
	}
	if _, err := r.Store().Verify(ctx); err != nil {
		t.Fatalf("verify the restored store: %v", err)
	}
	_ = ha
}

// A node restored from a backup syncs as the device it was: what it wrote
// before the backup, and after it (from its peers), comes back once; its
// clock starts past everything it wrote; what it writes after the restore
// reaches its peers.
func TestRestoredNodeSyncsWithoutLossOrDuplicates(t *testing.T) {
	_, a, hb, b := pairNodes(t)
	k := newBackupKey(t, a)
	giveMembers(t, a, b)
	var written []sp.RecordID
	add := func(n *node.Node, i int) {
		id := mustAdd(t, n, node.Outreach, "date=2026-11-24", "community=Fictional Bay", "contact=phone", fmt.Sprintf("subject=S-%04d", i))
		written = append(written, id)
	}
	for i := range 20 {
		add(b, i)
	}
	// A write of b's that a tombstone prunes later: b's newest entry is
	// then gone from its store, but its clock must still start past it.
	doomed := written[0]
	exchange(t, a, b)
	if err := a.Delete(ctx, node.Outreach, doomed); err != nil {
		t.Fatal(err)
	}
	hb.clock.t = hb.clock.t.Add(time.Minute)
	if err := b.Update(ctx, node.Outreach, doomed, changes(t, "urgent=true")); err != nil {
		t.Fatal(err)
	}
	var newest sp.HLC
	_ = b.Entries(ctx, func(e sp.Entry) error {
		if e.Author == b.ID() {
			newest = max(newest, e.Time)
		}
		return nil
	})
	exchange(t, a, b) // the tombstone prunes b's newest entry
	written = written[1:]
	raw, _ := backupOf(t, b)
	for i := 20; i < 25; i++ { // after the backup; they reach a
		add(b, i)
	}
	exchange(t, a, b)
	b.Close() // the laptop is lost

	hr := newHarness(t)
	hr.clock = hb.clock
	hr.opts.Now = hb.clock.now
	r, _ := restoreTo(t, hr, raw, k, node.RestoreOptions{})
	if r.ID() != b.ID() {
		t.Fatal("the restored node is another device")
	}
	first := mustAdd(t, r, node.Outreach, "date=2026-11-25", "community=Fictional Bay", "contact=in-person", "subject=S-9000")
	written = append(written, first)
	es, err := r.Store().Record(ctx, node.Outreach, first)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Time <= newest {
			t.Fatalf("a write after restoring is stamped %v, not after the device's newest entry %v", e.Time, newest)
		}
	}
	for i := 9001; i < 9003; i++ {
		add(r, i)
	}
	pipeSync(t, a, r)
	pipeSync(t, r, a)
	if status(t, a).StateHash != status(t, r).StateHash {
		t.Fatal("the restored node and its peer differ after syncing both ways")
	}
	for _, n := range []*node.Node{a, r} {
		var ids []string
		if err := n.List(ctx, node.Outreach, func(rec node.Record) error { ids = append(ids, rec.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(written) {
			t.Fatalf("%s lists %d outreach records, %d were written", n.ID().Short(), len(ids), len(written))
		}
		for _, id := range written {
			if !slices.Contains(ids, id.String()) {
				t.Fatalf("record %s is lost", id.Short())
			}
		}
	}
}

// Every way a backup can be wrong is refused with a message that says
// what is wrong, and leaves no directory behind.
func TestDamagedBackupsAreRefused(t *testing.T) {
	_, a, _, b := pairNodes(t)
	k := newBackupKey(t, a)
	giveMembers(t, a, b)
	addDirectory(t, b, 2, 30)
	id := mustAdd(t, b, node.Directory, "name=Example Clinic (fictional)", "kind=health")
	if _, err := b.Attach(ctx, id, "form.txt", bytes.NewReader(bytes.Repeat([]byte("fictional intake form "), 8000))); err != nil {
		t.Fatal(err)
	}
	good, _ := backupOf(t, b)
	if len(good) < 3*(64<<10) {
		t.Fatalf("the backup is only %d bytes; the test wants several frames", len(good))
	}
	other := newHarness(t)
	otherNet := other.init()
	otherKey := newBackupKey(t, otherNet)
	nextKey, err := a.MakeBackupKey(true) // a second key of the same network, not yet published
	if err != nil {
		t.Fatal(err)
	}

	parent := t.TempDir()
	try := func(name string, file []byte, key node.BackupKey, want ...string) {
		t.Helper()
		dir := filepath.Join(parent, "restored")
		_, err := node.Restore(ctx, bytes.NewReader(file), key, dir, []byte("a new passphrase"), node.RestoreOptions{Options: newHarness(t).opts})
		if err == nil {
			t.Fatalf("%s: restored", name)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %v; want %q in it", name, err, w)
			}
		}
		if !strings.Contains(err.Error(), "nothing was restored") {
			t.Fatalf("%s: %v does not say nothing was restored", name, err)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 0 {
			t.Fatalf("%s: left %s behind", name, ents[0].Name())
		}
		// A check, without restoring, refuses it too.
		if _, err := node.CheckBackup(ctx, bytes.NewReader(file), key); err == nil {
			t.Fatalf("%s: the check passed", name)
		}
	}
	flip := func(at int) []byte {
		c := bytes.Clone(good)
		c[at] ^= 0x10
		return c
	}
	try("empty", nil, k, "empty")
	try("another file", []byte("PK\x03\x04 a zip file"), k, "does not start as a Floe backup")
	try("magic", flip(3), k, "does not start as a Floe backup")
	try("version", flip(9), k, "version 17 backup", "newer Floe")
	try("network in the header", flip(12), k, "network", "damaged")
	try("key in the header", flip(75), k, "backup key", "damaged")
	try("device in the header", flip(30), k, "damaged")
	try("created in the header", flip(60), k, "damaged")
	try("ephemeral key in the header", flip(100), k, "damaged")
	try("first frame", flip(200), k, "damaged", "byte 110")
	try("middle frame", flip(110+65552+5000), k, "damaged", fmt.Sprintf("byte %d", 110+65552))
	try("last byte", flip(len(good)-1), k, "damaged")
	try("cut in the header", good[:50], k, "cut short")
	try("cut at a frame's end", good[:110+2*65552], k, "cut short")
	try("cut inside a frame", good[:110+65552+777], k, "cut short")
	try("cut by one byte", good[:len(good)-1], k, "cut short")
	try("bytes added", append(bytes.Clone(good), 0), k, "damaged")
	try("another network's key", good, otherKey, "the backup is of network", "belongs to network")
	try("the next key", good, nextKey, "backup key #1", "holds key #2")
	// Every header byte, and bytes all through the file.
	for at := 0; at < len(good); at += max(1, min(at+1, 4099)) {
		if _, err := node.CheckBackup(ctx, bytes.NewReader(flip(at)), k); err == nil {
			t.Fatalf("a byte flipped at %d went unnoticed", at)
		} else if !errors.Is(err, node.ErrBadBackup) && !errors.Is(err, node.ErrBackupKey) {
			t.Fatalf("a byte flipped at %d: %v", at, err)
		}
	}
	// The good one checks, and restores.
	chk, err := node.CheckBackup(ctx, bytes.NewReader(good), k)
	if err != nil || chk.Device != b.ID().String() || chk.Role != node.RoleCoordinator || chk.Revoked {
		t.Fatalf("check: %+v %v", chk, err)
	}
	if _, err := node.Restore(ctx, bytes.NewReader(good), k, filepath.Join(parent, "restored"), []byte("a new passphrase"), node.RestoreOptions{Options: newHarness(t).opts}); err != nil {
		t.Fatal(err)
	}
}

// A restore never overwrites: a directory that holds anything, or a file,
// is refused and left as it was; an empty directory is used.
func TestRestoreRefusesAPlaceThatHoldsSomething(t *testing.T) {
	_, a, _, b := pairNodes(t)
	k := newBackupKey(t, a)
	giveMembers(t, a, b)
	raw, _ := backupOf(t, b)
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "notes.txt"), []byte("keep me"), 0o600)
	file := filepath.Join(parent, "a-file")
	os.WriteFile(file, []byte("keep me too"), 0o600)
	opts := node.RestoreOptions{Options: newHarness(t).opts}
	for _, dir := range []string{full, file, a.Store().Dir()} {
		_, err := node.Restore(ctx, bytes.NewReader(raw), k, dir, []byte("a new passphrase"), opts)
		if err == nil || !(strings.Contains(err.Error(), "not empty") || strings.Contains(err.Error(), "is a file")) {
			t.Fatalf("restore into %s: %v", dir, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(full, "notes.txt")); string(b) != "keep me" {
		t.Fatal("a refused restore changed what was there")
	}
	empty := filepath.Join(parent, "empty")
	os.MkdirAll(empty, 0o700)
	if _, err := node.Restore(ctx, bytes.NewReader(raw), k, empty, []byte("a new passphrase"), opts); err != nil {
		t.Fatalf("restore into an empty directory: %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 3 {
		t.Fatalf("the restore left something beside the node: %v", ents)
	}
}

// A backup whose members records show the device revoked is never
// restored as that device. It is restored as a new device, which the
// admin admits; the records come back with it. A backup of the admin's
// laptop is restored only as itself.
func TestRevokedDevicesBackup(t *testing.T) {
	ha, a := func() (*harness, *node.Node) { h := newHarness(t); return h, h.init() }()
	k := newBackupKey(t, a)
	hw, w := join(t, a, node.RoleOutreach, "outreach:kivalliq/arviat", "directory:*")
	pipeSync(t, a, w)
	var mine []sp.RecordID
	for i := range 5 {
		mine = append(mine, mustAdd(t, w, node.Outreach, "date=2026-11-24", "community=Arviat", "contact=phone", fmt.Sprintf("subject=S-%04d", i)))
	}
	pipeSync(t, w, a)
	ha.clock.t = ha.clock.t.Add(time.Hour)
	hw.clock.t = ha.clock.t
	if _, err := a.Revoke(ctx, w.ID(), "lost on the plane"); err != nil {
		t.Fatal(err)
	}
	giveMembers(t, a, w) // the revocation reaches the laptop
	raw, _ := backupOf(t, w)

	hr := newHarness(t)
	hr.opts.Now = hw.clock.now
	_, err := node.Restore(ctx, bytes.NewReader(raw), k, hr.dir, []byte("a new passphrase"), node.RestoreOptions{Options: hr.opts})
	if !errors.Is(err, node.ErrRevoked) || !strings.Contains(err.Error(), "--new-device") || !strings.Contains(err.Error(), "lost on the plane") {
		t.Fatalf("restoring a revoked device: %v", err)
	}
	if _, err := os.Stat(hr.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused restore left its directory")
	}
	chk, err := node.CheckBackup(ctx, bytes.NewReader(raw), k)
	if err != nil || !chk.Revoked {
		t.Fatalf("the check does not say the device was revoked: %+v %v", chk, err)
	}
	// As a new device, with an invite.
	inv, err := a.MakeInvite(node.InviteOptions{Role: node.RoleOutreach, Areas: []string{"outreach:kivalliq/arviat", "directory:*"}, Name: "hub"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Restore(ctx, bytes.NewReader(raw), k, hr.dir, []byte("p"), node.RestoreOptions{Options: hr.opts, NewDevice: true}); err == nil || !strings.Contains(err.Error(), "invite") {
		t.Fatalf("a new device without an invite: %v", err)
	}
	r, rep := restoreTo(t, hr, raw, k, node.RestoreOptions{NewDevice: true, Join: &inv})
	if r.ID() == w.ID() || rep.NodeID != r.ID().String() || !rep.NewDevice || !rep.Revoked {
		t.Fatalf("restored as %s (%+v), the revoked device is %s", r.ID(), rep, w.ID())
	}
	for _, id := range mine {
		if _, err := r.Get(ctx, node.Outreach, id, node.ReadOptions{}); err != nil {
			t.Fatalf("record %s written by the revoked device before its revocation: %v", id.Short(), err)
		}
	}
	if _, err := r.Add(ctx, node.Outreach, changes(t, "date=2026-11-25", "community=Arviat", "contact=phone", "subject=S-1111")); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("a new device wrote before it was admitted: %v", err)
	}
	req, err := r.MakeJoinRequest("arviat-laptop-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admit(ctx, req); err != nil {
		t.Fatal(err)
	}
	pipeSync(t, a, r)
	id := mustAdd(t, r, node.Outreach, "date=2026-11-25", "community=Arviat", "contact=phone", "subject=S-1111")
	pipeSync(t, r, a)
	if _, err := a.Get(ctx, node.Outreach, id, node.ReadOptions{}); err != nil {
		t.Fatalf("the new device's record did not reach the admin: %v", err)
	}

	// The admin's own backup: as itself only.
	rawA, _ := backupOf(t, a)
	inv2, _ := a.MakeInvite(node.InviteOptions{Role: node.RoleOutreach, Areas: []string{"directory:*"}})
	h2 := newHarness(t)
	_, err = node.Restore(ctx, bytes.NewReader(rawA), k, h2.dir, []byte("p"), node.RestoreOptions{Options: h2.opts, NewDevice: true, Join: &inv2})
	if err == nil || !strings.Contains(err.Error(), "root key") {
		t.Fatalf("the admin's backup as a new device: %v", err)
	}
	ra, _ := restoreTo(t, h2, rawA, k, node.RestoreOptions{})
	if !ra.IsAdmin() || ra.ID() != a.ID() {
		t.Fatal("the admin's laptop, restored, is not the admin")
	}
}

// A laptop revoked after its last backup comes back as itself (the backup
// cannot know), and learns at its first sync that it is revoked: it
// writes nothing after that.
func TestRestoreOfADeviceRevokedAfterItsBackup(t *testing.T) {
	ha, a := func() (*harness, *node.Node) { h := newHarness(t); return h, h.init() }()
	k := newBackupKey(t, a)
	_, w := join(t, a, node.RoleCoordinator, "*:*")
	raw, _ := backupOf(t, w)
	ha.clock.t = ha.clock.t.Add(time.Hour)
	if _, err := a.Revoke(ctx, w.ID(), "stolen"); err != nil {
		t.Fatal(err)
	}
	hr := newHarness(t)
	hr.opts.Now = ha.clock.now
	r, _ := restoreTo(t, hr, raw, k, node.RestoreOptions{})
	giveMembers(t, a, r)
	if _, err := r.Add(ctx, node.Directory, changes(t, "name=Anything", "kind=health")); !errors.Is(err, node.ErrRevoked) {
		t.Fatalf("a revoked device wrote after its restore: %v", err)
	}
}

// Scheduled backups go into a folder under names that sort by time; the
// newest N are kept, nothing else in the folder is touched, and a failed
// backup removes nothing.
func TestBackupRotationKeepsN(t *testing.T) {
	h, a := func() (*harness, *node.Node) { h := newHarness(t); return h, h.init() }()
	newBackupKey(t, a)
	dir := t.TempDir()
	otherDevice := "floe-backup-zzzzzzzz-20200101T000000.fbk"
	os.WriteFile(filepath.Join(dir, otherDevice), []byte("another laptop's"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a backup"), 0o600)
	stale := node.BackupFileName(a.ID(), h.clock.t.Add(-time.Hour)) + ".part"
	os.WriteFile(filepath.Join(dir, stale), []byte("cut short"), 0o600)
	var made []string
	for i := range 5 {
		info, err := a.BackupInto(ctx, dir, 3)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(info.File) != dir || !strings.HasSuffix(info.File, ".fbk") {
			t.Fatalf("backup %d went to %s", i, info.File)
		}
		made = append(made, filepath.Base(info.File))
		h.clock.t = h.clock.t.Add(24 * time.Hour)
	}
	if made[0] != "floe-backup-"+strings.TrimPrefix(a.ID().Short(), "dev:")+"-20261124T150000.fbk" {
		t.Fatalf("the first backup is called %s", made[0])
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := append([]string{otherDevice, "notes.txt"}, made[2:]...)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("the folder holds %v, want %v", names, want)
	}
	// A failure (the drive unplugged) removes nothing.
	if _, err := a.BackupInto(ctx, filepath.Join(dir, "unplugged"), 1); err == nil || !strings.Contains(err.Error(), "plugged") {
		t.Fatalf("a backup into a missing folder: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(want) {
		t.Fatal("a failed backup removed something")
	}
}

// A node with no backup key says how to get one; only the admin's laptop
// makes one, and a second only when asked to replace the first. The key
// file survives a round trip and catches a mistyped character.
func TestBackupKeys(t *testing.T) {
	h := newHarness(t)
	a := h.init()
	if _, err := a.WriteBackup(ctx, &bytes.Buffer{}); !errors.Is(err, node.ErrNoBackupKey) || !strings.Contains(err.Error(), "floe backup key new") {
		t.Fatalf("a backup with no key: %v", err)
	}
	_, w := join(t, a, node.RoleCoordinator, "*:*")
	if _, err := w.MakeBackupKey(false); !errors.Is(err, node.ErrNotAdmin) {
		t.Fatalf("a backup key made off the admin's laptop: %v", err)
	}
	k := newBackupKey(t, a)
	if _, err := a.MakeBackupKey(false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("a second key without --replace: %v", err)
	}
	text := node.EncodeBackupKey(k)
	if !strings.HasPrefix(string(text), "FLOE BACKUP KEY v1\n") {
		t.Fatalf("the key file starts %q", text[:20])
	}
	back, err := node.DecodeBackupKey(text)
	if err != nil || back.ID() != k.ID() || !bytes.Equal(back.Private, k.Private) {
		t.Fatalf("the key file round trip: %v", err)
	}
	typo := bytes.Replace(text, []byte("\n"), []byte("\nQ"), 1)
	if _, err := node.DecodeBackupKey(typo); !errors.Is(err, node.ErrBadBackupKey) {
		t.Fatalf("a mistyped key file: %v", err)
	}
	giveMembers(t, a, w)
	if ks := w.BackupKeys(); len(ks) != 1 || ks[0].ID != k.ID() || !ks[0].Current {
		t.Fatalf("the backup keys another laptop knows: %+v", ks)
	}
	k2, err := a.MakeBackupKey(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PublishBackupKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	raw, info := backupOf(t, a)
	if info.Key != k2.ID() {
		t.Fatalf("the backup was sealed to %s, not the newest key %s", info.Key, k2.ID())
	}
	if _, err := node.CheckBackup(ctx, bytes.NewReader(raw), k); !errors.Is(err, node.ErrBackupKey) {
		t.Fatalf("the old key opened a backup made after the new one: %v", err)
	}
}

// The canary sweep, for backups: the sample directory's shelter locations
// (which hold fieldkit.CanaryMarker) are in the backup, and come back on
// a restore, but the backup file holds no trace of them in any form.
func TestBackupCanarySweep(t *testing.T) {
	h := newHarness(t)
	a := h.init() // in the shelter audience: it can reveal what it wrote
	k := newBackupKey(t, a)
	var shelter sp.RecordID
	for _, r := range fieldkit.SampleDirectory() {
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			t.Fatal(err)
		}
		id, err := a.Add(ctx, r.Collection, ch)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Fields["location"]; ok {
			shelter = id
		}
	}
	raw, _ := backupOf(t, a)
	m := []byte(fieldkit.CanaryMarker)
	forms := [][]byte{m, bytes.ToLower(m), []byte("hidden"), []byte(base64.StdEncoding.EncodeToString(m)),
		[]byte(base64.RawURLEncoding.EncodeToString(m)), []byte(base64.StdEncoding.EncodeToString(m[1:])), []byte(base64.StdEncoding.EncodeToString(m[2:])),
		[]byte(hex.EncodeToString(m)), []byte(strings.ToUpper(hex.EncodeToString(m)))}
	low := bytes.ToLower(raw)
	for _, f := range forms {
		if bytes.Contains(raw, f) || bytes.Contains(low, bytes.ToLower(f)) {
			t.Fatalf("the backup file shows %q", f)
		}
	}
	// Not vacuous: the location is in the backup, and reveals after a
	// restore.
	hr := newHarness(t)
	r, _ := restoreTo(t, hr, raw, k, node.RestoreOptions{})
	rec, err := r.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}})
	if err != nil || !strings.Contains(rec.Get("location"), fieldkit.CanaryMarker) {
		t.Fatalf("the restored shelter's location: %v", err)
	}
}

// While a node runs, another process asks it for a backup through a file
// in its directory; with nobody running, the request is withdrawn.
func TestBackupRequestToARunningNode(t *testing.T) {
	h := newHarness(t)
	a := h.init()
	k := newBackupKey(t, a)
	out := filepath.Join(t.TempDir(), "asked.fbk")
	if _, err := node.RequestBackup(ctx, h.dir, node.BackupRequest{Out: out}, 300*time.Millisecond, time.Second); !errors.Is(err, node.ErrNoRunningNode) {
		t.Fatalf("a request with no node running: %v", err)
	}
	if ents, _ := os.ReadDir(h.dir); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.Contains(e.Name(), "request") }) {
		t.Fatal("the unanswered request was left behind")
	}
	if _, err := node.RequestBackup(ctx, h.dir, node.BackupRequest{Out: "relative.fbk"}, time.Second, time.Second); err == nil {
		t.Fatal("a relative path was asked for")
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { a.ServeBackupRequests(rctx, 50*time.Millisecond) })
	info, err := node.RequestBackup(ctx, h.dir, node.BackupRequest{Out: out}, 2*time.Second, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil || int64(len(raw)) != info.Bytes || info.File != out {
		t.Fatalf("the asked-for backup: %v, %d bytes, %+v", err, len(raw), info)
	}
	if chk, err := node.CheckBackup(ctx, bytes.NewReader(raw), k); err != nil || chk.StateHash != status(t, a).StateHash {
		t.Fatalf("the asked-for backup does not check: %v", err)
	}
	// The running node's own refusal comes back.
	if _, err := node.RequestBackup(ctx, h.dir, node.BackupRequest{Out: out}, 2*time.Second, 10*time.Second); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("asking to overwrite a backup: %v", err)
	}
	folder := t.TempDir()
	if info, err := node.RequestBackup(ctx, h.dir, node.BackupRequest{Into: folder, Keep: 2}, 2*time.Second, 10*time.Second); err != nil || filepath.Dir(info.File) != folder {
		t.Fatalf("a backup into a folder: %+v %v", info, err)
	}
}

// BenchmarkBackupRestore measures a backup, a check and a restore of a
// node of generated directory and outreach records with 16 MB of
// attachments. FLOE_BENCH_BACKUP_RECORDS sets the directory records
// (outreach records are four times as many; 2000 make about 75,000
// entries), and the benchmark runs only when it is set: each restore
// builds a whole store, so run it with -benchtime=3x, not with the
// counts the other benchmarks take.
func BenchmarkBackupRestore(b *testing.B) {
	records := 0
	fmt.Sscan(os.Getenv("FLOE_BENCH_BACKUP_RECORDS"), &records)
	if records <= 0 {
		b.Skip("set FLOE_BENCH_BACKUP_RECORDS (2000 makes about 75,000 entries) and run with -benchtime=3x")
	}
	opts := node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}, Audiences: []string{node.ShelterAudience}}
	work := b.TempDir()
	n, err := node.Init(ctx, filepath.Join(work, "n"), []byte(pass), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	add := func(coll string, gen func(func(fieldkit.Record) error) error) {
		var batch [][]node.Change
		flush := func() {
			if _, err := n.AddBatch(ctx, coll, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		_ = gen(func(r fieldkit.Record) error {
			ch, err := node.ChangesFrom(r.Fields)
			if err != nil {
				b.Fatal(err)
			}
			if batch = append(batch, ch); len(batch) == 200 {
				flush()
			}
			return nil
		})
		if len(batch) > 0 {
			flush()
		}
	}
	add(node.Directory, func(fn func(fieldkit.Record) error) error { return fieldkit.GenerateDirectory(1, records, fn) })
	add(node.Outreach, func(fn func(fieldkit.Record) error) error {
		return fieldkit.GenerateOutreach(2, 4*records, time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), fn)
	})
	id := mustAddB(b, n)
	for i := range 4 { // 4 MB each, not compressible
		blob := make([]byte, 4<<20)
		rand.Read(blob)
		if _, err := n.Attach(ctx, id, fmt.Sprintf("recording-%d.ogg", i), bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
	}
	k, err := n.MakeBackupKey(false)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.PublishBackupKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	st, _ := n.Status(ctx)
	file := filepath.Join(work, "bench.fbk")
	var info node.BackupInfo
	b.Run("backup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			os.Remove(file)
			if info, err = n.WriteBackupFile(ctx, file); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(info.Bytes)
		b.ReportMetric(float64(st.Entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		b.ReportMetric(float64(st.Entries), "entries")
	})
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for i := 0; i < b.N; i++ {
			if _, err := node.CheckBackup(ctx, bytes.NewReader(raw), k); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(st.Entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(work, fmt.Sprintf("restored-%d", i))
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			_, err = node.Restore(ctx, bufio.NewReaderSize(f, 1<<20), k, dir, []byte(pass), node.RestoreOptions{Options: opts})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
		b.ReportMetric(float64(st.Entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

func mustAddB(b *testing.B, n *node.Node) sp.RecordID {
	ch, _ := node.ChangesFrom(map[string]any{"name/en": "Example Radio Program (fictional)", "kind": "health"})
	id, err := n.Add(ctx, node.Directory, ch)
	if err != nil {
		b.Fatal(err)
	}
	return id
}
