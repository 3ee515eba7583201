package syncproto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// peer is one side of a test sync: a device's in-memory store.
type peer struct {
	dev *storetest.Device
	st  *sp.MemStore
	net sp.NetworkID
	// order records the collections of applied entries, in order.
	order []string
}

var testNet = sp.NetworkID{1, 2, 3}

func newPeer(seed byte) *peer {
	d := storetest.NewDevice(seed)
	return &peer{dev: d, st: d.View, net: testNet}
}

func (p *peer) LoadEntry(k sp.SyncKey) ([]byte, sp.Lane, error) {
	e, err := p.st.Get(context.Background(), k.Hash())
	if err != nil {
		return nil, 0, err
	}
	lane := sp.LaneOther
	switch e.Collection {
	case "members":
		lane = sp.LaneMembers
	case "directory":
		lane = sp.LaneDirectory
	}
	return e.Encode(), lane, nil
}

func (p *peer) keys() ([]sp.SyncKey, error) {
	var ks []sp.SyncKey
	err := p.st.ScanSyncOrder(context.Background(), nil, func(k sp.SyncKey, _ sp.Entry) error {
		ks = append(ks, k)
		return nil
	})
	return ks, err
}

func (p *peer) apply(es []sp.Entry) error {
	for i := range es {
		if err := es[i].Verify(); err != nil {
			return err
		}
		p.order = append(p.order, es[i].Collection)
	}
	_, err := p.st.ApplyVerified(context.Background(), es)
	return err
}

func (p *peer) session(initiator bool, salt sp.Salt) *sp.Session {
	sum, err := p.st.Summary(context.Background())
	if err != nil {
		panic(err)
	}
	return sp.NewSession(sp.SessionConfig{
		Initiator: initiator, Network: p.net, Local: p.dev.ID, Salt: salt,
		Digest: sum.Digest, Keys: p.keys, Source: p,
	})
}

func randomSalt() sp.Salt {
	var s sp.Salt
	rand.Read(s[:])
	return s
}

// syncPair runs one session between a and b.
func syncPair(t *testing.T, a, b *peer, opts sp.LockstepOptions) (sp.LockstepResult, *sp.Session, *sp.Session, error) {
	t.Helper()
	sa, sb := a.session(true, randomSalt()), b.session(false, sp.Salt{})
	sa.Start()
	res, err := sp.Lockstep(sa, sb, a.apply, b.apply, opts)
	return res, sa, sb, err
}

func digest(t *testing.T, p *peer) sp.Digest {
	s, err := p.st.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Digest
}

// write makes n entries on p, in fresh records of coll.
func write(p *peer, coll string, n int) []sp.Entry {
	var out []sp.Entry
	for i := 0; i < n; i++ {
		p.dev.Tick(time.Millisecond)
		out = append(out, p.dev.Set(coll, sp.NewRecordID(), "name/en", fmt.Sprintf("service %d", i)))
	}
	return out
}

func give(p *peer, es []sp.Entry) {
	if _, err := p.st.ApplyVerified(context.Background(), es); err != nil {
		panic(err)
	}
}

func TestSyncEqualIsOneRoundTrip(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	es := write(a, "directory", 200)
	give(b, es)
	res, sa, sb, err := syncPair(t, a, b, sp.LockstepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.RoundTrips() != 1 {
		t.Errorf("equal stores took %d round trips, want 1", res.RoundTrips())
	}
	for _, s := range []*sp.Session{sa, sb} {
		st := s.Stats()
		if !st.Complete {
			t.Error("session not complete")
		}
		if st.Out.Total() > 200 || st.In.Total() > 200 {
			t.Errorf("equal stores cost %d bytes out and %d in; want at most 200 each way", st.Out.Total(), st.In.Total())
		}
	}
}

// converge syncs a and b and checks that they end equal.
func converge(t *testing.T, a, b *peer) (sp.LockstepResult, sp.Stats, sp.Stats) {
	t.Helper()
	res, sa, sb, err := syncPair(t, a, b, sp.LockstepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sa.Stats().Complete || !sb.Stats().Complete {
		t.Fatal("session did not complete")
	}
	if da, db := digest(t, a), digest(t, b); da != db {
		t.Fatalf("after sync the stores differ: %d vs %d entries", da.Count, db.Count)
	}
	if !bytes.Equal(a.st.Dump(), b.st.Dump()) {
		t.Fatal("after sync the stores' contents differ")
	}
	return res, sa.Stats(), sb.Stats()
}

func TestSyncDifferences(t *testing.T) {
	for _, c := range []struct {
		name            string
		n, onlyA, onlyB int
		scattered       bool
	}{
		{"empty-to-full", 0, 300, 0, false},
		{"full-to-empty", 0, 0, 300, false},
		{"one-new", 2000, 1, 0, false},
		{"newest-100", 2000, 100, 0, false},
		{"both-sides", 2000, 40, 60, false},
		{"scattered-50", 3000, 50, 0, true},
		{"scattered-both", 3000, 30, 30, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newPeer(1), newPeer(2)
			common := write(a, "directory", c.n)
			extraA := write(a, "outreach", c.onlyA)
			give(b, common)
			extraB := write(b, "outreach", c.onlyB)
			if c.scattered {
				// Move the differences back in time, among the common
				// entries: b holds a random subset of a's history.
				a2, b2 := newPeer(1), newPeer(2)
				all := append(append([]sp.Entry{}, common...), extraA...)
				rng := mrand.New(mrand.NewPCG(1, 2))
				var keep []sp.Entry
				missing := map[int]bool{}
				for len(missing) < c.onlyA {
					missing[rng.IntN(len(all))] = true
				}
				for i, e := range all {
					if !missing[i] {
						keep = append(keep, e)
					}
				}
				give(a2, all)
				give(b2, keep)
				give(b2, extraB)
				give(a2, nil)
				a, b = a2, b2
			}
			res, sa, sb := converge(t, a, b)
			n := int(digest(t, a).Count)
			bound := int(math.Ceil(math.Log(float64(max(n, 2)))/math.Log(16))) + 2
			if res.RoundTrips() > bound {
				t.Errorf("took %d round trips for n=%d; want at most %d", res.RoundTrips(), n, bound)
			}
			t.Logf("n=%d rt=%d a: out %+v in %+v; b sent %d", n, res.RoundTrips(), sa.Out, sa.In, sb.Sent)
			_ = extraB
		})
	}
}

func TestSyncSendsMembersFirst(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	write(a, "outreach", 50)
	write(a, "directory", 50)
	write(a, "members", 5)
	converge(t, a, b)
	for i, c := range b.order[:5] {
		if c != "members" {
			t.Fatalf("entry %d to arrive was %s; membership entries must come first (%v)", i, c, b.order[:8])
		}
	}
	for i, c := range b.order[5:55] {
		if c != "directory" {
			t.Fatalf("entry %d after members was %s; directory before the rest", i, c)
		}
	}
}

// A cut loses at most the batch in flight, and the next session does not
// resend what was applied.
func TestSyncResumesAfterCut(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	for range 6 {
		write(a, "directory", 500)
	}
	total := digest(t, a).Count
	_, _, _, err := syncPair(t, a, b, sp.LockstepOptions{CutAfterBytes: 400 << 10})
	if !errors.Is(err, sp.ErrLinkCut) {
		t.Fatalf("want a cut, got %v", err)
	}
	got := digest(t, b).Count
	if got == 0 || got >= total {
		t.Fatalf("after the cut b holds %d of %d entries; want a part", got, total)
	}
	converge(t, a, b)
	_, sa2, _ := converge(t, a, b)
	if sa2.Out.Payload != 0 {
		t.Errorf("a third session resent %d bytes of entries", sa2.Out.Payload)
	}
}

func TestSyncResendsAtMostOneFrame(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	for range 6 {
		write(a, "directory", 500)
	}
	var whole int64
	{
		c := newPeer(3)
		give(c, nil)
		_, sa, _ := converge(t, a, c)
		whole = sa.Out.Payload
	}
	_, _, sb, err := syncPair(t, a, b, sp.LockstepOptions{CutAfterBytes: 300 << 10})
	if !errors.Is(err, sp.ErrLinkCut) {
		t.Fatal(err)
	}
	arrived := sb.Stats().In.Payload
	if arrived == 0 {
		t.Fatal("nothing arrived before the cut")
	}
	_, sa2, _ := converge(t, a, b)
	// What arrived before the cut plus what the next session sent, less
	// everything: the bytes of entries that crossed the link twice.
	resent := arrived + sa2.Out.Payload - whole
	if resent > sp.MaxFrameLen {
		t.Errorf("resent %d bytes of entries after the cut; want at most one frame (%d)", resent, sp.MaxFrameLen)
	}
}

func TestSyncRefusesWrongNetworkAndDevice(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	write(a, "directory", 3)
	b.net = sp.NetworkID{9}
	_, _, _, err := syncPair(t, a, b, sp.LockstepOptions{})
	if !errors.Is(err, sp.ErrWrongNetwork) && !errors.Is(err, sp.ErrPeerAbort) {
		t.Fatalf("want a wrong-network error, got %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "network") {
		t.Fatalf("error should say network: %v", err)
	}
	b.net = testNet
	sa := a.session(true, randomSalt())
	cfg := sp.SessionConfig{Initiator: true, Network: testNet, Local: a.dev.ID, Peer: newPeer(7).dev.ID, Salt: randomSalt(), Keys: a.keys, Source: a}
	sa = sp.NewSession(cfg)
	sb := b.session(false, sp.Salt{})
	sa.Start()
	_, err = sp.Lockstep(sa, sb, a.apply, b.apply, sp.LockstepOptions{})
	if !errors.Is(err, sp.ErrWrongDevice) && !errors.Is(err, sp.ErrPeerAbort) {
		t.Fatalf("want a wrong-device error, got %v", err)
	}
	if digest(t, b).Count != 0 {
		t.Fatal("entries crossed to the wrong device")
	}
}

// A peer's reason for ending a session is shown to people: control
// characters (terminal escapes) are replaced, and a long one is cut on a
// character boundary.
func TestAbortReasonFromAPeerIsPrintable(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	write(a, "directory", 3)
	sa, sb := a.session(true, randomSalt()), b.session(false, sp.Salt{})
	sa.Start()
	rd, _ := sa.Ready()
	sa.Advance()
	for _, f := range rd.Frames {
		p, _, _ := sp.NextFrame(f)
		sb.Step(p)
	}
	sb.Abort("\x1b[2J" + strings.Repeat("ᐃ", 400))
	rd, _ = sb.Ready()
	sb.Advance()
	var err error
	for _, f := range rd.Frames {
		p, _, _ := sp.NextFrame(f)
		if e := sa.Step(p); e != nil {
			err = e
		}
	}
	var pa *sp.PeerAbortError
	if !errors.As(err, &pa) {
		t.Fatalf("want a PeerAbortError, got %v", err)
	}
	if strings.ContainsRune(pa.Reason, 0x1b) || !utf8.ValidString(pa.Reason) || len(pa.Reason) > sp.MaxAbortReason {
		t.Fatalf("reason not made printable: %q", pa.Reason)
	}
}
