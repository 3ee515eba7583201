package syncproto

// Limits on anything that can come from outside. They are checked when an
// entry is decoded or validated, before it reaches a store.
const (
	// MaxCollectionLen caps a collection name, in bytes.
	MaxCollectionLen = 32
	// MaxFieldLen caps a field path, in bytes.
	MaxFieldLen = 128
	// MaxFieldDepth caps the number of '/'-separated parts in a field path.
	MaxFieldDepth = 4
	// MaxValueLen caps an entry's encoded value, in bytes.
	MaxValueLen = 16 << 10
	// MaxContextDots caps the authors named in one causal context.
	MaxContextDots = 256
	// MaxEntryLen caps one encoded entry, in bytes.
	MaxEntryLen = MaxValueLen + MaxContextDots*48 + 1024
	// MaxNesting caps CBOR nesting inside a value.
	MaxNesting = 8
	// MaxItems caps the elements of any CBOR array or map from outside.
	MaxItems = 1024
)

// Limits on the sync protocol. A peer that breaks one is cut off.
const (
	// MaxFrameLen caps one frame's payload, in bytes. Entries travel in
	// batches that fill a frame, so a cut link resends at most this much.
	MaxFrameLen = 64 << 10
	// MaxRoundLen caps one reconciliation round (ranges and wants, over as
	// many frames as it takes), in bytes.
	MaxRoundLen = 32 << 20
	// MaxRanges caps the ranges in one round.
	MaxRanges = 4 << 20
	// MaxIDList caps the short IDs listed for one range.
	MaxIDList = 4096
	// MaxRounds caps the reconciliation rounds of one session; the protocol
	// needs about log16(n)+2 of them.
	MaxRounds = 64
	// MaxAbortReason caps the text a peer may give for ending a session.
	MaxAbortReason = 512
	// MaxSummaryRanges caps the ranges of an acknowledgement summary:
	// 2^16 ranges of SummaryLeaf entries is a store of 4 million.
	MaxSummaryRanges = 1 << 16
)
