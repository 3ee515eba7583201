package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// FuzzBlobFrames: in the blob phase a peer sends frames of its choosing.
// Whatever they are, receiving never panics, stores nothing that was not
// asked for or does not match its hash, and fails with a protocol error
// rather than hanging; serving answers only well-formed wants.
func FuzzBlobFrames(f *testing.F) {
	ctx := context.Background()
	n, err := Init(ctx, filepath.Join(f.TempDir(), "n"), []byte("fuzz passphrase"), Options{
		Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	good := []byte("a chunk of a fictional poster")
	gh := store.ChunkHash(sha256.Sum256(good))
	frame := func(kind sp.MsgKind, body any) []byte { return sp.AppendFrame(nil, sp.EncodeMsg(kind, body)) }
	seed := append(frame(sp.MsgBlob, sp.Blob{Hash: gh[:], Data: good}), frame(sp.MsgBlobDone, sp.BlobDone{Sent: 1})...)
	f.Add(seed)
	f.Add(append(frame(sp.MsgBlob, sp.Blob{Hash: gh[:], Data: []byte("not it")}), frame(sp.MsgBlobDone, sp.BlobDone{})...))
	f.Add(append(frame(sp.MsgBlob, sp.Blob{Hash: make([]byte, 32), Missing: true}), frame(sp.MsgBlobDone, sp.BlobDone{})...))
	f.Add(frame(sp.MsgBlobWant, sp.BlobWant{Hashes: [][]byte{gh[:]}}))
	f.Add([]byte{0xF1, 0x0E, 0x5C, 1, 0, 0, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		recv := func() ([]byte, error) {
			if len(rest) == 0 {
				return nil, io.EOF
			}
			p, size, err := sp.NextFrame(rest)
			if err != nil {
				rest = nil
				return nil, err
			}
			rest = rest[size:]
			return p, nil
		}
		var st BlobStats
		unavailable := map[store.ChunkHash]bool{}
		_ = n.receiveBlobs(ctx, recv, []store.ChunkHash{gh}, unavailable, &st)
		if has, err := n.st.HasChunks(ctx, []store.ChunkHash{gh}); err == nil && has[0] {
			c, err := n.st.GetChunk(ctx, gh)
			if err != nil || !bytes.Equal(c, good) {
				t.Fatalf("a stored chunk does not match its hash: %v", err)
			}
		}
		// Serving: a want of any shape is answered or refused, never a panic.
		var want sp.BlobWant
		if p, _, err := sp.NextFrame(data); err == nil {
			if kind, body, err := sp.DecodeMsg(p); err == nil && kind == sp.MsgBlobWant {
				if sp.DecodeBody(kind, body, &want) == nil {
					sent := 0
					err := n.serveBlobs(ctx, want.Hashes, func(fr [][]byte) error { sent += len(fr); return nil }, &st)
					if err != nil && !errors.Is(err, sp.ErrProtocol) {
						t.Fatalf("serving a want: %v", err)
					}
				}
			}
		}
	})
}
