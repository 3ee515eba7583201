package syncproto_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// decodeErrs are the sentinels that a refused entry or value wraps. Callers
// branch on them (a peer that sends malformed data is disconnected), so
// every refusal must wrap one.
var decodeErrs = []error{sp.ErrMalformed, sp.ErrInvalid, sp.ErrTooLong}

func wrapsOneOf(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzDecodeEntry feeds DecodeEntry bytes from outside. Whatever it accepts
// is a valid entry whose canonical encoding is exactly the input, so one
// entry can never travel under two encodings and two hashes.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range kindEntries(f) {
		f.Add(e.Encode())
		f.Add(e.SigBytes())
	}
	many := goldenEntry(f)
	many.Context = dotsN(20, many.Time)
	many.Value = mustValue(f, map[string]any{"iu": "ᑲᒪᑦᓯᐊᖅᑐᑦ", "n": []any{1, -2, true, nil, []byte{9}}})
	many.Sign(fixedKey("golden-author"))
	f.Add(many.Encode())
	for _, garbage := range [][]byte{
		nil,
		{0x00},
		{0xa0},
		{0xff},
		{0xbf, 0xff},
		{0x9f, 0xff},
		{0xa1, 0x01, 0x60},
		{0xa9, 0x01, 0x69},
		[]byte("go test fuzz v1"),
		bytes.Repeat([]byte{0x81}, 64),
	} {
		f.Add(garbage)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := sp.DecodeEntry(b)
		if err != nil {
			if !wrapsOneOf(err, decodeErrs) {
				t.Fatalf("DecodeEntry error %q wraps none of ErrMalformed, ErrInvalid, ErrTooLong", err)
			}
			return
		}
		if enc := e.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical encoding:\n  in %x\n out %x", b, enc)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("DecodeEntry accepted an entry that fails Validate: %v", err)
		}
		h := e.Hash()
		if h != sp.EntryHash(sha256.Sum256(e.SigBytes())) {
			t.Fatalf("Hash is not the SHA-256 of SigBytes")
		}
		again, err := sp.DecodeEntry(e.Encode())
		if err != nil {
			t.Fatalf("re-decoding an accepted entry: %v", err)
		}
		if again.Hash() != h || e.Hash() != h {
			t.Fatalf("hash is not stable across decodes")
		}
		// The signed bytes are themselves a valid, unsigned entry.
		unsigned, err := sp.DecodeEntry(e.SigBytes())
		if err != nil {
			t.Fatalf("SigBytes of an accepted entry do not decode: %v", err)
		}
		if !bytes.Equal(unsigned.Encode(), e.SigBytes()) || unsigned.Hash() != h {
			t.Fatalf("the unsigned entry is not the same entry")
		}
		// Verify must not panic, and a random entry essentially never
		// carries a valid signature; if it does, it is a seed.
		if err := e.Verify(); err != nil && !errors.Is(err, sp.ErrBadSignature) {
			t.Fatalf("Verify of a decoded entry = %v, want nil or ErrBadSignature", err)
		}
	})
}

// FuzzCheckValue feeds CheckValue and DecodeValue field values from
// outside. A value that CheckValue accepts decodes, and encodes back to
// exactly the same bytes.
func FuzzCheckValue(f *testing.F) {
	for _, v := range []any{
		"Kamatsiaqtut Help Line", "", "ᑲᒪᑦᓯᐊᖅᑐᑦ", []byte{0, 0xff}, true, false, nil,
		0, 23, 24, 255, 256, 65535, 65536, ^uint64(0), -1, -24, -25, int64(-1 << 63),
		[]any{}, []any{"iu", "en", "fr"}, nested(sp.MaxNesting),
		map[string]any{}, map[string]any{"phone": "867-979-3333", "hours": []any{"mon", "tue"}, "open": true},
	} {
		f.Add(mustValue(f, v))
	}
	for _, h := range [][]byte{
		nil,
		{0xf9, 0x3c, 0x00},             // float16 1.0
		{0xfb, 0, 0, 0, 0, 0, 0, 0, 0}, // float64 0
		{0x18, 0x05},                   // non-shortest 5
		{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // -2^64
		{0x5f, 0x41, 0x00, 0xff},                               // indefinite bytes
		{0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02},             // keys out of order
		{0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02},             // duplicate key
		{0xc1, 0x01},                   // tag
		{0xf7},                         // undefined
		{0xf0},                         // simple(16)
		{0x01, 0x01},                   // two values
		{0x82, 0x01, 0xf9, 0x3c, 0x00}, // float in an array
		bytes.Repeat([]byte{0x81}, sp.MaxNesting+1),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := sp.CheckValue(b)
		v, derr := sp.DecodeValue(b)
		if err != nil {
			if !wrapsOneOf(err, []error{sp.ErrMalformed, sp.ErrTooLong}) {
				t.Fatalf("CheckValue error %q wraps neither ErrMalformed nor ErrTooLong", err)
			}
			return
		}
		if derr != nil {
			t.Fatalf("CheckValue accepts %x but DecodeValue refuses it: %v", b, derr)
		}
		enc, err := sp.EncodeValue(v)
		if err != nil {
			t.Fatalf("CheckValue accepts %x but EncodeValue refuses its decoding %#v: %v", b, v, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted value %x re-encodes as %x", b, enc)
		}
	})
}

// FuzzDecodeStored: stores decode their own, authenticated bytes with
// DecodeStored. It must never panic, whatever the bytes.
func FuzzDecodeStored(f *testing.F) {
	for _, e := range []sp.Entry{goldenEntry(f), tallyEntry(f), tombstoneEntry(f)} {
		f.Add(e.Encode())
	}
	f.Add([]byte{0xa1, 0x01, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := sp.DecodeStored(b)
		if err == nil {
			_ = e.Encode()
		}
	})
}
