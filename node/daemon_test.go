package node_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// Two nodes sync over libp2p on loopback: one runs the daemon, the other
// syncs with it once, and then runs its own daemon that keeps them level.
func TestSyncOverLibp2p(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 50)
	addDirectory(t, b, 2, 30)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	addrs := make(chan []string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := a.Run(runCtx, node.DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Interval: time.Hour, Started: func(as []string) { addrs <- as }})
		if err != nil {
			t.Error(err)
		}
	}()
	var as []string
	select {
	case as = <-addrs:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not start")
	}
	if err := b.AddPeer(node.Peer{Device: a.ID(), Addrs: as}); err != nil {
		t.Fatal(err)
	}
	h, err := b.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.FindPeer("hub")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.SyncPeer(ctx, h, p, node.SyncOptions{})
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Sent == 0 || res.Stats.Received == 0 {
		t.Fatalf("one-shot sync moved %d out and %d in", res.Stats.Sent, res.Stats.Received)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("state hashes differ after a libp2p sync")
	}

	// Now b runs a daemon too; a new write on a reaches b without asking.
	addDirectory(t, a, 3, 5)
	synced := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Run(runCtx, node.DaemonOptions{Listen: []string{}, Interval: 200 * time.Millisecond,
			Synced: func(_ node.Peer, _ node.SyncResult, err error) { synced <- err }})
	}()
	deadline := time.After(20 * time.Second)
	for stateHash(t, a) != stateHash(t, b) {
		select {
		case err := <-synced:
			if err != nil {
				t.Logf("daemon sync: %v", err)
			}
		case <-deadline:
			t.Fatal("the daemon did not bring the new write across")
		}
	}
	stop()
	wg.Wait()
}

// A peer that is not reachable is retried with growing waits, and the
// failure is recorded for status.
func TestDaemonBacksOffFromAnUnreachablePeer(t *testing.T) {
	_, a, _, b := pairNodes(t)
	if err := b.AddPeer(node.Peer{Device: a.ID(), Addrs: []string{"/ip4/127.0.0.1/tcp/9"}}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 3*time.Second)
	defer stop()
	var tries []time.Time
	var mu sync.Mutex
	b.Run(runCtx, node.DaemonOptions{Listen: []string{}, Interval: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Synced: func(_ node.Peer, _ node.SyncResult, err error) {
			mu.Lock()
			tries = append(tries, time.Now())
			mu.Unlock()
			if err == nil {
				t.Error("a sync with a closed port succeeded")
			}
		}})
	mu.Lock()
	defer mu.Unlock()
	if len(tries) < 2 || len(tries) > 6 {
		t.Fatalf("%d tries in 3 s with 100 ms interval and doubling; want a few", len(tries))
	}
	if g1, g2 := tries[1].Sub(tries[0]), tries[len(tries)-1].Sub(tries[len(tries)-2]); len(tries) > 2 && g2 <= g1 {
		t.Errorf("waits did not grow: first %s, last %s", g1, g2)
	}
	p, _ := b.FindPeer("hub")
	if p.Failures == 0 || p.LastError == "" {
		t.Errorf("failures not recorded: %+v", p)
	}
}

func TestFindPeerByNameOrDevice(t *testing.T) {
	_, a, _, b := pairNodes(t)
	full := b.ID().String()
	for _, q := range []string{"laptop", full, full[:12], strings.TrimPrefix(full, "dev:")[:8], strings.ToUpper(full[4:14])} {
		p, err := a.FindPeer(q)
		if err != nil || p.Device != b.ID() {
			t.Errorf("FindPeer(%q) = %v, %v", q, p.Device, err)
		}
	}
	if _, err := a.FindPeer("dev:ab"); !errors.Is(err, node.ErrNoPeer) {
		t.Errorf("a two-letter prefix should find nothing: %v", err)
	}
}

// The link emulator sits under libp2p too: a session through a shaping
// proxy that cuts the link mid-transfer keeps what arrived, and the next
// session, through a clean proxy, finishes the job.
func TestLibp2pSyncThroughACutLink(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 400)
	h, err := a.StartHost(ctx, []string{"/ip4/127.0.0.1/tcp/0"}, node.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := ""
	for _, ad := range h.Addrs() {
		t2, _, err := node.ParseAddr(ad)
		if err == nil && strings.HasPrefix(t2, "/ip4/127.0.0.1/tcp/") {
			target = "127.0.0.1:" + strings.TrimPrefix(t2, "/ip4/127.0.0.1/tcp/")
		}
	}
	if target == "" {
		t.Fatalf("no loopback address in %v", h.Addrs())
	}
	through := func(p linkemu.Profile) (node.SyncResult, error) {
		px, err := linkemu.Proxy(ctx, "127.0.0.1:0", target, p)
		if err != nil {
			t.Fatal(err)
		}
		defer px.Close()
		host, port, _ := net.SplitHostPort(px.Addr())
		peer := node.Peer{Device: a.ID(), Addrs: []string{"/ip4/" + host + "/tcp/" + port}}
		bh, err := b.StartHost(ctx, []string{}, node.SyncOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer bh.Close()
		return b.SyncPeer(ctx, bh, peer, node.SyncOptions{StallTimeout: 10 * time.Second})
	}
	_, err = through(linkemu.Profile{Latency: 5 * time.Millisecond, Bandwidth: 20_000_000, CutAfterBytes: 300_000})
	if err == nil {
		t.Fatal("the cut did not show")
	}
	got, _ := b.Status(ctx)
	if got.Entries == 0 {
		t.Fatalf("nothing kept from before the cut: %v", err)
	}
	res, err := through(linkemu.Profile{Latency: 5 * time.Millisecond, Bandwidth: 20_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("no convergence through the proxy")
	}
	all, _ := a.Status(ctx)
	if res.Stats.Received == 0 || res.Stats.Received+got.Entries > all.Entries+uint64(sp.MaxFrameLen/150) {
		t.Errorf("the second session received %d entries after %d had arrived, of %d; want only the rest", res.Stats.Received, got.Entries, all.Entries)
	}
}
