package syncproto

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// MsgKind tags a message. Never reorder or reuse a number: peers and bundle
// files depend on them. A receiver skips kinds it does not know.
type MsgKind uint64

// Message kinds.
const (
	MsgHello         MsgKind = 1  // session start: network, devices, salt, digest
	MsgRound         MsgKind = 2  // one reconciliation round (part)
	MsgEntries       MsgKind = 3  // a batch of encoded entries
	MsgEnd           MsgKind = 4  // all entries sent; how many
	MsgFin           MsgKind = 5  // all entries received and applied
	MsgAbort         MsgKind = 6  // the sender ends the session, and why
	MsgAck           MsgKind = 7  // a summary of the sender's set (part)
	MsgBlobWant      MsgKind = 8  // after a session: blob chunks the sender lacks
	MsgBlob          MsgKind = 9  // one blob chunk asked for (or that it is missing)
	MsgBlobDone      MsgKind = 10 // every chunk asked for was answered
	MsgBundleHeader  MsgKind = 16 // first frame of a bundle file
	MsgBundleTrailer MsgKind = 17 // last frame of a bundle file, signed
)

func (k MsgKind) String() string {
	switch k {
	case MsgHello:
		return "hello"
	case MsgRound:
		return "round"
	case MsgEntries:
		return "entries"
	case MsgEnd:
		return "end"
	case MsgFin:
		return "fin"
	case MsgAbort:
		return "abort"
	case MsgAck:
		return "ack"
	case MsgBlobWant:
		return "blob want"
	case MsgBlob:
		return "blob"
	case MsgBlobDone:
		return "blob done"
	case MsgBundleHeader:
		return "bundle-header"
	case MsgBundleTrailer:
		return "bundle-trailer"
	}
	return fmt.Sprintf("kind-%d", uint64(k))
}

// wireMsg is a frame's payload: [kind, body].
type wireMsg struct {
	_    struct{} `cbor:",toarray"`
	Kind MsgKind
	Body cbor.RawMessage
}

// Hello opens a session. Each side sends one.
type Hello struct {
	Network NetworkID `cbor:"1,keyasint"`
	From    DeviceID  `cbor:"2,keyasint"`
	To      DeviceID  `cbor:"3,keyasint"` // zero: whoever answers
	Salt    Salt      `cbor:"4,keyasint"` // the initiator's; the responder echoes it
	Count   uint64    `cbor:"5,keyasint"` // entries held
	Sum     [32]byte  `cbor:"6,keyasint"` // Digest.Sum
	// Capped says the sender is on a metered link with a daily budget:
	// beyond Allowance bytes of this session's traffic (both ways), only
	// the members and urgent lanes may be sent, by either side.
	Capped    bool   `cbor:"7,keyasint,omitempty"`
	Allowance uint64 `cbor:"8,keyasint,omitempty"`
}

// Round carries ranges and wants; a round larger than a frame continues in
// further Round messages with More set on all but the last.
type Round struct {
	Ranges []byte `cbor:"1,keyasint,omitempty"` // packed ranges, see ranges.go
	Wants  []byte `cbor:"2,keyasint,omitempty"` // 8-byte short IDs the sender lacks
	More   bool   `cbor:"3,keyasint,omitempty"`
}

// Entries is a batch of encoded, signed entries. In a bundle each batch
// is also signed by the bundle's sender (Seq and Sig, see
// BundleFrameMessage), so that intact frames of a damaged bundle can be
// applied knowing who made them; a live session leaves both out.
type Entries struct {
	List [][]byte `cbor:"1,keyasint"`
	Seq  uint64   `cbor:"2,keyasint,omitempty"`
	Sig  []byte   `cbor:"3,keyasint,omitempty"`
}

// BundleFrameMessage is what a bundle's sender signs for one entries frame:
// a domain, the SHA-256 of the bundle's header payload (so a frame cannot
// move to another bundle or recipient), the frame's sequence number, and
// the SHA-256 of the canonical encoding of Entries{List} alone.
func BundleFrameMessage(headerHash [32]byte, seq uint64, list [][]byte) []byte {
	body, err := encMode.Marshal(Entries{List: list})
	if err != nil {
		panic("bug: encoding entries: " + err.Error())
	}
	lh := sha256.Sum256(body)
	msg := make([]byte, 0, 24+32+8+32)
	msg = append(msg, "floe/bundle-frame/v1\x00"...)
	msg = append(msg, headerHash[:]...)
	msg = binary.BigEndian.AppendUint64(msg, seq)
	return append(msg, lh[:]...)
}

// End says the sender has sent all its entries.
type End struct {
	Sent uint64 `cbor:"1,keyasint"`
	// Withheld counts entries the sender did not send because the
	// session's byte allowance was spent; they wait for a later session.
	Withheld uint64 `cbor:"2,keyasint,omitempty"`
}

// Fin says the sender has applied every entry it received. HeldBack of
// them were not kept for now (stamped too far ahead); they come again in a
// later session.
type Fin struct {
	Applied  uint64 `cbor:"1,keyasint"`
	HeldBack uint64 `cbor:"2,keyasint,omitempty"`
}

// Abort ends a session with a reason meant for a person.
type Abort struct {
	Reason string `cbor:"1,keyasint"`
}

// AckPart carries a Summary of the sender's set, over as many messages as
// it takes (More set on all but the last).
type AckPart struct {
	Salt    Salt     `cbor:"1,keyasint"`
	Count   uint64   `cbor:"2,keyasint"`
	Sum     [32]byte `cbor:"3,keyasint"`
	Created HLC      `cbor:"4,keyasint"`
	Ranges  []byte   `cbor:"5,keyasint,omitempty"` // packed summary ranges
	More    bool     `cbor:"6,keyasint,omitempty"`
}

// BundleHeader opens a bundle file.
type BundleHeader struct {
	Network NetworkID `cbor:"1,keyasint"`
	From    DeviceID  `cbor:"2,keyasint"`
	To      DeviceID  `cbor:"3,keyasint"`
	Created HLC       `cbor:"4,keyasint"`
	// Sealing names how the frames after the header are protected. 0 means
	// plain frames (entries are signed but readable). Other values are
	// reserved for encryption to the recipient's devices.
	Sealing uint64 `cbor:"5,keyasint"`
	// ID is random, so a second import of the same bundle is recognised.
	ID [16]byte `cbor:"6,keyasint"`
}

// BundleTrailer closes a bundle file: the count of frames before it and the
// sender's signature over the SHA-256 of every byte before the trailer frame.
type BundleTrailer struct {
	Frames uint64 `cbor:"1,keyasint"`
	Sig    []byte `cbor:"2,keyasint"`
}

// BlobWant lists blob chunks (by SHA-256) the sender lacks; an empty list
// says it wants nothing more.
type BlobWant struct {
	Hashes [][]byte `cbor:"1,keyasint,omitempty"`
}

// MaxBlobWant caps the hashes of one BlobWant.
const MaxBlobWant = 1024

// Blob is one chunk: its hash and bytes, or Missing when the sender does
// not have it.
type Blob struct {
	Hash    []byte `cbor:"1,keyasint"`
	Data    []byte `cbor:"2,keyasint,omitempty"`
	Missing bool   `cbor:"3,keyasint,omitempty"`
}

// BlobDone ends the answers to one BlobWant.
type BlobDone struct {
	Sent uint64 `cbor:"1,keyasint"`
}

// EncodeMsg encodes a message as a frame payload.
func EncodeMsg(kind MsgKind, body any) []byte {
	b, err := encMode.Marshal(body)
	if err != nil {
		panic("bug: encoding " + kind.String() + ": " + err.Error())
	}
	p, err := encMode.Marshal(wireMsg{Kind: kind, Body: b})
	if err != nil {
		panic("bug: encoding message: " + err.Error())
	}
	return p
}

// DecodeMsg splits a frame payload into its kind and body. It checks only
// the envelope; DecodeBody checks the body.
func DecodeMsg(payload []byte) (MsgKind, []byte, error) {
	var w wireMsg
	if err := unmarshalStrict(decMode, payload, &w); err != nil {
		return 0, nil, fmt.Errorf("message envelope: %w", err)
	}
	return w.Kind, w.Body, nil
}

// DecodeBody strictly decodes a message body into v.
func DecodeBody(kind MsgKind, body []byte, v any) error {
	if err := unmarshalStrict(decMode, body, v); err != nil {
		return fmt.Errorf("%s message: %w", kind, err)
	}
	return nil
}

// ProbeBundleHeader reads the Sealing field of a bundle header body that
// strict decoding refused, ignoring keys it does not know. A header from a
// newer floe (with new keys, or a sealing scheme) then gets a message that
// says to upgrade, not one that says the file is damaged.
func ProbeBundleHeader(body []byte) (sealing uint64, ok bool) {
	var h struct {
		Network NetworkID `cbor:"1,keyasint"`
		Sealing uint64    `cbor:"5,keyasint"`
	}
	if err := probeDecMode.Unmarshal(body, &h); err != nil || h.Network == (NetworkID{}) {
		return 0, false
	}
	return h.Sealing, true
}
