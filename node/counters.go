package node

import "sync/atomic"

// counters count what sync did since the node opened, for the metrics
// endpoint. They are in memory only: a restart starts them at zero, as
// Prometheus counters may.
type counters struct {
	sessions, failed      atomic.Uint64
	bytesIn, bytesOut     atomic.Uint64
	entriesIn, entriesOut atomic.Uint64
	refused, heldBack     atomic.Uint64
	withheld              atomic.Uint64
	chunksIn, chunksOut   atomic.Uint64
}

func (c *counters) count(res *SyncResult, err error) {
	if err != nil {
		c.failed.Add(1)
	} else {
		c.sessions.Add(1)
	}
	st := res.Stats
	c.bytesIn.Add(uint64(st.In.Total()) + res.Blobs.BytesIn)
	c.bytesOut.Add(uint64(st.Out.Total()) + res.Blobs.BytesOut)
	c.entriesIn.Add(st.Applied)
	c.entriesOut.Add(uint64(st.Sent))
	c.refused.Add(uint64(res.Refused))
	c.heldBack.Add(uint64(res.HeldBack))
	c.withheld.Add(st.Withheld)
	c.chunksIn.Add(res.Blobs.ChunksIn)
	c.chunksOut.Add(res.Blobs.ChunksOut)
}

// SyncCounters is what sync did since the node opened.
type SyncCounters struct {
	Sessions, FailedSessions uint64
	BytesIn, BytesOut        uint64 // entries and attachment chunks, both
	EntriesIn, EntriesOut    uint64
	// Refused entries were not allowed to their authors; HeldBack were
	// stamped too far ahead; Withheld were left for the daily budget.
	Refused, HeldBack, Withheld uint64
	ChunksIn, ChunksOut         uint64
}

// Counters returns what sync did since the node opened.
func (n *Node) Counters() SyncCounters {
	c := &n.counters
	return SyncCounters{
		Sessions: c.sessions.Load(), FailedSessions: c.failed.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		EntriesIn: c.entriesIn.Load(), EntriesOut: c.entriesOut.Load(),
		Refused: c.refused.Load(), HeldBack: c.heldBack.Load(), Withheld: c.withheld.Load(),
		ChunksIn: c.chunksIn.Load(), ChunksOut: c.chunksOut.Load(),
	}
}
