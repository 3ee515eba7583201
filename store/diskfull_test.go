package store

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

func TestDiskFullRefusesWrites(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	opts := testOptions()
	opts.FreeSpace = func(string) (uint64, error) { return free.Load(), nil }
	s := newStore(t, opts)
	a := storetest.NewDevice(1)
	id := sp.NewRecordID()
	mustApply(t, s, a.Set("outreach", id, "kind", "visit"))
	before, _ := s.Summary(ctx)

	free.Store(10 << 20)
	_, err := s.ApplyVerified(ctx, []sp.Entry{a.Set("outreach", id, "notes", "x")})
	var dfe *DiskFullError
	if !errors.Is(err, ErrDiskFull) || !errors.As(err, &dfe) {
		t.Fatalf("ApplyVerified on a full disk: %v, want ErrDiskFull", err)
	}
	for _, want := range []string{"only 10 MiB free", "at least 64 MiB", "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("message %q does not say %q", err, want)
		}
	}
	if err := s.PutMeta("x", []byte("y")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("PutMeta on a full disk: %v, want ErrDiskFull", err)
	}
	if after, _ := s.Summary(ctx); after != before {
		t.Fatal("a refused write changed the state")
	}
	// Reads still work.
	if _, err := s.Record(ctx, "outreach", id); err != nil {
		t.Fatalf("Record on a full disk: %v", err)
	}

	free.Store(1 << 30)
	e := a.Set("outreach", id, "notes", "written once there was space")
	if r := mustApply(t, s, e); r.Added != 1 {
		t.Fatalf("after space returned: %+v", r)
	}
	s = reopen(t, s)
	mustVerify(t, s)
	if got, err := s.Get(ctx, e.Hash()); err != nil || got.Hash() != e.Hash() {
		t.Fatalf("entry written after space returned: %v", err)
	}

	// A FreeSpace that cannot tell does not block writes.
	s.opts.FreeSpace = func(string) (uint64, error) { return 0, ErrFreeSpaceUnknown }
	mustApply(t, s, a.Set("outreach", id, "notes", "unknown space"))
}

func TestDiskFullErrorsFromBadgerAreMapped(t *testing.T) {
	s := newStore(t, testOptions())
	// Badger flattens the errors it wraps into text.
	flat := fmt.Errorf("while syncing level directory err: %v", syscall.ENOSPC)
	if !isDiskFull(flat) {
		t.Fatalf("isDiskFull(%q) = false", flat)
	}
	err := s.writeError(flat, true)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "is full") || !strings.Contains(err.Error(), "applying the same entries again is safe") {
		t.Fatalf("writeError: %v", err)
	}
	if isDiskFull(errors.New("permission denied")) {
		t.Fatal("isDiskFull of an unrelated error")
	}
}
