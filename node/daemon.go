package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

// DefaultDaemonListen is where `floe node run` listens unless told: the
// loopback interface only, on a fixed port so peers can be configured.
const DefaultDaemonListen = "/ip4/127.0.0.1/tcp/7420"

// isPeer reports whether d is a known peer: the gater admits only these.
func (n *Node) isPeer(d sp.DeviceID) bool {
	ps, err := n.Peers()
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Device == d {
			return true
		}
	}
	return false
}

// StartHost starts this node's libp2p host: its identity is the device
// key, its private-network key the network's, and it admits known peers
// only. Incoming sync streams are served with SyncStream. listen nil means
// DefaultListen; empty means dial only.
func (n *Node) StartHost(ctx context.Context, listen []string, opts SyncOptions) (*Host, error) {
	handle := func(ctx context.Context, s Stream) {
		if _, err := n.SyncStream(ctx, s, false, s.Remote(), opts); err != nil {
			s.Reset()
			return
		}
		s.Close()
	}
	return NewHost(ctx, HostConfig{Key: n.key, PSK: n.PSK(), Listen: listen, Allowed: n.allowedPeer, Logger: n.base}, handle)
}

// SyncPeer runs one session with a known peer through host.
func (n *Node) SyncPeer(ctx context.Context, h *Host, p Peer, opts SyncOptions) (SyncResult, error) {
	addrs := make([]string, 0, len(p.Addrs))
	for _, a := range p.Addrs {
		if t, dev, err := ParseAddr(a); err == nil {
			if dev != p.Device {
				return SyncResult{Peer: p.Device}, fmt.Errorf("address %s belongs to another device than peer %s", a, p.Device.Short())
			}
			a = t
		}
		addrs = append(addrs, a)
	}
	s, err := h.Open(ctx, p.Device, addrs)
	if err != nil {
		_ = n.updatePeer(p.Device, false, func(q *Peer) {
			q.LastTry = unixMilli(n.now())
			q.Failures++
			q.LastError = err.Error()
		})
		return SyncResult{Peer: p.Device}, err
	}
	res, err := n.SyncStream(ctx, s, true, p.Device, opts)
	if err != nil {
		s.Reset()
	} else {
		s.Close()
	}
	return res, err
}

// DaemonOptions configure Run.
type DaemonOptions struct {
	// Listen lists multiaddrs; nil means DefaultDaemonListen.
	Listen []string
	// Interval is how often each reachable peer is synced; zero means 5
	// minutes.
	Interval time.Duration
	// MaxBackoff caps the wait after failures; zero means an hour.
	MaxBackoff time.Duration
	// Sync tunes each session.
	Sync SyncOptions
	// Started, if set, is called with the host's addresses once listening.
	Started func(addrs []string)
	// Synced, if set, is called after every outgoing session.
	Synced func(Peer, SyncResult, error)
	// Wake, if set, makes every peer due at once ("sync now"), backoff
	// or not.
	Wake <-chan struct{}
	// DailyBytes, if set, is stored as the daily sync budget
	// (SetDailyBudget) before the first session; zero removes it.
	DailyBytes *int64
}

// backoff is how long to wait after failures failed tries in a row.
func backoff(interval, max time.Duration, failures int) time.Duration {
	d := interval
	for i := 0; i < failures && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	// Up to 10% jitter, so laptops that came back together do not all
	// dial the hub in the same second; the cap still holds.
	return min(d+time.Duration(rand.Int64N(int64(d/10)+1)), max)
}

// Run is the daemon: it serves sync streams from peers and syncs with each
// known peer that has an address every Interval, backing off (doubling up
// to MaxBackoff) while a peer is unreachable. It returns when ctx ends.
func (n *Node) Run(ctx context.Context, opts DaemonOptions) error {
	if opts.Listen == nil {
		opts.Listen = []string{DefaultDaemonListen}
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.DailyBytes != nil {
		if err := n.SetDailyBudget(*opts.DailyBytes); err != nil {
			return err
		}
	}
	h, err := n.StartHost(ctx, opts.Listen, opts.Sync)
	if err != nil {
		return err
	}
	defer func() { h.Close() }()
	psk := n.PSK()
	addrs := h.Addrs()
	n.log.Info("node running", "device", n.id.Short(), "network", n.net.ID.String(), "addrs", addrs)
	if opts.Started != nil {
		opts.Started(addrs)
	}
	next := map[sp.DeviceID]time.Time{}
	for {
		// After a revocation the network key rotates: listen with the new
		// one, so the revoked device cannot even finish a handshake.
		if k := n.PSK(); k != psk {
			h.Close()
			if h, err = n.StartHost(ctx, opts.Listen, opts.Sync); err != nil {
				return fmt.Errorf("restarting the host with the rotated network key: %w", err)
			}
			psk = k
			n.log.Info("network key rotated; host restarted", "addrs", h.Addrs())
		}
		ps, err := n.Peers()
		if err != nil {
			return err
		}
		now := time.Now()
		wake := now.Add(opts.Interval)
		for _, p := range ps {
			if len(p.Addrs) == 0 {
				continue // it reaches us, or comes by bundle
			}
			due, ok := next[p.Device]
			if !ok {
				due = now
			}
			if !now.Before(due) {
				res, err := n.SyncPeer(ctx, h, p, opts.Sync)
				if ctx.Err() != nil {
					return nil
				}
				fails := 0
				if err != nil {
					q, _ := n.FindPeer(p.Device.String())
					fails = max(q.Failures, 1)
					n.log.Info("peer not synced; backing off", "peer", p.Device.Short(), "failures", fails, "err", err)
				}
				due = time.Now().Add(backoff(opts.Interval, opts.MaxBackoff, fails))
				if err == nil {
					due = time.Now().Add(opts.Interval)
				}
				next[p.Device] = due
				if opts.Synced != nil {
					opts.Synced(p, res, err)
				}
			}
			if due.Before(wake) {
				wake = due
			}
		}
		t := time.NewTimer(max(time.Until(wake), 50*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-opts.Wake:
			t.Stop()
			clear(next)
		case <-t.C:
		}
	}
}

// ErrNoAddress means a peer has no address to dial.
var ErrNoAddress = errors.New("the peer has no address")
