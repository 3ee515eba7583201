package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// floe bench sync on a small grid over loopback: the JSON parses, a sync
// of equal sets is one round trip of hellos, and the differences really
// cross, at about their own size.
func TestBenchSync(t *testing.T) {
	c := newCLI(t)
	out := c.ok("bench", "sync", "--n", "2000", "--d", "0,1,100", "--spread", "newest,scattered", "--link", "loopback", "--json")
	var rep SyncBenchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// d=0 once (the spreads are the same), d=1 and d=100 for each spread.
	if len(rep.Rows) != 5 {
		t.Fatalf("%d rows, want 5:\n%s", len(rep.Rows), out)
	}
	minEntry, maxEntry := 1<<30, 0
	for _, b := range syncBenchEntries(1) {
		minEntry, maxEntry = min(minEntry, len(b)), max(maxEntry, len(b))
	}
	for _, r := range rep.Rows {
		if r.Link != "loopback" || r.N != 2000 {
			t.Errorf("row %+v: want loopback and n=2000", r)
		}
		if r.D == 0 {
			if r.RoundTrips != 1 || r.AToB.total() > 200 || r.BToA.total() > 200 || r.Total == 0 {
				t.Errorf("d=0: %d round trips, %d B A→B, %d B B→A; want 1 round trip and at most 200 B each way",
					r.RoundTrips, r.AToB.total(), r.BToA.total())
			}
			if r.HelloOK == nil || !*r.HelloOK {
				t.Errorf("d=0: the target is not marked as met")
			}
			continue
		}
		if r.Received != uint64(r.D) {
			t.Errorf("d=%d %s: B received %d entries", r.D, r.Spread, r.Received)
		}
		if r.AToB.Payload < int64(r.D*minEntry) || r.AToB.Payload > int64(r.D*maxEntry) {
			t.Errorf("d=%d %s: %d payload bytes A→B, want %d entries of %d to %d bytes", r.D, r.Spread, r.AToB.Payload, r.D, minEntry, maxEntry)
		}
		if r.BToA.Payload != 0 {
			t.Errorf("d=%d %s: B sent %d payload bytes and has nothing A lacks", r.D, r.Spread, r.BToA.Payload)
		}
		if r.Floor <= 0 || r.Ratio == nil || r.RoundTrips < 2 || r.RoundTrips > r.RTBound+4 {
			t.Errorf("d=%d %s: floor %d, ratio %v, %d round trips (bound %d)", r.D, r.Spread, r.Floor, r.Ratio, r.RoundTrips, r.RTBound)
		}
	}
}

func TestBenchSyncOutputAndFlags(t *testing.T) {
	c := newCLI(t)
	out := c.ok("bench", "sync", "--n", "300", "--d", "0,5", "--spread", "scattered", "--link", "loopback")
	for _, want := range []string{"Synthetic sets, no database", "loopback", "scattered", "bytes ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	md := c.ok("bench", "sync", "--n", "300", "--d", "5", "--spread", "newest", "--link", "loopback", "--markdown")
	if !strings.Contains(md, "| loopback | 300 | 5 | newest |") {
		t.Errorf("no Markdown row:\n%s", md)
	}
	c.fails(ExitUsage, "--entries is a flag of floe bench", "bench", "sync", "--entries", "5")
	c.fails(ExitUsage, "--n is a flag of floe bench sync", "bench", "--n", "5")
	c.fails(ExitUsage, "not one of", "bench", "sync", "--link", "carrier-pigeon")
	c.fails(ExitUsage, "choose one", "bench", "sync", "--json", "--markdown")
	if help := c.ok("bench", "--help"); !strings.Contains(help, "floe bench sync") {
		t.Errorf("floe bench --help does not mention floe bench sync")
	}
}
