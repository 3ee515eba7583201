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
