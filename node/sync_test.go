package node_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// pairNodes makes node a with a new network and node b that joined it.
func pairNodes(t *testing.T) (*harness, *node.Node, *harness, *node.Node) {
	t.Helper()
	ha := newHarness(t)
	a := ha.init()
	hb, b := join(t, a, node.RoleCoordinator, "*:*")
	return ha, a, hb, b
}

func addDirectory(t *testing.T, n *node.Node, seed uint64, count int) {
	t.Helper()
	var batch [][]node.Change
	_ = fieldkit.GenerateDirectory(seed, count, func(r fieldkit.Record) error {
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ch)
		return nil
	})
	if _, err := n.AddBatch(ctx, node.Directory, batch); err != nil {
		t.Fatal(err)
	}
}

func stateHash(t *testing.T, n *node.Node) string {
	t.Helper()
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.StateHash
}

// syncOver runs a session between a (initiator) and b over the two ends of
// a link and returns both results.
func syncOver(t *testing.T, a, b *node.Node, ca, cb net.Conn, opts node.SyncOptions) (node.SyncResult, node.SyncResult, error, error) {
	t.Helper()
	var wg sync.WaitGroup
	var rb node.SyncResult
	var errB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rb, errB = b.SyncStream(ctx, cb, false, a.ID(), opts)
		cb.Close()
	}()
	ra, errA := a.SyncStream(ctx, ca, true, b.ID(), opts)
	ca.Close()
	wg.Wait()
	return ra, rb, errA, errB
}

func TestSyncTwoNodes(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 300)
	addDirectory(t, b, 2, 40)
	ca, cb := net.Pipe()
	ra, rb, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatalf("sync: %v / %v", errA, errB)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("state hashes differ after sync")
	}
	if ra.Stats.Sent == 0 || rb.Stats.Sent == 0 {
		t.Fatalf("both sides had entries to send: %d and %d", ra.Stats.Sent, rb.Stats.Sent)
	}
	// Both sides now know the other: last sync and bytes.
	ps, err := b.Peers()
	if err != nil || len(ps) != 1 || ps[0].LastSync == 0 || ps[0].BytesIn == 0 {
		t.Fatalf("b's peer list after a sync: %+v %v", ps, err)
	}
	// A second session finds nothing to do: one round trip, a few bytes.
	ca, cb = net.Pipe()
	ra, _, errA, errB = syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if out := ra.Stats.Out.Total(); out > 200 || ra.Stats.Sent != 0 {
		t.Errorf("a sync with nothing to do sent %d bytes and %d entries", out, ra.Stats.Sent)
	}
}

func TestSyncRefusesAnotherNetwork(t *testing.T) {
	a := newHarness(t).init()
	c := newHarness(t).init() // its own network
	cBefore := status(t, c).Entries
	addDirectory(t, a, 1, 5)
	ca, cc := net.Pipe()
	_, _, errA, errC := syncOver(t, a, c, ca, cc, node.SyncOptions{StallTimeout: 5 * time.Second})
	if errA == nil || errC == nil {
		t.Fatal("nodes of different networks synced")
	}
	if !strings.Contains(errC.Error(), "network") || !strings.Contains(errA.Error(), "network") {
		t.Errorf("errors should say the network differs: %v / %v", errA, errC)
	}
	if st, _ := c.Status(ctx); st.Entries != cBefore {
		t.Fatal("entries crossed between networks")
	}
}

// A link cut mid-transfer keeps what arrived; the next session sends only
// the rest, resending at most one frame.
func TestSyncCutResumesWithAtMostOneFrameResent(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 300)
	// A fresh copy of b's situation, synced without a cut, measures the
	// whole transfer.
	_, c := join(t, a, node.RoleCoordinator, "*:*")
	ca, cc := net.Pipe()
	t1 := time.Now()
	whole, _, errA, errC := syncOver(t, a, c, ca, cc, node.SyncOptions{})
	t.Logf("whole session took %s", time.Since(t1))
	if errA != nil || errC != nil {
		t.Fatal(errA, errC)
	}
	la, lb := linkemu.Pipe(linkemu.Profile{Bandwidth: 50_000_000, CutAfterBytes: whole.Stats.Out.Total() / 2})
	t0 := time.Now()
	_, rb, errA, errB := syncOver(t, a, b, la, lb, node.SyncOptions{StallTimeout: 10 * time.Second})
	t.Logf("cut session took %s: %v / %v", time.Since(t0), errA, errB)
	if errA == nil || errB == nil {
		t.Fatal("the cut did not show")
	}
	if !errors.Is(errB, node.ErrLinkClosed) {
		t.Errorf("the receiver's error should say the link closed: %v", errB)
	}
	got, _ := b.Status(ctx)
	if got.Entries == 0 {
		t.Fatal("nothing was kept from before the cut")
	}
	ca, cb := net.Pipe()
	second, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("no convergence after the cut")
	}
	resent := rb.Stats.In.Payload + second.Stats.Out.Payload - whole.Stats.Out.Payload
	t.Logf("whole %d B, before cut %d B arrived, after %d B; resent %d B", whole.Stats.Out.Payload, rb.Stats.In.Payload, second.Stats.Out.Payload, resent)
	if resent > sp.MaxFrameLen {
		t.Errorf("resent %d bytes of entries after the cut; at most one frame (%d) may be", resent, sp.MaxFrameLen)
	}
}

// rawPeer runs a bare session over conn, for peers that misbehave.
func rawPeer(conn net.Conn, s *sp.Session) error {
	in := make(chan []byte, 8)
	go func() {
		br := bufio.NewReader(conn)
		for {
			p, err := sp.ReadFrame(br, nil)
			if err != nil {
				close(in)
				return
			}
			in <- p
		}
	}()
	for !s.Done() || s.HasReady() {
		if s.HasReady() {
			rd, _ := s.Ready()
			for _, f := range rd.Frames {
				if _, err := conn.Write(f); err != nil {
					return err
				}
			}
			s.Advance()
			continue
		}
		p, ok := <-in
		if !ok {
			return errors.New("closed")
		}
		s.Step(p)
	}
	return s.Err()
}

type forgingSource struct {
	good   []sp.Entry
	forged map[sp.EntryHash]bool
}

func (f *forgingSource) LoadEntry(k sp.SyncKey) ([]byte, sp.Lane, error) {
	for _, e := range f.good {
		if e.Hash() == k.Hash() {
			b := e.Encode()
			if f.forged[k.Hash()] {
				e.Sig[3] ^= 1
				b = e.Encode()
			}
			return b, sp.LaneDirectory, nil
		}
	}
	return nil, 0, sp.ErrNotFound
}

func TestSyncCutsAPeerThatSendsForgedEntries(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, b, 3, 20)
	var es []sp.Entry
	b.Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil })
	src := &forgingSource{good: es, forged: map[sp.EntryHash]bool{es[len(es)-1].Hash(): true}}
	ms := sp.NewMemStore()
	ms.ApplyVerified(ctx, es)
	sum, _ := ms.Summary(ctx)
	raw := sp.NewSession(sp.SessionConfig{Network: a.Network().ID, Local: b.ID(), Digest: sum.Digest, Source: src,
		Keys: func() ([]sp.SyncKey, error) {
			var ks []sp.SyncKey
			return ks, ms.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, _ sp.Entry) error { ks = append(ks, k); return nil })
		}})
	ca, cb := net.Pipe()
	go func() { rawPeer(cb, raw); cb.Close() }()
	_, err := a.SyncStream(ctx, ca, true, b.ID(), node.SyncOptions{StallTimeout: 5 * time.Second})
	ca.Close()
	if !errors.Is(err, sp.ErrProtocol) || !strings.Contains(err.Error(), "fail verification") {
		t.Fatalf("want the session cut for forged entries, got %v", err)
	}
	st, _ := a.Status(ctx)
	if st.Entries != uint64(len(es)-1) {
		t.Errorf("a holds %d entries; want the %d genuine ones and not the forged one", st.Entries, len(es)-1)
	}
}

func TestSyncCutsAStalledPeer(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 10)
	ca, cb := net.Pipe()
	go func() {
		// Read everything and say nothing.
		buf := make([]byte, 4096)
		for {
			if _, err := cb.Read(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	_, err := a.SyncStream(ctx, ca, true, b.ID(), node.SyncOptions{StallTimeout: 1500 * time.Millisecond})
	ca.Close()
	if !errors.Is(err, node.ErrStalled) {
		t.Fatalf("want ErrStalled, got %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %s to notice a stall", el)
	}
}

// Entries stamped beyond the drift bound are held back, not applied, and
// the session still completes; once the clocks agree they arrive.
func TestSyncHoldsBackEntriesFromTheFuture(t *testing.T) {
	ha, a, hb, b := pairNodes(t)
	aBefore := status(t, a).Entries
	hb.clock.t = ha.clock.t.Add(3 * time.Hour)
	addDirectory(t, b, 4, 5)
	ca, cb := net.Pipe()
	ra, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if ra.HeldBack == 0 {
		t.Fatal("entries from three hours ahead were not held back")
	}
	if st, _ := a.Status(ctx); st.Entries != aBefore {
		t.Fatalf("a applied %d entries from the future", st.Entries-aBefore)
	}
	// b must not take the session as a's acknowledgement of them: a
	// bundle for a still carries them.
	st, _ := b.Status(ctx)
	if len(st.Peers) != 1 || st.Peers[0].EntriesPending == 0 {
		t.Fatalf("b believes a holds the entries a held back: %+v", st.Peers)
	}
	ha.clock.t = hb.clock.t
	ca, cb = net.Pipe()
	if _, _, errA, errB = syncOver(t, a, b, ca, cb, node.SyncOptions{}); errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("held-back entries did not arrive once the clocks agreed")
	}
}

var _ = context.Background

// A peer that sends garbage, an oversized frame or another protocol
// version is cut off with an error that says so, and nothing is applied.
func TestSyncRefusesMalformedFrames(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 5)
	bBefore := status(t, b).Entries
	big := []byte{0xF1, 0x0E, 0x5C, 1, 0x7f, 0xff, 0xff, 0xff}
	v2 := sp.AppendFrame(nil, []byte{0x82, 0x01, 0xa0})
	v2[3] = 2
	for _, c := range []struct {
		name, want string
		send       []byte
	}{
		{"garbage", "damaged or foreign frame", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"oversized", "over the", big},
		{"version", "upgrade floe", v2},
		{"bad message", "sync protocol error", sp.AppendFrame(nil, []byte{0xff, 0x00})},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca, cb := net.Pipe()
			go func() {
				cb.Write(c.send)
				buf := make([]byte, 4096)
				for {
					if _, err := cb.Read(buf); err != nil {
						return
					}
				}
			}()
			_, err := b.SyncStream(ctx, ca, false, a.ID(), node.SyncOptions{StallTimeout: 5 * time.Second})
			ca.Close()
			cb.Close()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error saying %q, got %v", c.want, err)
			}
			if st, _ := b.Status(ctx); st.Entries != bBefore {
				t.Fatal("entries applied from a malformed session")
			}
		})
	}
	// The node still syncs with a well-behaved peer afterwards.
	ca, cb := net.Pipe()
	if _, _, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{}); errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
}

// A peer that stops reading while this node sends is cut off as stalled,
// not waited on for ever.
func TestSyncCutsAPeerThatStopsReading(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 5)
	ca, cb := net.Pipe() // nobody ever reads cb
	defer cb.Close()
	start := time.Now()
	_, err := a.SyncStream(ctx, ca, true, b.ID(), node.SyncOptions{StallTimeout: time.Second})
	ca.Close()
	if !errors.Is(err, node.ErrStalled) {
		t.Fatalf("want ErrStalled, got %v", err)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("took %s to notice", el)
	}
}

// A peer that floods entries and never reads what this node sends is cut
// as stalled; this node stops reading once a few batches wait, so the
// flood cannot fill memory.
func TestSyncCutsAFloodingPeerThatNeverReads(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, b, 1, 300) // b has plenty to send
	var sample sp.Entry
	b.Entries(ctx, func(e sp.Entry) error { sample = e; return nil })
	sample.Sig[0] ^= 1 // well formed, not genuine
	batch := sp.Entries{}
	for i := 0; i < 200; i++ {
		batch.List = append(batch.List, sample.Encode())
	}
	flood := sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgEntries, batch))
	ca, cb := net.Pipe()
	stop := make(chan struct{})
	done := make(chan struct{})
	var sent int
	go func() {
		defer close(done)
		hello := sp.Hello{Network: a.Network().ID, From: a.ID(), To: b.ID(), Salt: sp.Salt{1}}
		if _, err := cb.Write(sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgHello, hello))); err != nil {
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := cb.Write(flood); err != nil {
				return
			}
			sent++
		}
	}()
	start := time.Now()
	_, err := b.SyncStream(ctx, ca, false, a.ID(), node.SyncOptions{StallTimeout: time.Second})
	close(stop)
	ca.Close()
	cb.Close()
	<-done // the flooder has stopped; sent is its last count
	if !errors.Is(err, node.ErrStalled) {
		t.Fatalf("want ErrStalled, got %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %s to cut the flood", el)
	}
	if sent > 64 {
		t.Errorf("read %d flood frames (%d entries) while its writes were stuck; it should stop reading after a few", sent, sent*len(batch.List))
	}
}
