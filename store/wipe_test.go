package store

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// After a wipe the right passphrase opens nothing, the key material is
// gone within the 2 s the trust layer asks for, and no file of the node is
// left.
func TestWipeDestroysTheKey(t *testing.T) {
	s := newStore(t, testOptions())
	dir := s.Dir()
	mustApply(t, s, signed(3, randomIDs(rand.New(rand.NewPCG(1, 2)), 50), func(i int) [][2]string {
		return [][2]string{{"name/en", "Fictional clinic"}}
	})...)
	keyBefore, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A copy of the directory taken before the wipe, as an SSD might keep.
	copyDir := t.TempDir()
	copyFile(t, filepath.Join(dir, keyFileName), filepath.Join(copyDir, "old.key"))
	rep, err := Wipe(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeyFiles != 1 || rep.KeyErased > 2*time.Second || !rep.DataRemoved {
		t.Fatalf("wipe report: %+v", rep)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the node directory is still there: %v", err)
	}
	if _, err := Open(ctx, dir, testPass, testOptions()); !errors.Is(err, ErrNoNode) {
		t.Fatalf("opening a wiped node: %v", err)
	}
	if old, _ := os.ReadFile(filepath.Join(copyDir, "old.key")); !bytes.Equal(old, keyBefore) {
		t.Fatal("test set-up: the copy of the old key file differs")
	}
	if _, err := Wipe(dir); !errors.Is(err, ErrNoNode) {
		t.Errorf("wiping twice: %v", err)
	}
}

func TestWipeAfterFailedUnlocks(t *testing.T) {
	s := newStore(t, testOptions())
	dir := s.Dir()
	s.Close()
	if err := SetWipeAfter(dir, []byte("wrong passphrase"), 3); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("setting the limit needs the right passphrase: %v", err)
	}
	if err := SetWipeAfter(dir, testPass, 3); err != nil {
		t.Fatal(err)
	}
	// Two wrong, then right: the count starts again.
	for i := 0; i < 2; i++ {
		_, err := Open(ctx, dir, []byte("guess"), testOptions())
		if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "before this node wipes itself") {
			t.Fatalf("wrong passphrase %d: %v", i+1, err)
		}
	}
	s, err := Open(ctx, dir, testPass, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if limit, fails := WipeAfter(dir); limit != 3 || fails != 0 {
		t.Fatalf("after a good unlock: limit %d, failures %d", limit, fails)
	}
	for i := 0; i < 3; i++ {
		_, err = Open(ctx, dir, []byte("guess"), testOptions())
	}
	if !errors.Is(err, ErrWiped) {
		t.Fatalf("third wrong passphrase in a row: %v", err)
	}
	if _, err := Open(ctx, dir, testPass, testOptions()); !errors.Is(err, ErrNoNode) {
		t.Fatalf("the right passphrase after the wipe: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
