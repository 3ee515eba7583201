package fieldkit

import (
	"bytes"
	"errors"
	"testing"

	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// FuzzReadBundle reads arbitrary bytes as a bundle. It must never panic,
// everything it hands to apply must be an entry that passes
// sp.DecodeEntry's checks, and an acknowledgement must come only with a
// verified signature.
func FuzzReadBundle(f *testing.F) {
	fx := newFixture(40)
	var buf bytes.Buffer
	if err := fx.write(&buf); err != nil {
		f.Fatal(err)
	}
	whole := buf.Bytes()
	f.Add(whole)
	for _, n := range []int{0, 3, 50, len(whole) / 3, len(whole) / 2, len(whole) - 40, len(whole) - 1} {
		f.Add(whole[:n])
	}
	for seed := range int64(6) {
		f.Add(linkemu.Damage(whole, seed, 1+int(seed)))
	}
	f.Add(append(bytes.Clone(whole), whole...))
	f.Add([]byte("name,phone\nSample Line (fictional),555-0100\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		applied := 0
		rep, err := ReadBundle(bytes.NewReader(data), nil, func(es []sp.Entry) error {
			for i := range es {
				// What apply gets must be what DecodeEntry accepts: valid,
				// and canonical (it re-encodes to itself and decodes again).
				if err := es[i].Validate(); err != nil {
					t.Fatalf("apply was handed an invalid entry: %v", err)
				}
				if _, err := sp.DecodeEntry(es[i].Encode()); err != nil {
					t.Fatalf("apply was handed an entry that does not decode again: %v", err)
				}
			}
			applied += len(es)
			return nil
		})
		if rep.Ack != nil && !rep.Signed {
			t.Fatal("an acknowledgement without a verified signature")
		}
		if rep.Signed && (rep.Truncated || rep.Damaged != 0 || !rep.HeaderOK) {
			t.Fatalf("signed, yet %+v", rep)
		}
		if rep.Entries != applied {
			t.Fatalf("report counts %d entries, apply got %d", rep.Entries, applied)
		}
		if err != nil && applied != 0 {
			var se *SealingError
			if errors.Is(err, ErrNotBundle) || errors.As(err, &se) {
				t.Fatalf("refused the bundle (%v) after applying %d entries", err, applied)
			}
		}
		_ = rep.Problems()
	})
}
