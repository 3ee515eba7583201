package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

type fileState struct {
	size  int64
	mtime time.Time
	sum   [32]byte
}

// snapshotDir records the size, mtime and hash of every file under dir.
func snapshotDir(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fileState{size: info.Size(), mtime: info.ModTime(), sum: sha256.Sum256(b)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// closedNode makes a node with some entries and closes it.
func closedNode(t *testing.T) (dir string, sum sp.Summary) {
	t.Helper()
	s := newStore(t, testOptions())
	a := storetest.NewDevice(1)
	for i := range 20 {
		mustApply(t, s, a.Set("directory", sp.RecordID{byte(i + 1)}, "name/en", "Service"))
	}
	sum, _ = s.Summary(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Dir(), sum
}

func TestWrongPassphraseChangesNothing(t *testing.T) {
	dir, _ := closedNode(t)
	before := snapshotDir(t, dir)
	_, err := Open(ctx, dir, []byte("not the passphrase"), testOptions())
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("message does not reassure: %v", err)
	}
	if after := snapshotDir(t, dir); !maps.Equal(before, after) {
		t.Fatalf("files changed on a failed unlock:\nbefore %v\nafter  %v", before, after)
	}
}

func TestChangePassphrase(t *testing.T) {
	dir, sum := closedNode(t)
	before := snapshotDir(t, dir)
	newPass := []byte("a new passphrase for the winter")
	if err := ChangePassphrase(dir, []byte("wrong"), newPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("ChangePassphrase with a wrong old passphrase: %v", err)
	}
	if err := ChangePassphrase(dir, testPass, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("ChangePassphrase to an empty passphrase: %v", err)
	}
	if after := snapshotDir(t, dir); !maps.Equal(before, after) {
		t.Fatal("a refused change of passphrase changed files")
	}
	if err := ChangePassphrase(dir, testPass, newPass); err != nil {
		t.Fatal(err)
	}
	after := snapshotDir(t, dir)
	if before[keyFileName] == after[keyFileName] {
		t.Fatal("the key file did not change")
	}
	delete(before, keyFileName)
	delete(after, keyFileName)
	if !maps.Equal(before, after) {
		t.Fatalf("changing the passphrase touched data files:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := Open(ctx, dir, testPass, testOptions()); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after the change: %v, want ErrWrongPassphrase", err)
	}
	s, err := Open(ctx, dir, newPass, testOptions())
	if err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	defer s.Close()
	if got, _ := s.Summary(ctx); got != sum {
		t.Fatalf("summary %+v after the change, want %+v", got, sum)
	}
	mustVerify(t, s)
}

func readParams(t *testing.T, dir string) KDFParams {
	t.Helper()
	kf, _, err := readKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return kf.KDF.params()
}

func TestKDFUpgradeOnOpen(t *testing.T) {
	weak := KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}
	opts := testOptions()
	opts.KDF = &weak
	dir := filepath.Join(t.TempDir(), "node")
	s, err := Create(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := readParams(t, dir); got != weak {
		t.Fatalf("created with %+v, want %+v", got, weak)
	}

	// The defaults move on (cheaply, for the test).
	defer func(old KDFParams) { kdfDefaults = old }(kdfDefaults)
	kdfDefaults = KDFParams{Time: 2, MemoryKiB: 12 << 10, Threads: 2}
	opts.KDF = nil
	s, err = Open(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := readParams(t, dir); got != kdfDefaults {
		t.Fatalf("after open: %+v, want the defaults %+v", got, kdfDefaults)
	}
	// Stronger than the defaults: left alone.
	raw, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	kdfDefaults = weak
	s, err = Open(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if raw2, _ := os.ReadFile(filepath.Join(dir, keyFileName)); !bytes.Equal(raw, raw2) {
		t.Fatal("a key file stronger than the defaults was rewritten")
	}
	// The real defaults are what production uses.
	if d := DefaultKDF(); d != (KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}) {
		t.Fatalf("DefaultKDF is %+v", d)
	}
}

func TestKeyFileBelowFloorIsRefused(t *testing.T) {
	dir, _ := closedNode(t)
	kf, _, err := readKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	kf.KDF.MemoryKiB = 4 << 10
	if err := os.WriteFile(filepath.Join(dir, keyFileName), kf.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dir, testPass, testOptions())
	if !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("Open of a key file below the floor: %v, want ErrBadKeyFile", err)
	}
	opts := testOptions()
	opts.KDF = &KDFParams{Time: 1, MemoryKiB: 1 << 10, Threads: 1}
	if _, err := Create(ctx, filepath.Join(t.TempDir(), "n"), testPass, opts); err == nil {
		t.Fatal("Create with KDF settings below the floor succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, keyFileName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Open(ctx, dir, testPass, testOptions()); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("Open of a garbage key file: %v, want ErrBadKeyFile", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	dir, _ := closedNode(t)
	before := snapshotDir(t, dir)
	_, err := Create(ctx, dir, testPass, testOptions())
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a node: %v, want ErrExists", err)
	}
	if after := snapshotDir(t, dir); !maps.Equal(before, after) {
		t.Fatal("a refused Create changed files")
	}

	other := t.TempDir()
	notes := filepath.Join(other, "notes.txt")
	os.WriteFile(notes, []byte("keep me"), 0o600)
	_, err = Create(ctx, other, testPass, testOptions())
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("Create in a non-empty directory: %v, want ErrNotEmpty naming the file", err)
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep me" {
		t.Fatal("Create touched a file it found")
	}
	if ents, _ := os.ReadDir(other); len(ents) != 1 {
		t.Fatalf("a refused Create left files behind: %v", ents)
	}

	_, err = Create(ctx, filepath.Join(t.TempDir(), "n"), nil, testOptions())
	if !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("Create with an empty passphrase: %v", err)
	}

	// An empty directory is fine.
	empty := t.TempDir()
	s, err := Create(ctx, empty, testPass, testOptions())
	if err != nil {
		t.Fatalf("Create in an empty directory: %v", err)
	}
	s.Close()
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	_, err := Open(ctx, missing, testPass, testOptions())
	if !errors.Is(err, ErrNoNode) || !strings.Contains(err.Error(), "floe init") {
		t.Fatalf("Open of a missing directory: %v, want ErrNoNode saying to run floe init", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created the directory")
	}
	if _, err := Open(ctx, t.TempDir(), testPass, testOptions()); !errors.Is(err, ErrNoNode) {
		t.Fatalf("Open of an empty directory: %v, want ErrNoNode", err)
	}

	// An init interrupted before its commit point: the key file is still
	// floe.key.tmp, beside a data directory.
	dir := t.TempDir()
	master := randomBytes(masterKeyLen)
	kf, err := wrapKey(master, testPass, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeNewFile(filepath.Join(dir, keyFileTmpName), kf.encode()); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, dataDirName), 0o700)
	_, err = Open(ctx, dir, testPass, testOptions())
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "did not finish") || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("Open after an interrupted init: %v, want ErrIncomplete", err)
	}
	if _, err := Create(ctx, dir, testPass, testOptions()); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Create after an interrupted init: %v, want ErrIncomplete", err)
	}

	// A key file without its data directory.
	dir2, _ := closedNode(t)
	os.RemoveAll(filepath.Join(dir2, dataDirName))
	if _, err := Open(ctx, dir2, testPass, testOptions()); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Open without the data directory: %v, want ErrIntegrity", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, dataDirName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created an empty data directory")
	}
}

func TestLocked(t *testing.T) {
	s := newStore(t, testOptions())
	_, err := Open(ctx, s.Dir(), testPass, testOptions())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another floe process") {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	// The first is unharmed, and once it closes the node opens.
	mustApply(t, s, storetest.NewDevice(1).Set("outreach", sp.NewRecordID(), "kind", "visit"))
	s2 := reopen(t, s)
	mustVerify(t, s2)
}
