package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

func sampleRows(t *testing.T) []fieldkit.ServiceRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "fieldkit", "sampledata", "pack", "services.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, bad, err := fieldkit.ReadServices(f)
	if err != nil || len(bad) > 0 {
		t.Fatalf("the sample spreadsheet: %v %v", bad, err)
	}
	return rows
}

func buildPack(t *testing.T, n *node.Node, rows []fieldkit.ServiceRow, delta bool) ([]byte, node.PackBuildReport) {
	t.Helper()
	var buf bytes.Buffer
	rep, err := n.BuildPack(ctx, rows, false, node.PackBuildOptions{Name: "kivalliq-services", Delta: delta}, &buf)
	if err != nil {
		t.Fatalf("build: %v %v", err, rep.Problems)
	}
	return buf.Bytes(), rep
}

func install(n *node.Node, b []byte) (node.PackInstallReport, error) {
	return n.InstallPack(ctx, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// The trainer's workflow: build, verify, install on a laptop that has
// never synced, update by a small delta, and the refusals that keep it
// safe (rollback, reinstall, a delta without its base, tampering).
func TestPackBuildVerifyInstallUpdate(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:*")
	_, lap := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	_, fresh := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	rows := sampleRows(t)
	v1, rep := buildPack(t, trainer, rows, false)
	if rep.Added != len(rows) || rep.Header.Version != 1 || rep.Header.Base != 0 {
		t.Fatalf("first build: %+v", rep)
	}
	if bytes.Contains(bytes.ToLower(v1), bytes.ToLower([]byte(fieldkit.CanaryMarker))) {
		t.Fatal("the pack holds a shelter location in plain text")
	}
	info, err := lap.VerifyPack(bytes.NewReader(v1))
	if err != nil || info.SignerCert.Role != node.RoleTrainer || info.Records != len(rows) {
		t.Fatalf("verify: %+v %v", info, err)
	}
	if _, err := install(lap, v1); err != nil {
		t.Fatal(err)
	}
	hits, _ := lap.Search(ctx, "kamatsiaqtut", 5)
	if len(hits) != 1 {
		t.Fatalf("after install, search finds %d Kamatsiaqtut lines", len(hits))
	}
	if _, err := install(lap, v1); !errors.Is(err, node.ErrPackInstalled) {
		t.Fatalf("installing the same version again: %v", err)
	}

	// One phone number changes: the delta is a few KB, not the pack.
	for i := range rows {
		if rows[i].Key == "kamatsiaqtut-help-line" {
			rows[i].Fields["phone"] = "1-800-265-3334"
		}
	}
	v2, rep2 := buildPack(t, trainer, rows, true)
	if rep2.Changed != 1 || rep2.Added != 0 || rep2.Header.Base != 1 || rep2.Header.Version != 2 {
		t.Fatalf("delta build: %+v", rep2)
	}
	t.Logf("full pack %d bytes, delta %d bytes", len(v1), len(v2))
	if len(v2) > 4096 || len(v2)*5 > len(v1) {
		t.Fatalf("a one-field delta is %d bytes (full pack %d)", len(v2), len(v1))
	}
	if _, err := install(fresh, v2); err == nil || !strings.Contains(err.Error(), "install the full pack") {
		t.Fatalf("a delta without its base: %v", err)
	}
	before := status(t, lap).StateHash
	bad := bytes.Clone(v2)
	bad[len(bad)/2] ^= 0x20
	if _, err := install(lap, bad); !errors.Is(err, fieldkit.ErrBadPack) {
		t.Fatalf("a tampered pack: %v", err)
	}
	if status(t, lap).StateHash != before {
		t.Fatal("a tampered pack changed the store")
	}
	if _, err := install(lap, v2[:len(v2)-10]); !errors.Is(err, fieldkit.ErrBadPack) {
		t.Fatalf("a pack cut short: %v", err)
	}
	if _, err := install(lap, v2); err != nil {
		t.Fatal(err)
	}
	hits, _ = lap.Search(ctx, "kamatsiaqtut", 5)
	if len(hits) != 1 || hits[0].Get("phone") != "1-800-265-3334" {
		t.Fatalf("the update did not change the phone: %+v", hits)
	}
	if _, err := install(lap, v1); !errors.Is(err, node.ErrPackRollback) {
		t.Fatalf("an older pack over a newer one: %v", err)
	}
	ps, _ := lap.Packs()
	if len(ps) != 1 || ps[0].Version != 2 {
		t.Fatalf("pack list: %+v", ps)
	}
	// A full v3 installs on the fresh laptop; the trainer and the laptops
	// hold the same directory.
	rows = rows[:len(rows)-1] // one service leaves the spreadsheet
	v3, rep3 := buildPack(t, trainer, rows, false)
	if rep3.Removed != 1 {
		t.Fatalf("a row left out should delete its service: %+v", rep3)
	}
	if _, err := install(fresh, v3); err != nil {
		t.Fatal(err)
	}
	var tl, fl []node.Record
	_ = trainer.List(ctx, node.Directory, func(r node.Record) error { tl = append(tl, r); return nil })
	_ = fresh.List(ctx, node.Directory, func(r node.Record) error { fl = append(fl, r); return nil })
	if len(tl) != len(rows) || len(fl) != len(rows) {
		t.Fatalf("trainer lists %d services, the fresh laptop %d, want %d", len(tl), len(fl), len(rows))
	}
	if err := fresh.RemovePack("kivalliq-services"); err != nil {
		t.Fatal(err)
	}
	if _, err := install(fresh, v1); err != nil {
		t.Fatalf("after pack rm, any version installs again: %v", err)
	}
}

// Packs carry the network's revocations, and a pack signed by a revoked
// trainer, or by a role that may not write the directory, is refused.
func TestPackTrustChecks(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:*")
	_, lap := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	_, gone := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	if _, err := a.Revoke(ctx, gone.ID(), "lost"); err != nil {
		t.Fatal(err)
	}
	giveMembers(t, a, trainer) // the trainer learns of the revocation
	p, _ := buildPack(t, trainer, sampleRows(t), false)
	info, err := lap.VerifyPack(bytes.NewReader(p))
	if err != nil || info.Revocations != 1 {
		t.Fatalf("the pack should carry the revocation: %+v %v", info, err)
	}
	if _, err := install(lap, p); err != nil {
		t.Fatal(err)
	}
	if !lap.Revoked(gone.ID()) {
		t.Fatal("a laptop that got only a pack did not learn of the revocation")
	}
	// An outreach worker may not build one.
	if _, err := lap.BuildPack(ctx, sampleRows(t), false, node.PackBuildOptions{Name: "x"}, io.Discard); !errors.Is(err, node.ErrNotAllowed) {
		t.Fatalf("an outreach worker built a pack: %v", err)
	}
	// A revoked trainer's pack is refused.
	_, other := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	if _, err := a.Revoke(ctx, trainer.ID(), "left"); err != nil {
		t.Fatal(err)
	}
	giveMembers(t, a, other)
	if _, err := install(other, p); !errors.Is(err, node.ErrRevoked) {
		t.Fatalf("a revoked trainer's pack: %v", err)
	}
}

// Bad rows are reported by line and column; nothing is written unless the
// build is partial.
func TestPackBadRows(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:kivalliq")
	csv := "id,area,kind,name/en,phone,languages\n" +
		"ok-1,kivalliq/arviat,health,Fine Clinic (fictional),867-555-0100,en\n" +
		"bad-kind,kivalliq/arviat,spaceport,Odd Place (fictional),,\n" +
		",kivalliq/arviat,health,No Key (fictional),,\n" +
		"ok-1,kivalliq/arviat,health,Duplicate (fictional),,\n" +
		"far,qikiqtaaluk/iqaluit,health,Outside The Area (fictional),,\n" +
		"badlang,kivalliq/arviat,health,Bad Language (fictional),,en;;x\n"
	rows, bad, err := fieldkit.ReadServices(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	before := status(t, trainer).StateHash
	rep, err := trainer.BuildPack(ctx, rows, false, node.PackBuildOptions{Name: "t"}, io.Discard)
	all := append(bad, rep.Problems...)
	if err == nil || len(all) != 5 {
		t.Fatalf("want 5 problems and a refusal, got %d: %v (%v)", len(all), all, err)
	}
	lines := map[int]bool{}
	for _, p := range all {
		lines[p.Line] = true
	}
	for _, l := range []int{3, 4, 5, 6, 7} {
		if !lines[l] {
			t.Errorf("no problem reported on line %d: %v", l, all)
		}
	}
	if status(t, trainer).StateHash != before {
		t.Fatal("a refused build wrote records")
	}
	rep, err = trainer.BuildPack(ctx, rows, true, node.PackBuildOptions{Name: "t"}, io.Discard)
	if err != nil || rep.Added != 1 {
		t.Fatalf("a partial build: %+v %v", rep, err)
	}
}

// A partial build never deletes the service of a refused row (a typo is
// not a removal), and a laptop installs only what its areas allow.
func TestPackPartialKeepsRefusedRowsAndInstallFollowsAreas(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:*")
	_, lap := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:kivalliq")
	head := "id,area,kind,name/en\n"
	good := head + "k1,kivalliq/arviat,health,Arviat Clinic (fictional)\nq1,qikiqtaaluk/iqaluit,legal,Iqaluit Legal (fictional)\n"
	rows, _, _ := fieldkit.ReadServices(strings.NewReader(good))
	p1, _ := buildPack(t, trainer, rows, false)
	typo := head + "k1,kivalliq/arviat,helth,Arviat Clinic (fictional)\nq1,qikiqtaaluk/iqaluit,legal,Iqaluit Legal (fictional)\n"
	rows, _, _ = fieldkit.ReadServices(strings.NewReader(typo))
	rep, err := trainer.BuildPack(ctx, rows, true, node.PackBuildOptions{Name: "kivalliq-services"}, io.Discard)
	if err != nil || rep.Removed != 0 || len(rep.Problems) != 1 {
		t.Fatalf("a partial build with a typo: %+v %v", rep, err)
	}
	if hits, _ := trainer.Search(ctx, "arviat clinic", 5); len(hits) != 1 {
		t.Fatal("the refused row's service was deleted")
	}
	// A row the reader cannot parse (a stray comma) has no key to keep:
	// a partial build deletes nothing at all.
	stray := head + "k1,kivalliq/arviat,health,Arviat Clinic, (fictional)\nq1,qikiqtaaluk/iqaluit,legal,Iqaluit Legal (fictional)\n"
	rows, bad, _ := fieldkit.ReadServices(strings.NewReader(stray))
	if len(bad) != 1 {
		t.Fatalf("setup: %v", bad)
	}
	rep, err = trainer.BuildPack(ctx, rows, true, node.PackBuildOptions{Name: "kivalliq-services"}, io.Discard)
	if err != nil || rep.Removed != 0 {
		t.Fatalf("a partial build after an unreadable row: %+v %v", rep, err)
	}
	if hits, _ := trainer.Search(ctx, "arviat clinic", 5); len(hits) != 1 {
		t.Fatal("an unreadable row's service was deleted")
	}
	ir, err := install(lap, p1)
	if err != nil || ir.Skipped == 0 {
		t.Fatalf("install: %+v %v", ir, err)
	}
	if hits, _ := lap.Search(ctx, "iqaluit legal", 5); len(hits) != 0 {
		t.Fatal("a laptop for Kivalliq installed a Qikiqtaaluk service")
	}
	if hits, _ := lap.Search(ctx, "arviat clinic", 5); len(hits) != 1 {
		t.Fatal("the laptop's own area's service is missing")
	}
}

// Attachments travel in packs: the chunks of the files a version adds, a
// delta leaves out a file that did not change, and the laptop holds them
// whole after the install.
func TestPackAttachments(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:*")
	_, lap := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	poster := bytes.Repeat([]byte("fictional poster "), 20000) // 340 KB, 6 chunks
	files := map[string][]byte{"poster.pdf": poster}
	opts := node.PackBuildOptions{Name: "kivalliq-services", Files: func(name string) (io.ReadCloser, error) {
		b, ok := files[name]
		if !ok {
			return nil, os.ErrNotExist
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
	sheet := "id,kind,name/en,phone,attachments\nk1,health,Sample Clinic (fictional),867-555-0100,poster.pdf\n"
	rows, _, _ := fieldkit.ReadServices(strings.NewReader(sheet))
	var v1 bytes.Buffer
	rep, err := trainer.BuildPack(ctx, rows, false, opts, &v1)
	if err != nil || rep.Chunks != 7 { // six chunks and the manifest
		t.Fatalf("build: %+v %v", rep, err)
	}
	if _, err := install(lap, v1.Bytes()); err != nil {
		t.Fatal(err)
	}
	hits, _ := lap.Search(ctx, "sample clinic", 1)
	id, _ := sp.ParseRecordID(hits[0].ID)
	var got bytes.Buffer
	if _, err := lap.ReadAttachment(ctx, id, "poster.pdf", &got); err != nil || !bytes.Equal(got.Bytes(), poster) {
		t.Fatalf("the attachment after install: %v", err)
	}
	rows[0].Fields["phone"] = "867-555-0109"
	opts.Delta = true
	var v2 bytes.Buffer
	rep, err = trainer.BuildPack(ctx, rows, false, opts, &v2)
	if err != nil || rep.Chunks != 0 || v2.Len() > 4096 {
		t.Fatalf("a delta with an unchanged attachment: %+v (%d bytes) %v", rep, v2.Len(), err)
	}
	if _, err := install(lap, v2.Bytes()); err != nil {
		t.Fatal(err)
	}
	if r, _ := lap.Get(ctx, node.Directory, id, node.ReadOptions{}); !strings.Contains(fmt.Sprint(r.Fields), "867-555-0109") {
		t.Fatalf("the delta did not apply: %v", r.Fields)
	}
}
