package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// Blob chunks: attachments (training material, posters, audio) are cut
// into chunks of at most MaxChunk bytes, each stored under the SHA-256 of
// its bytes in a 'b' row, encrypted like everything else. A chunk is
// stored once however many attachments hold it. Chunks are not entries:
// they are outside the digest and the sync-order index, and arrive by
// their own path (packs, and the blob phase of a live sync).

// MaxChunk caps a chunk: one fits in a sync frame with room to spare.
const MaxChunk = 63 << 10

// ChunkHash names a chunk: the SHA-256 of its bytes.
type ChunkHash [32]byte

func chunkKey(h ChunkHash) []byte { return append([]byte{prefixChunk}, h[:]...) }

// PutChunks stores chunks (each at most MaxChunk bytes) and returns their
// hashes. Chunks already here are not written again. It syncs before it
// returns, so a transfer cut after it resumes past these chunks.
func (s *Store) PutChunks(ctx context.Context, chunks [][]byte) ([]ChunkHash, error) {
	hs := make([]ChunkHash, len(chunks))
	for i, c := range chunks {
		if len(c) == 0 || len(c) > MaxChunk {
			return nil, fmt.Errorf("a chunk is 1 to %d bytes; this one is %d", MaxChunk, len(c))
		}
		hs[i] = sha256.Sum256(c)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := checkFree(s.dataDir, s.dir, &s.opts, true); err != nil {
		return nil, err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	wrote := false
	err = s.db.View(func(txn *badger.Txn) error {
		for i, c := range chunks {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key := chunkKey(hs[i])
			if _, err := txn.Get(key); err == nil {
				continue
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			v := make([]byte, 0, tagLen+len(c))
			v = s.tags.sum(v, key, c)
			if err := wb.Set(key, append(v, c...)); err != nil {
				return err
			}
			wrote = true
		}
		return nil
	})
	if err != nil {
		return nil, s.writeError(err, false)
	}
	if !wrote {
		return hs, nil
	}
	if err := wb.Flush(); err != nil {
		return nil, s.writeError(err, false)
	}
	if err := s.db.Sync(); err != nil {
		return nil, s.writeError(err, true)
	}
	return hs, nil
}

// GetChunk reads a chunk, checking its tag and its hash. A chunk not here
// (yet) gives sp.ErrNotFound.
func (s *Store) GetChunk(ctx context.Context, h ChunkHash) ([]byte, error) {
	var out []byte
	err := s.read(ctx, "blob chunks", func(txn *badger.Txn) error {
		key := chunkKey(h)
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return sp.ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) <= tagLen || !s.tags.check(v[:tagLen], key, v[tagLen:]) || sha256.Sum256(v[tagLen:]) != h {
				return s.integrity("blob chunk", "chunk %x does not match its tag or hash", h[:6])
			}
			out = append([]byte(nil), v[tagLen:]...)
			return nil
		})
	})
	return out, err
}

// HasChunks reports which of hs are here.
func (s *Store) HasChunks(ctx context.Context, hs []ChunkHash) ([]bool, error) {
	out := make([]bool, len(hs))
	err := s.read(ctx, "blob chunks", func(txn *badger.Txn) error {
		for i, h := range hs {
			_, err := txn.Get(chunkKey(h))
			switch {
			case err == nil:
				out[i] = true
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		return nil
	})
	return out, err
}
