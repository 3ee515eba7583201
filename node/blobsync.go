package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// The blob phase of a live sync: once the entries are reconciled (they
// always go first), each side asks for the attachment chunks it lacks and
// answers what the other asks. Each round both send a want (manifests
// first: what a manifest lists is known only once it is here), then each
// answers the other's want chunk by chunk while storing what it receives,
// a few chunks at a time, so a cut link loses at most the chunks in
// flight and the next session asks only for the rest. The phase ends when
// both want nothing, or after blobRounds rounds.

const (
	blobRounds   = 16
	blobPerRound = 256 // chunks asked for per round: about 16 MB
	blobBatch    = 8   // chunks stored per write
)

// BlobStats is what a blob phase moved.
type BlobStats struct {
	ChunksIn, ChunksOut uint64
	BytesIn, BytesOut   uint64
	// Missing counts chunks the peer was asked for and did not have.
	Missing int
	Err     error // why the phase stopped early, if it did
}

// blobPhase runs the phase. remaining is the session's byte allowance
// left after the entries (ok false: no daily budget on either side); each
// side asks for chunks worth at most half of it, so together they keep
// within it.
func (n *Node) blobPhase(ctx context.Context, recv func() ([]byte, error), send func([][]byte) error, st *BlobStats, remaining func() (int64, bool)) {
	left, capped := remaining()
	st.Err = n.runBlobPhase(ctx, recv, send, st, func() int {
		if !capped {
			return blobPerRound
		}
		spent := int64(st.BytesIn + st.BytesOut)
		return int(max((left-spent)/2/(store.MaxChunk+64), 0))
	})
	if st.Err != nil {
		n.log.Info("blob transfer stopped; the next sync continues it", "err", st.Err, "chunks_in", st.ChunksIn)
	}
}

func (n *Node) runBlobPhase(ctx context.Context, recv func() ([]byte, error), send func([][]byte) error, st *BlobStats, allowed func() int) error {
	unavailable := map[store.ChunkHash]bool{}
	for round := 0; round < blobRounds; round++ {
		all, err := n.MissingChunks(ctx, blobPerRound+len(unavailable))
		if err != nil {
			return err
		}
		var want []store.ChunkHash
		limit := min(allowed(), blobPerRound)
		for _, h := range all {
			if !unavailable[h] && len(want) < limit {
				want = append(want, h)
			}
		}
		msg := sp.BlobWant{}
		for _, h := range want {
			msg.Hashes = append(msg.Hashes, append([]byte(nil), h[:]...))
		}
		if err := send([][]byte{sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgBlobWant, msg))}); err != nil {
			return err
		}
		var peer sp.BlobWant
		if err := recvMsg(recv, sp.MsgBlobWant, &peer); err != nil {
			return err
		}
		if len(want) == 0 && len(peer.Hashes) == 0 {
			return nil // both know: nothing more to move
		}
		if len(peer.Hashes) > sp.MaxBlobWant {
			return fmt.Errorf("%w: the peer asked for %d chunks at once (limit %d)", sp.ErrProtocol, len(peer.Hashes), sp.MaxBlobWant)
		}
		// Answer the peer's want while receiving the answers to ours.
		serr := make(chan error, 1)
		go func() { serr <- n.serveBlobs(ctx, peer.Hashes, send, st) }()
		rerr := n.receiveBlobs(ctx, recv, want, unavailable, st)
		if err := <-serr; err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
	return nil
}

func recvMsg(recv func() ([]byte, error), want sp.MsgKind, v any) error {
	p, err := recv()
	if err != nil {
		return err
	}
	kind, body, err := sp.DecodeMsg(p)
	if err != nil {
		return fmt.Errorf("%w: %v", sp.ErrProtocol, err)
	}
	if kind != want {
		return fmt.Errorf("%w: a %s message where a %s belongs", sp.ErrProtocol, kind, want)
	}
	return sp.DecodeBody(kind, body, v)
}

func (n *Node) serveBlobs(ctx context.Context, hashes [][]byte, send func([][]byte) error, st *BlobStats) error {
	sent := uint64(0)
	for _, hb := range hashes {
		var h store.ChunkHash
		if len(hb) != len(h) {
			return fmt.Errorf("%w: a chunk hash of %d bytes", sp.ErrProtocol, len(hb))
		}
		copy(h[:], hb)
		b := sp.Blob{Hash: hb}
		data, err := n.st.GetChunk(ctx, h)
		switch {
		case errors.Is(err, sp.ErrNotFound):
			b.Missing = true
		case err != nil:
			return err
		default:
			b.Data = data
			sent++
			st.ChunksOut++
			st.BytesOut += uint64(len(data))
		}
		if err := send([][]byte{sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgBlob, b))}); err != nil {
			return err
		}
	}
	return send([][]byte{sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgBlobDone, sp.BlobDone{Sent: sent}))})
}

func (n *Node) receiveBlobs(ctx context.Context, recv func() ([]byte, error), want []store.ChunkHash, unavailable map[store.ChunkHash]bool, st *BlobStats) error {
	asked := map[store.ChunkHash]bool{}
	for _, h := range want {
		asked[h] = true
	}
	var batch [][]byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := n.st.PutChunks(ctx, batch)
		batch = batch[:0]
		return err
	}
	for {
		p, err := recv()
		if err != nil {
			flush() // keep what arrived whole
			return err
		}
		kind, body, err := sp.DecodeMsg(p)
		if err != nil {
			flush()
			return fmt.Errorf("%w: %v", sp.ErrProtocol, err)
		}
		switch kind {
		case sp.MsgBlobDone:
			return flush()
		case sp.MsgBlob:
			var b sp.Blob
			if err := sp.DecodeBody(kind, body, &b); err != nil {
				flush()
				return err
			}
			var h store.ChunkHash
			if len(b.Hash) != len(h) {
				flush()
				return fmt.Errorf("%w: a chunk hash of %d bytes", sp.ErrProtocol, len(b.Hash))
			}
			copy(h[:], b.Hash)
			if !asked[h] {
				flush()
				return fmt.Errorf("%w: the peer sent a chunk that was not asked for", sp.ErrProtocol)
			}
			delete(asked, h)
			if b.Missing {
				unavailable[h] = true
				st.Missing++
				continue
			}
			if sha256.Sum256(b.Data) != h || len(b.Data) > store.MaxChunk {
				flush()
				return fmt.Errorf("%w: a chunk does not match its hash", sp.ErrProtocol)
			}
			batch = append(batch, b.Data)
			st.ChunksIn++
			st.BytesIn += uint64(len(b.Data))
			if len(batch) == blobBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		default:
			flush()
			return fmt.Errorf("%w: a %s message in the blob phase", sp.ErrProtocol, kind)
		}
	}
}
