package syncproto_test

import (
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// A summary from b tells a what b may lack, without a conversation: after
// b gets those entries, a summary of b's new state finds nothing.
func TestSummaryFindsWhatThePeerLacks(t *testing.T) {
	a, b := newPeer(1), newPeer(2)
	common := write(a, "directory", 1000)
	give(b, common[:700])
	give(b, common[800:]) // b lacks 700..799 (old) and a's newest
	fresh := write(a, "outreach", 25)
	summarize := func(p *peer) *sp.SetSummary {
		ks, _ := p.keys()
		s := sp.Summarize(ks, digest(t, p), 0, randomSalt())
		enc := sp.EncodeSummary(&s)
		back, err := sp.DecodeSummary(enc)
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	ka, _ := a.keys()
	miss := summarize(b).Missing(ka)
	if len(miss) < 125 {
		t.Fatalf("summary found %d missing, want at least the 125 b lacks", len(miss))
	}
	if len(miss) > 125+3*sp.SummaryLeaf {
		t.Errorf("summary found %d missing; want about 125, at most a few ranges more", len(miss))
	}
	var send []sp.Entry
	for _, i := range miss {
		e, err := a.st.Get(t.Context(), ka[i].Hash())
		if err != nil {
			t.Fatal(err)
		}
		send = append(send, e)
	}
	give(b, send)
	if digest(t, a) != digest(t, b) {
		t.Fatal("sending what the summary found did not make b equal to a")
	}
	if m := summarize(b).Missing(ka); len(m) != 0 {
		t.Fatalf("after catching up, the summary still finds %d missing", len(m))
	}
	// Entries written after the summary count as missing, and only they.
	write(a, "outreach", 3)
	ka, _ = a.keys()
	if m := summarize(b).Missing(ka); len(m) != 3 {
		t.Errorf("three new entries after a summary: %d missing", len(m))
	}
	if m := (*sp.SetSummary)(nil).Missing(ka); len(m) != len(ka) {
		t.Fatal("no summary must mean everything")
	}
	_ = fresh
}
