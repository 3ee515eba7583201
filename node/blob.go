package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"slices"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Attachments. A directory record's attachments/NAME field names a file
// (a poster, a PDF, an audio recording): its bytes are cut into chunks of
// store.MaxChunk, stored by their hash, and listed in a manifest chunk; the
// field's value holds the manifest's hash, the size and the media type.
// The entry travels like any other; the chunks come by pack or in the blob
// phase of a live sync, at the lowest priority, and a chunk not here yet
// shows as "not yet here", never as an error.

// MaxAttachment caps one attachment: its manifest is one chunk of hashes.
const MaxAttachment = (store.MaxChunk / 32) * store.MaxChunk

// ErrNotYetHere means some of an attachment's chunks have not arrived.
var ErrNotYetHere = errors.New("not yet here")

// Attachment is an attachment as people read it.
type Attachment struct {
	Name     string `json:"name"`
	Size     uint64 `json:"size"`
	Type     string `json:"type"`
	Manifest string `json:"manifest"`
	// Here is true when every chunk is on this laptop.
	Here bool `json:"here"`
}

// attachmentRef is the value of an attachments/NAME entry.
func attachmentValue(manifest store.ChunkHash, size uint64, typ string) ([]byte, error) {
	return sp.EncodeValue(map[string]any{"manifest": manifest[:], "size": size, "type": typ})
}

func parseAttachment(v any) (store.ChunkHash, uint64, string, bool) {
	m, ok := v.(map[any]any)
	if !ok {
		return store.ChunkHash{}, 0, "", false
	}
	h, _ := m["manifest"].([]byte)
	size, _ := m["size"].(uint64)
	typ, _ := m["type"].(string)
	var mh store.ChunkHash
	if len(h) != len(mh) {
		return mh, 0, "", false
	}
	copy(mh[:], h)
	return mh, size, typ, true
}

// Attach stores r's bytes as chunks and writes the record's
// attachments/NAME field.
func (n *Node) Attach(ctx context.Context, id sp.RecordID, name string, r io.Reader) (Attachment, error) {
	path, _, err := DirectorySchema.ResolvePath("attachments/" + name)
	if err != nil {
		return Attachment{}, err
	}
	manifest, size, err := n.storeBlob(ctx, r)
	if err != nil {
		return Attachment{}, err
	}
	typ := mime.TypeByExtension(filepath.Ext(name))
	if typ == "" {
		typ = "application/octet-stream"
	}
	v, err := attachmentValue(manifest, size, typ)
	if err != nil {
		return Attachment{}, err
	}
	err = n.write(ctx, Directory, id, "", func(cur []sp.Entry) ([]sp.Entry, error) {
		if len(cur) == 0 {
			return nil, fmt.Errorf("no directory record %s", id.Short())
		}
		for _, c := range cur {
			if c.Field == path && len(cur) > 0 && string(c.Value) == string(v) {
				return nil, nil // the same file is attached already
			}
		}
		return []sp.Entry{{Field: path, Kind: sp.KindValue, Value: v}}, nil
	})
	return Attachment{Name: name, Size: size, Type: typ, Manifest: fmt.Sprintf("%x", manifest[:]), Here: true}, err
}

// storeBlob cuts r into chunks, stores them and their manifest, and
// returns the manifest's hash and the size.
func (n *Node) storeBlob(ctx context.Context, r io.Reader) (store.ChunkHash, uint64, error) {
	var manifest []byte
	var size uint64
	batch := make([][]byte, 0, 16)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		hs, err := n.st.PutChunks(ctx, batch)
		if err != nil {
			return err
		}
		for _, h := range hs {
			manifest = append(manifest, h[:]...)
		}
		batch = batch[:0]
		return nil
	}
	for {
		buf := make([]byte, store.MaxChunk)
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			size += uint64(k)
			if size > MaxAttachment {
				return store.ChunkHash{}, 0, fmt.Errorf("an attachment is at most %d MiB", MaxAttachment>>20)
			}
			batch = append(batch, buf[:k])
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return store.ChunkHash{}, 0, err
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return store.ChunkHash{}, 0, fmt.Errorf("reading the file: %w", err)
		}
	}
	if err := flush(); err != nil {
		return store.ChunkHash{}, 0, err
	}
	if size == 0 {
		return store.ChunkHash{}, 0, errors.New("the file is empty")
	}
	hs, err := n.st.PutChunks(ctx, [][]byte{manifest})
	if err != nil {
		return store.ChunkHash{}, 0, err
	}
	return hs[0], size, nil
}

// blobChunks lists an attachment's chunk hashes from its manifest, or
// ErrNotYetHere if the manifest has not arrived.
func (n *Node) blobChunks(ctx context.Context, manifest store.ChunkHash) ([]store.ChunkHash, error) {
	m, err := n.st.GetChunk(ctx, manifest)
	if errors.Is(err, sp.ErrNotFound) {
		return nil, ErrNotYetHere
	}
	if err != nil {
		return nil, err
	}
	if len(m)%32 != 0 {
		return nil, fmt.Errorf("attachment manifest %x is damaged", manifest[:6])
	}
	out := make([]store.ChunkHash, len(m)/32)
	for i := range out {
		copy(out[i][:], m[i*32:])
	}
	return out, nil
}

// ReadAttachment writes an attachment's bytes to w, or fails with
// ErrNotYetHere before writing anything if a chunk is missing.
func (n *Node) ReadAttachment(ctx context.Context, id sp.RecordID, name string, w io.Writer) (Attachment, error) {
	a, manifest, err := n.attachment(ctx, id, name)
	if err != nil {
		return a, err
	}
	if !a.Here {
		return a, fmt.Errorf("%s: %w (it comes with the next sync or pack)", name, ErrNotYetHere)
	}
	hs, err := n.blobChunks(ctx, manifest)
	if err != nil {
		return a, err
	}
	for _, h := range hs {
		c, err := n.st.GetChunk(ctx, h)
		if err != nil {
			return a, err
		}
		if _, err := w.Write(c); err != nil {
			return a, err
		}
	}
	return a, nil
}

func (n *Node) attachment(ctx context.Context, id sp.RecordID, name string) (Attachment, store.ChunkHash, error) {
	path, _, err := DirectorySchema.ResolvePath("attachments/" + name)
	if err != nil {
		return Attachment{}, store.ChunkHash{}, err
	}
	es, err := n.st.Record(ctx, Directory, id)
	if err != nil {
		return Attachment{}, store.ChunkHash{}, err
	}
	rv := sp.Fold(Directory, id, es)
	f := rv.Field(path)
	if f == nil || f.Current.Kind != sp.KindValue {
		return Attachment{}, store.ChunkHash{}, fmt.Errorf("record %s has no attachment %q", id.Short(), name)
	}
	v, _ := sp.DecodeValue(f.Current.Value)
	mh, size, typ, ok := parseAttachment(v)
	if !ok {
		return Attachment{}, mh, fmt.Errorf("attachment %q is damaged", name)
	}
	a := Attachment{Name: name, Size: size, Type: typ, Manifest: fmt.Sprintf("%x", mh[:])}
	missing, err := n.missingChunks(ctx, mh)
	if err != nil {
		return a, mh, err
	}
	a.Here = len(missing) == 0
	return a, mh, nil
}

// missingChunks lists what is missing of one attachment: its manifest, or
// the chunks the manifest names.
func (n *Node) missingChunks(ctx context.Context, manifest store.ChunkHash) ([]store.ChunkHash, error) {
	hs, err := n.blobChunks(ctx, manifest)
	if errors.Is(err, ErrNotYetHere) {
		return []store.ChunkHash{manifest}, nil
	}
	if err != nil {
		return nil, err
	}
	has, err := n.st.HasChunks(ctx, hs)
	if err != nil {
		return nil, err
	}
	var out []store.ChunkHash
	for i, h := range hs {
		if !has[i] {
			out = append(out, h)
		}
	}
	return out, nil
}

// attachmentManifests lists the manifests of the attachments of the
// given records' current values (all directory records when ids is nil).
func (n *Node) attachmentManifests(ctx context.Context, ids []sp.RecordID) ([]store.ChunkHash, error) {
	var out []store.ChunkHash
	seen := map[store.ChunkHash]bool{}
	visit := func(id sp.RecordID) error {
		es, err := n.st.Record(ctx, Directory, id)
		if err != nil {
			if errors.Is(err, sp.ErrNotFound) {
				return nil
			}
			return err
		}
		rv := sp.Fold(Directory, id, es)
		for i := range rv.Fields {
			f := &rv.Fields[i]
			if top, _, _ := splitPath(f.Field); top != "attachments" {
				continue
			}
			for _, e := range f.All() {
				v, _ := sp.DecodeValue(e.Value)
				if mh, _, _, ok := parseAttachment(v); ok && !seen[mh] {
					seen[mh] = true
					out = append(out, mh)
				}
			}
		}
		return nil
	}
	if ids != nil {
		for _, id := range ids {
			if err := visit(id); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	err := n.st.Records(ctx, Directory, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		if deleted {
			return nil
		}
		return visit(id)
	})
	return out, err
}

// noteAttachments remembers the manifests that entries name, so that the
// blob phase of a sync need not read the whole directory to find them.
func (n *Node) noteAttachments(es []sp.Entry) {
	n.bmu.Lock()
	defer n.bmu.Unlock()
	if n.manifests == nil {
		return // not loaded yet: the first load finds these too
	}
	for i := range es {
		e := &es[i]
		if e.Collection != Directory || e.Kind != sp.KindValue {
			continue
		}
		if top, _, _ := splitPath(e.Field); top != "attachments" {
			continue
		}
		v, _ := sp.DecodeValue(e.Value)
		if mh, _, _, ok := parseAttachment(v); ok {
			n.manifests[mh] = true
		}
	}
}

// knownManifests lists the manifests of every attachment this laptop has
// heard of, reading the directory the first time only. An attachment
// replaced or deleted since stays in the list (its chunks are still
// wanted, and a peer without them says so) until the node is reopened.
func (n *Node) knownManifests(ctx context.Context) ([]store.ChunkHash, error) {
	n.bmu.Lock()
	loaded := n.manifests != nil
	n.bmu.Unlock()
	if !loaded {
		ms, err := n.attachmentManifests(ctx, nil)
		if err != nil {
			return nil, err
		}
		n.bmu.Lock()
		if n.manifests == nil {
			n.manifests = map[store.ChunkHash]bool{}
		}
		for _, m := range ms {
			n.manifests[m] = true
		}
		n.bmu.Unlock()
	}
	n.bmu.Lock()
	defer n.bmu.Unlock()
	out := make([]store.ChunkHash, 0, len(n.manifests))
	for m := range n.manifests {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b store.ChunkHash) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// MissingChunks lists every chunk this laptop lacks of the attachments
// its directory names (manifests first: what they list is known only
// once they are here), up to max.
func (n *Node) MissingChunks(ctx context.Context, max int) ([]store.ChunkHash, error) {
	ms, err := n.knownManifests(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.ChunkHash
	for _, m := range ms {
		miss, err := n.missingChunks(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, miss...)
		if len(out) >= max {
			return out[:max], nil
		}
	}
	return out, nil
}
