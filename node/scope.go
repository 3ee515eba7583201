package node

import (
	"context"
	"fmt"

	sp "github.com/floe-north/floe/syncproto"
)

// What a node offers a peer: only entries both may hold. A device may hold
// an entry it may read (by its certificate's role and areas) or one it
// wrote itself. The rule is the same from both ends, so the two sides of a
// session reconcile the same set and say nothing about the rest: not how
// many other entries there are, nor when they changed. Before a device's
// certificate is known, only the members collection is offered to or by
// it, which is how a new laptop gets its certificate.

// holdRule says whether an entry may be held by one device.
type holdRule struct {
	id   sp.DeviceID
	cert Cert
	ok   bool
}

func (n *Node) holdRuleOf(d sp.DeviceID) holdRule {
	c, ok := n.trust.current(d)
	return holdRule{id: d, cert: c, ok: ok}
}

func (h holdRule) holds(e *sp.Entry) bool {
	if e.Collection == Members {
		return true
	}
	if !h.ok {
		return false
	}
	return e.Author == h.id || h.cert.CanRead(e.Collection, e.Area)
}

// offerFilter is the filter of a session or bundle with peer; nil means
// no filter (both may hold everything).
func (n *Node) offerFilter(peer sp.DeviceID) func(*sp.Entry) bool {
	return n.filterFor(n.holdRuleOf(peer))
}

// filterFor is the filter of a session or bundle with a device that
// holds by rule them; nil means no filter.
func (n *Node) filterFor(them holdRule) func(*sp.Entry) bool {
	me := n.holdRuleOf(n.id)
	if me.ok && them.ok && me.cert.readsAll() && them.cert.readsAll() {
		return nil
	}
	return func(e *sp.Entry) bool { return me.holds(e) && them.holds(e) }
}

// offerKeys lists the sync keys of the entries filter lets through, in
// sync order, and their digest. It reads every entry: a filtered session
// costs a scan of the store.
func (n *Node) offerKeys(ctx context.Context, filter func(*sp.Entry) bool) ([]sp.SyncKey, sp.Digest, error) {
	var ks []sp.SyncKey
	var d sp.Digest
	err := n.st.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, e sp.Entry) error {
		if filter(&e) {
			ks = append(ks, k)
			d.Add(k.Hash())
		}
		return nil
	})
	return ks, d, err
}

// allowedPeer is the connection gater's rule: a device with a current
// certificate, never a revoked one. A laptop that has not received its
// own certificate yet also admits the peers in its list (the admin it
// joined through), or it could never get the certificate.
func (n *Node) allowedPeer(d sp.DeviceID) bool {
	if n.Revoked(d) {
		return false
	}
	if n.certified(d) {
		return true
	}
	return !n.certified(n.id) && n.isPeer(d)
}

// checkRecipient refuses to make a bundle for a device that may not have
// one.
func (n *Node) checkRecipient(peer sp.DeviceID) error {
	if n.Revoked(peer) {
		return fmt.Errorf("%w: %s; no bundle is made for it", ErrRevoked, peer.Short())
	}
	return nil
}
