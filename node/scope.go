package node

import (
	"context"
	"fmt"

	"github.com/floe-north/floe/store"
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
	return h.holdsScope(e.Collection, e.Area, e.Author)
}

// holdsScope is holds for an entry known by its scope: collection, area
// and author.
func (h holdRule) holdsScope(coll, area string, author sp.DeviceID) bool {
	return h.reads(coll, area) || h.wrote(author)
}

// reads says whether the device may read entries of coll in area,
// whoever wrote them.
func (h holdRule) reads(coll, area string) bool {
	return coll == Members || h.ok && h.cert.CanRead(coll, area)
}

// wrote says whether the device wrote an entry of author: it holds what
// it wrote.
func (h holdRule) wrote(author sp.DeviceID) bool { return h.ok && author == h.id }

// offerFilter is the filter of a session or bundle with peer; nil means
// no filter (both may hold everything).
func (n *Node) offerFilter(peer sp.DeviceID) func(store.Scope) bool {
	return n.filterFor(n.holdRuleOf(peer))
}

// filterFor is the filter of a session or bundle with a device that
// holds by rule them; nil means no filter. A filter is for one session:
// it remembers, per collection and area, what the certificates allow.
func (n *Node) filterFor(them holdRule) func(store.Scope) bool {
	me := n.holdRuleOf(n.id)
	if me.ok && them.ok && me.cert.readsAll() && them.cert.readsAll() {
		return nil
	}
	type place struct{ coll, area string }
	type reads struct{ me, them bool }
	seen := map[place]reads{}
	return func(sc store.Scope) bool {
		p := place{sc.Collection, sc.Area}
		r, ok := seen[p]
		if !ok {
			r = reads{me.reads(p.coll, p.area), them.reads(p.coll, p.area)}
			seen[p] = r
		}
		return (r.me || me.wrote(sc.Author)) && (r.them || them.wrote(sc.Author))
	}
}

// offerKeys lists the sync keys of the entries filter lets through, in
// sync order, and their digest. It reads the sync-order index alone,
// which keeps each entry's scope (store layout 2): a filtered session
// costs a scan of the index, as an unfiltered one does, and no entry is
// read.
func (n *Node) offerKeys(ctx context.Context, filter func(store.Scope) bool) ([]sp.SyncKey, sp.Digest, error) {
	var ks []sp.SyncKey
	var d sp.Digest
	err := n.st.SyncScopes(ctx, func(k sp.SyncKey, sc store.Scope) error {
		if filter(sc) {
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
