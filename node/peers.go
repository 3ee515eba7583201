package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// Peer is another device this node syncs with, and what it knows of it.
type Peer struct {
	Device sp.DeviceID `cbor:"1,keyasint"`
	Name   string      `cbor:"2,keyasint,omitempty"`
	// Addrs are libp2p multiaddrs (with or without the /p2p/ part).
	Addrs []string `cbor:"3,keyasint,omitempty"`
	// LastSync is when the last live session or bundle import from this
	// peer completed, in Unix milliseconds.
	LastSync int64 `cbor:"4,keyasint,omitempty"`
	// LastTry is when the node last tried to reach the peer.
	LastTry   int64  `cbor:"5,keyasint,omitempty"`
	LastError string `cbor:"6,keyasint,omitempty"`
	// Failures counts tries in a row that failed; the scheduler backs off.
	Failures int `cbor:"7,keyasint,omitempty"`
	// Totals over all sessions and bundles.
	BytesOut   uint64 `cbor:"8,keyasint,omitempty"`
	BytesIn    uint64 `cbor:"9,keyasint,omitempty"`
	EntriesOut uint64 `cbor:"10,keyasint,omitempty"`
	EntriesIn  uint64 `cbor:"11,keyasint,omitempty"`
	Sessions   uint64 `cbor:"12,keyasint,omitempty"`
	Bundles    uint64 `cbor:"13,keyasint,omitempty"`
	// Waiting counts the entries the last session left for another day
	// (both ways) because the daily budget was spent.
	Waiting uint64 `cbor:"14,keyasint,omitempty"`
}

// Limits on what describes a peer.
const (
	MaxPeers     = 1024
	MaxPeerName  = 64
	MaxPeerAddrs = 8
	MaxAddrLen   = 256
)

const metaPeers = "peers"

// ErrNoPeer means no known peer matches.
var ErrNoPeer = errors.New("no such peer")

func ackMeta(d sp.DeviceID) string { return "ack/" + d.String() }

// Peers lists the known peers, by name then device.
func (n *Node) Peers() ([]Peer, error) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	return n.loadPeers()
}

func (n *Node) loadPeers() ([]Peer, error) {
	b, err := n.st.GetMeta(metaPeers)
	if errors.Is(err, sp.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the peer list: %w", err)
	}
	var ps []Peer
	if err := sp.UnmarshalStrict(b, &ps); err != nil {
		return nil, fmt.Errorf("reading the peer list: %w", err)
	}
	return ps, nil
}

func (n *Node) savePeers(ps []Peer) error {
	slices.SortFunc(ps, func(a, b Peer) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Device.String(), b.Device.String())
	})
	b, err := sp.Marshal(ps)
	if err != nil {
		return err
	}
	if err := n.st.PutMeta(metaPeers, b); err != nil {
		return fmt.Errorf("saving the peer list: %w", err)
	}
	return nil
}

func checkPeer(p *Peer) error {
	if p.Device == (sp.DeviceID{}) {
		return errors.New("a peer needs a device ID")
	}
	if !utf8.ValidString(p.Name) || len(p.Name) > MaxPeerName || strings.ContainsFunc(p.Name, unicode.IsControl) {
		return fmt.Errorf("a peer name is one line of at most %d bytes", MaxPeerName)
	}
	if len(p.Addrs) > MaxPeerAddrs {
		return fmt.Errorf("a peer has at most %d addresses", MaxPeerAddrs)
	}
	for _, a := range p.Addrs {
		if len(a) > MaxAddrLen || !strings.HasPrefix(a, "/") {
			return fmt.Errorf("%q is not a multiaddr (like /ip4/192.168.1.20/tcp/4001)", a)
		}
	}
	return nil
}

// AddPeer adds a peer, or updates the name and addresses of a known one.
func (n *Node) AddPeer(p Peer) error {
	if err := checkPeer(&p); err != nil {
		return err
	}
	if p.Device == n.id {
		return errors.New("that is this node's own device ID")
	}
	n.pmu.Lock()
	defer n.pmu.Unlock()
	ps, err := n.loadPeers()
	if err != nil {
		return err
	}
	for i := range ps {
		if ps[i].Device == p.Device {
			if p.Name != "" {
				for j := range ps {
					if j != i && ps[j].Name == p.Name {
						return fmt.Errorf("another peer is already called %q", p.Name)
					}
				}
				ps[i].Name = p.Name
			}
			if len(p.Addrs) > 0 {
				ps[i].Addrs = p.Addrs
			}
			return n.savePeers(ps)
		}
	}
	if len(ps) >= MaxPeers {
		return fmt.Errorf("this node already knows %d peers, the most it keeps", MaxPeers)
	}
	for _, q := range ps {
		if p.Name != "" && q.Name == p.Name {
			return fmt.Errorf("another peer is already called %q", p.Name)
		}
	}
	return n.savePeers(append(ps, Peer{Device: p.Device, Name: p.Name, Addrs: p.Addrs}))
}

// RemovePeer forgets a peer and its acknowledgement.
func (n *Node) RemovePeer(d sp.DeviceID) error {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	ps, err := n.loadPeers()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ps, func(p Peer) bool { return p.Device == d })
	if i < 0 {
		return ErrNoPeer
	}
	if err := n.savePeers(slices.Delete(ps, i, i+1)); err != nil {
		return err
	}
	return n.st.DeleteMeta(ackMeta(d))
}

// FindPeer finds a known peer by name, by device ID, or by the start of a
// device ID (at least 6 characters, with or without "dev:").
func (n *Node) FindPeer(s string) (Peer, error) {
	ps, err := n.Peers()
	if err != nil {
		return Peer{}, err
	}
	s = strings.TrimSpace(s)
	for _, p := range ps {
		if p.Name != "" && p.Name == s {
			return p, nil
		}
	}
	pre := strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "dev:"))
	var found []Peer
	if len(pre) >= 6 {
		for _, p := range ps {
			if strings.HasPrefix(strings.TrimPrefix(p.Device.String(), "dev:"), pre) {
				found = append(found, p)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Peer{}, fmt.Errorf("%w %q: `floe peer list` shows the known peers", ErrNoPeer, s)
	}
	return Peer{}, fmt.Errorf("%q matches %d peers; give more of the device ID", s, len(found))
}

// updatePeer changes a known peer; an unknown one is added first if add.
func (n *Node) updatePeer(d sp.DeviceID, add bool, fn func(*Peer)) error {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	ps, err := n.loadPeers()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ps, func(p Peer) bool { return p.Device == d })
	if i < 0 {
		if !add || len(ps) >= MaxPeers {
			return nil
		}
		ps = append(ps, Peer{Device: d})
		i = len(ps) - 1
	}
	fn(&ps[i])
	return n.savePeers(ps)
}

// peerAck returns what the peer last acknowledged holding, or nil.
func (n *Node) peerAck(d sp.DeviceID) (*sp.SetSummary, error) {
	b, err := n.st.GetMeta(ackMeta(d))
	if errors.Is(err, sp.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := sp.DecodeSummary(b)
	if err != nil {
		// A damaged acknowledgement only costs a bigger next bundle.
		n.log.Warn("ignoring a damaged acknowledgement", "peer", d.Short(), "err", err)
		return nil, nil
	}
	return s, nil
}

// setPeerAck keeps s as what the peer holds, unless a newer one is kept.
func (n *Node) setPeerAck(d sp.DeviceID, s *sp.SetSummary) error {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if old, err := n.peerAck(d); err == nil && old != nil && old.Created > s.Created {
		return nil
	}
	return n.st.PutMeta(ackMeta(d), sp.EncodeSummary(s))
}

func unixMilli(t time.Time) int64 { return t.UnixMilli() }

// PeerStatus is what status shows of a peer.
type PeerStatus struct {
	Device    string    `json:"device"`
	Name      string    `json:"name,omitempty"`
	Addrs     []string  `json:"addrs,omitempty"`
	LastSync  time.Time `json:"last_sync,omitzero"`
	LastTry   time.Time `json:"last_try,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Failures  int       `json:"failures,omitempty"`
	// Totals over every session and bundle with the peer.
	BytesOut   uint64 `json:"bytes_out"`
	BytesIn    uint64 `json:"bytes_in"`
	EntriesOut uint64 `json:"entries_out"`
	EntriesIn  uint64 `json:"entries_in"`
	Sessions   uint64 `json:"sessions"`
	Bundles    uint64 `json:"bundles"`
	// EntriesPending counts this node's entries that the peer has not
	// acknowledged: what a bundle for it would carry.
	EntriesPending int `json:"entries_pending"`
	// Waiting counts entries the last session left for another day
	// because the daily budget was spent (both ways).
	Waiting uint64 `json:"entries_waiting_for_budget"`
	// BytesToday is today's traffic with the peer, counted against the
	// daily budget.
	BytesToday int64 `json:"bytes_today"`
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// PeerStatuses describes every known peer, with the entries each may lack.
func (n *Node) PeerStatuses(ctx context.Context) ([]PeerStatus, error) {
	ps, err := n.Peers()
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	keys, err := n.syncKeys(ctx)
	if err != nil {
		return nil, err
	}
	b, err := n.Budget()
	if err != nil {
		return nil, err
	}
	out := make([]PeerStatus, 0, len(ps))
	for _, p := range ps {
		ack, err := n.peerAck(p.Device)
		if err != nil {
			return nil, err
		}
		out = append(out, PeerStatus{
			Device: p.Device.String(), Name: p.Name, Addrs: p.Addrs,
			LastSync: msTime(p.LastSync), LastTry: msTime(p.LastTry), LastError: p.LastError, Failures: p.Failures,
			BytesOut: p.BytesOut, BytesIn: p.BytesIn, EntriesOut: p.EntriesOut, EntriesIn: p.EntriesIn,
			Sessions: p.Sessions, Bundles: p.Bundles, EntriesPending: len(ack.Missing(keys)),
			Waiting: p.Waiting, BytesToday: b.ByPeer[p.Device.String()],
		})
	}
	return out, nil
}

// syncKeys lists every kept entry's sync key, in order.
func (n *Node) syncKeys(ctx context.Context) ([]sp.SyncKey, error) {
	var ks []sp.SyncKey
	err := n.st.SyncKeys(ctx, func(k sp.SyncKey) error { ks = append(ks, k); return nil })
	return ks, err
}
