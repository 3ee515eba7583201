package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// Chunks are stored once, read back checked, reported present or not, and
// survive a reopen; the store still verifies.
func TestChunks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Options{})
	a, b := bytes.Repeat([]byte("poster "), 9000), []byte("audio")
	hs, err := s.PutChunks(ctx, [][]byte{a, b, a})
	if err != nil || hs[0] != hs[2] {
		t.Fatal(hs, err)
	}
	if _, err := s.PutChunks(ctx, [][]byte{make([]byte, MaxChunk+1)}); err == nil {
		t.Fatal("an oversized chunk was stored")
	}
	got, err := s.GetChunk(ctx, hs[1])
	if err != nil || !bytes.Equal(got, b) {
		t.Fatal(got, err)
	}
	if _, err := s.GetChunk(ctx, ChunkHash{9}); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("a missing chunk: %v", err)
	}
	has, err := s.HasChunks(ctx, []ChunkHash{hs[0], {9}})
	if err != nil || !has[0] || has[1] {
		t.Fatal(has, err)
	}
	s = reopen(t, s)
	if got, err := s.GetChunk(ctx, hs[0]); err != nil || !bytes.Equal(got, a) {
		t.Fatal("after reopen:", err)
	}
	if rep, err := s.Verify(ctx); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
