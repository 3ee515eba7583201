package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// A snapshot sees the store as it was when it was taken, while writes go
// on: every entry, meta row and chunk of that moment, and nothing later.
func TestSnapshotIsConsistentWhileWritesGoOn(t *testing.T) {
	s := newStore(t, testOptions())
	rng := rand.New(rand.NewPCG(1, 2))
	first := signed(1, randomIDs(rng, 300), directoryFields(rng))
	if _, err := s.ApplyVerified(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("peers", []byte("the peer list")); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("poster "), 2000)
	if _, err := s.PutChunks(ctx, [][]byte{chunk}); err != nil {
		t.Fatal(err)
	}
	want, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}

	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	// Writes go on while the snapshot is read.
	var wg sync.WaitGroup
	wg.Go(func() {
		more := signed(2, randomIDs(rng, 200), directoryFields(rng))
		for i := 0; i < len(more); i += 50 {
			if _, err := s.ApplyVerified(ctx, more[i:i+50]); err != nil {
				t.Error(err)
				return
			}
		}
		if err := s.PutMeta("peers", []byte("changed later")); err != nil {
			t.Error(err)
		}
		if err := s.PutMeta("later", []byte("x")); err != nil {
			t.Error(err)
		}
		if _, err := s.PutChunks(ctx, [][]byte{[]byte("a later chunk")}); err != nil {
			t.Error(err)
		}
	})
	got, err := sn.Summary(ctx)
	if err != nil || got != want {
		t.Fatalf("summary: %v %v, want %v", got, err, want)
	}
	var d sp.Digest
	if err := sn.Entries(ctx, func(h sp.EntryHash, e sp.Entry) error {
		if e.Hash() != h {
			t.Fatalf("entry %s under the key of %s", e.Hash().Short(), h.Short())
		}
		d.Add(h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if d != want.Digest {
		t.Fatalf("the snapshot's entries add up to %d, want %d", d.Count, want.Digest.Count)
	}
	meta := map[string]string{}
	if err := sn.Meta(ctx, func(name string, v []byte) error { meta[name] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(meta) != 1 || meta["peers"] != "the peer list" {
		t.Fatalf("meta rows as of the snapshot, without the store's own: %v", meta)
	}
	var chunks [][]byte
	if err := sn.Chunks(ctx, func(_ ChunkHash, c []byte) error { chunks = append(chunks, bytes.Clone(c)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || !bytes.Equal(chunks[0], chunk) {
		t.Fatalf("chunks as of the snapshot: %d", len(chunks))
	}
	n := 0
	if err := sn.Collection(ctx, "directory", func(e sp.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if uint64(n) != want.Digest.Count {
		t.Fatalf("the directory as of the snapshot holds %d entries, want %d", n, want.Digest.Count)
	}
	// The store has moved on meanwhile.
	if now, _ := s.Summary(ctx); now.Digest.Count <= want.Digest.Count {
		t.Fatal("the writes did not land")
	}
}

// An error from the caller's function comes back as it is, not as damage;
// and a closed snapshot refuses to read.
func TestSnapshotCallerErrorsAndClose(t *testing.T) {
	s := newStore(t, testOptions())
	if _, err := s.PutChunks(ctx, [][]byte{[]byte("one chunk")}); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("the backup disk is full")
	if err := sn.Chunks(ctx, func(ChunkHash, []byte) error { return full }); !errors.Is(err, full) || errors.Is(err, ErrIntegrity) {
		t.Fatalf("a caller's error came back as %v", err)
	}
	sn.Close()
	sn.Close()
	if _, err := sn.Summary(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed snapshot read: %v", err)
	}
	// Close no longer waits for it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// RaiseLastWrite moves the newest timestamp forward, never back, and
// leaves the digest alone; it survives a reopen.
func TestRaiseLastWrite(t *testing.T) {
	s := newStore(t, testOptions())
	rng := rand.New(rand.NewPCG(3, 4))
	if _, err := s.ApplyVerified(ctx, signed(1, randomIDs(rng, 5), directoryFields(rng))); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Summary(ctx)
	later := before.LastWrite + 1000
	if err := s.RaiseLastWrite(later); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseLastWrite(before.LastWrite); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	after, _ := s.Summary(ctx)
	if after.LastWrite != later || after.Digest != before.Digest {
		t.Fatalf("after raising: %+v, before %+v", after, before)
	}
}
