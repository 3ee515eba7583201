package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/floe-north/floe/fieldkit"
	sp "github.com/floe-north/floe/syncproto"
)

// BundleExport describes a bundle written for a peer.
type BundleExport struct {
	Peer    sp.DeviceID
	Entries int
	Frames  int
	Bytes   int64
	// Everything is true when the peer had acknowledged nothing, so the
	// bundle holds every entry.
	Everything bool
}

// exportBatch is how many entries go to the writer at a time.
const exportBatch = 256

// gone marks an entry pruned between reading the keys and the entries.
const gone = sp.Lane(255)

// ExportBundle writes a bundle for peer to w: every entry the peer has not
// acknowledged (all of them if it never has), membership first, then urgent
// referrals, the directory and the rest; then this node's own summary, so
// the peer's next bundle or sync can acknowledge it; then the signed
// trailer.
func (n *Node) ExportBundle(ctx context.Context, w io.Writer, peer sp.DeviceID) (BundleExport, error) {
	out := BundleExport{Peer: peer}
	if peer == n.id {
		return out, errors.New("that is this node itself")
	}
	if err := n.checkRecipient(peer); err != nil {
		return out, err
	}
	ack, err := n.peerAck(peer)
	if err != nil {
		return out, err
	}
	out.Everything = ack == nil
	var keys []sp.SyncKey
	var d sp.Digest
	if filter := n.offerFilter(peer); filter != nil {
		keys, d, err = n.offerKeys(ctx, filter)
	} else {
		keys, err = n.syncKeys(ctx)
		for i := range keys {
			d.Add(keys[i].Hash())
		}
	}
	if err != nil {
		return out, err
	}
	idx := ack.Missing(keys)
	// Learn each entry's lane first, then write lane by lane, reading the
	// entries again: a first bundle can hold the whole store, which must
	// not sit in memory.
	src := &nodeSource{n: n, ctx: ctx, urgent: map[sp.RecordID]bool{}}
	lanes := make([]sp.Lane, len(idx))
	for j, i := range idx {
		e, err := n.st.Get(ctx, keys[i].Hash())
		if errors.Is(err, sp.ErrNotFound) {
			lanes[j] = gone // pruned since the keys were read
			continue
		}
		if err != nil {
			return out, fmt.Errorf("reading an entry for the bundle: %w", err)
		}
		lanes[j] = src.lane(&e)
	}
	h := sp.BundleHeader{Network: n.net.ID, From: n.id, To: peer, Created: n.stamp()}
	rand.Read(h.ID[:])
	// The whole bundle is sealed to the peer's device key: the file says
	// nothing to whoever carries it, not even what it is.
	sw, err := fieldkit.NewSealWriter(w, peer)
	if err != nil {
		return out, err
	}
	bw, err := fieldkit.NewBundleWriter(sw, h, n.key)
	if err != nil {
		return out, err
	}
	batch := make([][]byte, 0, exportBatch)
	for lane := sp.LaneMembers; lane <= sp.LaneBulk; lane++ {
		for j, i := range idx {
			if lanes[j] != lane {
				continue
			}
			e, err := n.st.Get(ctx, keys[i].Hash())
			if errors.Is(err, sp.ErrNotFound) {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("reading an entry for the bundle: %w", err)
			}
			batch = append(batch, e.Encode())
			if len(batch) == exportBatch {
				if err := bw.Entries(batch); err != nil {
					return out, err
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if err := bw.Entries(batch); err != nil {
				return out, err
			}
			batch = batch[:0]
		}
	}
	var salt sp.Salt
	rand.Read(salt[:])
	mine := sp.Summarize(keys, d, h.Created, salt)
	if err := bw.Ack(&mine); err != nil {
		return out, err
	}
	if err := bw.Close(); err != nil {
		return out, err
	}
	if err := sw.Close(); err != nil {
		return out, err
	}
	out.Frames, out.Entries, out.Bytes = bw.Stats()
	if err := n.updatePeer(peer, true, func(p *Peer) {
		p.Bundles++
		p.BytesOut += uint64(out.Bytes)
		p.EntriesOut += uint64(out.Entries)
	}); err != nil {
		n.log.Warn("could not record the bundle", "err", err)
	}
	n.log.Info("bundle written", "peer", peer.Short(), "entries", out.Entries, "bytes", out.Bytes, "everything", out.Everything)
	return out, nil
}

// stamp is a timestamp for something this node makes now.
func (n *Node) stamp() sp.HLC {
	return sp.MakeHLC(uint64(max(n.now().UnixMilli(), 0)), 0)
}

// BundleImport describes an imported bundle.
type BundleImport struct {
	From   sp.DeviceID
	Report fieldkit.BundleReport
	// New counts entries this node did not have; Known those it had.
	New, Known int
	// HeldBack counts entries stamped too far ahead (they come again);
	// Refused those that fail verification.
	HeldBack, Refused int
	// AckKept is true when the bundle's acknowledgement was kept, so the
	// next bundle for its sender shrinks.
	AckKept bool
}

// OpenBundle returns the plain bundle inside r: a sealed bundle (what
// ExportBundle writes) is opened with this device's key, and a plain one,
// which starts with a frame, is read as it is.
func (n *Node) OpenBundle(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(4); bytes.Equal(head, plainBundleStart) {
		return br, nil
	}
	plain, _, err := fieldkit.OpenSealed(br, n.key)
	if errors.Is(err, fieldkit.ErrNotForThisDevice) {
		return nil, fmt.Errorf("%w: %w; nothing was applied", ErrWrongBundle, err)
	}
	return plain, err
}

// ErrWrongBundle means a bundle was made for another network or device.
var ErrWrongBundle = errors.New("this bundle is not for this node")

// plainBundleStart is how an unsealed bundle begins: a frame's magic and
// protocol version.
var plainBundleStart = sp.AppendFrame(nil, nil)[:4]

// ImportBundle reads a bundle and applies every intact frame whose entries
// verify, even when the bundle is damaged or cut short; the report says
// what was lost. A bundle for another network or another device is refused
// before anything is applied. Importing a bundle twice, or an older one
// after a newer, changes nothing the second time.
func (n *Node) ImportBundle(ctx context.Context, r io.Reader) (BundleImport, error) {
	var out BundleImport
	check := func(h sp.BundleHeader) error {
		switch {
		case h.Network != n.net.ID:
			return fmt.Errorf("%w: it belongs to network %s, and this node to %q (%s); nothing was applied", ErrWrongBundle, h.Network, n.net.Name, n.net.ID)
		case h.From == n.id:
			return fmt.Errorf("%w: this node made it (for %s); carry it to that laptop; nothing was applied", ErrWrongBundle, h.To.Short())
		case h.To != n.id:
			return fmt.Errorf("%w: it was made for device %s, and this is %s; nothing was applied", ErrWrongBundle, h.To.Short(), n.id.Short())
		case n.Revoked(h.From):
			return fmt.Errorf("%w: it comes from device %s, which has been revoked; nothing was applied", ErrWrongBundle, h.From.Short())
		case !n.allowedPeer(h.From) && !n.isPeer(h.From):
			return fmt.Errorf("%w: it comes from device %s, which is not a member of this network nor one of this node's peers; nothing was applied", ErrWrongBundle, h.From.Short())
		}
		out.From = h.From
		return nil
	}
	apply := func(es []sp.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, held, refused, bad, err := n.mergeFromPeer(ctx, es)
		out.HeldBack += held
		out.Refused += bad + refused
		out.New += res.Added
		out.Known += len(es) - held - refused - bad - res.Added
		return err
	}
	r, err := n.OpenBundle(r)
	if err != nil {
		return out, err
	}
	rep, err := fieldkit.ReadBundle(r, check, apply)
	out.Report = rep
	if err != nil {
		return out, err
	}
	if out.New > 0 {
		if _, err := n.Maintain(ctx); err != nil {
			n.log.Warn("key maintenance after the bundle failed", "err", err)
		}
	}
	if rep.Signed && rep.Ack != nil {
		if err := n.setPeerAck(out.From, rep.Ack); err != nil {
			return out, err
		}
		out.AckKept = true
	}
	if err := n.updatePeer(out.From, false, func(p *Peer) {
		p.Bundles++
		p.EntriesIn += uint64(out.New)
		if rep.Signed {
			p.LastSync = unixMilli(n.now())
		}
	}); err != nil {
		n.log.Warn("could not record the bundle", "err", err)
	}
	n.log.Info("bundle imported", "from", out.From.Short(), "new", out.New, "known", out.Known,
		"held_back", out.HeldBack, "refused", out.Refused, "damaged", rep.Damaged, "signed", rep.Signed)
	return out, nil
}
