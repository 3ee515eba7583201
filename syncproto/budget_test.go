package syncproto_test

import (
	"context"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// cappedSession is p's session with a byte allowance.
func cappedSession(p *peer, initiator bool, salt sp.Salt, allowance int64) *sp.Session {
	sum, err := p.st.Summary(context.Background())
	if err != nil {
		panic(err)
	}
	return sp.NewSession(sp.SessionConfig{
		Initiator: initiator, Network: p.net, Local: p.dev.ID, Salt: salt,
		Digest: sum.Digest, Keys: p.keys, Source: p, Capped: true, Allowance: allowance,
	})
}

func count(order []string, coll string) int {
	n := 0
	for _, c := range order {
		if c == coll {
			n++
		}
	}
	return n
}

// With the day's budget spent (an allowance of zero), membership still
// goes, and the directory waits; the End says how many wait.
func TestSpentAllowanceSendsOnlyTheMembersLane(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	write(a, "directory", 40)
	write(a, "members", 3)
	sa, sb := cappedSession(a, true, randomSalt(), 0), b.session(false, sp.Salt{})
	sa.Start()
	if _, err := sp.Lockstep(sa, sb, a.apply, b.apply, sp.LockstepOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := count(b.order, "members"); got != 3 {
		t.Fatalf("%d of 3 membership entries went; they always go", got)
	}
	if got := count(b.order, "directory"); got != 0 {
		t.Fatalf("%d directory entries went with the budget spent", got)
	}
	if sa.Stats().Withheld != 40 || sb.Stats().PeerWithheld != 40 {
		t.Fatalf("withheld %d, the peer heard %d; want 40", sa.Stats().Withheld, sb.Stats().PeerWithheld)
	}
	if !sa.Stats().Complete || !sb.Stats().Complete {
		t.Fatal("a session that withheld entries still ends cleanly")
	}
}

// The cap binds the uncapped side too: the laptop on the metered link
// pays for what it receives.
func TestPeersAllowanceLimitsWhatIsSentToIt(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	write(b, "directory", 200)
	write(b, "members", 2)
	sa, sb := cappedSession(a, true, randomSalt(), 4000), b.session(false, sp.Salt{})
	sa.Start()
	if _, err := sp.Lockstep(sa, sb, a.apply, b.apply, sp.LockstepOptions{}); err != nil {
		t.Fatal(err)
	}
	got := count(a.order, "directory")
	if got == 0 || got >= 200 {
		t.Fatalf("%d of 200 directory entries came within a 4000-byte allowance; want some, not all", got)
	}
	if count(a.order, "members") != 2 {
		t.Fatal("membership entries must come whatever the allowance")
	}
	if w := sb.Stats().Withheld; int(w)+got != 200 {
		t.Fatalf("withheld %d + sent %d != 200", w, got)
	}
	total := sa.Stats().In.Total() + sa.Stats().Out.Total()
	// One batch may straddle the line by at most an entry.
	if total > 4000+200 {
		t.Fatalf("the session moved %d bytes against an allowance of 4000", total)
	}
	// A later session with room brings the rest.
	converge(t, a, b)
	if count(a.order, "directory") != 200 {
		t.Fatalf("after an uncapped session %d of 200 directory entries are here", count(a.order, "directory"))
	}
}
