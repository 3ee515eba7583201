//go:build linux

package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// TestDiskFullTmpfs fills a real, small file system. It needs root on
// Linux, to mount a tmpfs.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root on Linux to mount a tmpfs")
	}
	if testing.Short() {
		t.Skip("fills a file system; skipped with -short")
	}
	mount := func(t *testing.T, size string) string {
		dir := t.TempDir()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
			t.Skipf("cannot mount a tmpfs here: %v", err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(dir, 0); err != nil {
				t.Errorf("unmounting %s: %v", dir, err)
			}
		})
		return dir
	}
	opts := testOptions()
	opts.FreeSpace = nil // ask the system

	t.Run("tiny", func(t *testing.T) {
		// Smaller than the margin: Create refuses and leaves nothing.
		mnt := mount(t, "4m")
		dir := filepath.Join(mnt, "node")
		_, err := Create(ctx, dir, testPass, opts)
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "Free some space") {
			t.Fatalf("Create on a 4 MiB disk: %v, want ErrDiskFull", err)
		}
		if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
			t.Fatalf("a refused Create left %v behind", ents)
		}
	})

	t.Run("fill", func(t *testing.T) {
		// The margin and 10 MiB to fill.
		mnt := mount(t, fmt.Sprint((DefaultMinFree>>20)+10)+"m")
		dir := filepath.Join(mnt, "node")
		s, err := Create(ctx, dir, testPass, opts)
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				s.Close()
			}
		})
		a := storetest.NewDevice(1)
		// Values that do not compress, so the disk fills.
		rng := rand.New(rand.NewPCG(1, 1))
		pad := func() string {
			b := make([]byte, 8<<10)
			for i := range b {
				b[i] = 'a' + byte(rng.IntN(26))
			}
			return string(b)
		}
		var applied sp.Summary
		for i := 0; ; i++ {
			var batch []sp.Entry
			for j := range 64 {
				batch = append(batch, a.Set("outreach", sp.RecordID{byte(i), byte(i >> 8), byte(j), 1}, "notes", pad()))
			}
			_, err := s.ApplyVerified(ctx, batch)
			if err != nil {
				if !errors.Is(err, ErrDiskFull) {
					t.Fatalf("after %d batches: %v, want ErrDiskFull", i, err)
				}
				t.Logf("after %d batches of 64 entries: %v", i, err)
				break
			}
			applied, _ = s.Summary(ctx)
			if i > 1000 {
				t.Fatal("the disk never filled")
			}
		}
		if got, _ := s.Summary(ctx); got != applied {
			t.Fatalf("summary %+v after the refused write, want %+v", got, applied)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close on a full disk: %v", err)
		}
		closed = true
		s, err = Open(ctx, dir, testPass, opts)
		if err != nil {
			t.Fatalf("reopening on a full disk: %v", err)
		}
		defer s.Close()
		if got, _ := s.Summary(ctx); got != applied {
			t.Fatalf("summary %+v after reopening, want %+v", got, applied)
		}
		mustVerify(t, s)
	})
}
