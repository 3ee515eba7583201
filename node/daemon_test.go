package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
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
