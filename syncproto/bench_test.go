package syncproto_test

import (
	"math/rand/v2"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

func benchEntries(b *testing.B) []sp.Entry {
	b.Helper()
	h := storetest.RandomHistory(rand.New(rand.NewPCG(1, 1)), 4, 200, 5000)
	return h.Universe
}

// BenchmarkMergeMem is the merge itself, on the in-memory store: set union
// and pruning of honest multi-device history, per entry.
func BenchmarkMergeMem(b *testing.B) {
	es := benchEntries(b)
	b.ResetTimer()
	for i := 0; i < b.N; {
		s := sp.NewMemStore()
		for lo := 0; lo < len(es) && i < b.N; lo += 100 {
			part := es[lo:min(lo+100, len(es))]
			if _, err := s.ApplyVerified(bg, part); err != nil {
				b.Fatal(err)
			}
			i += len(part)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkVerify is one entry's structural check and signature
// verification: the cost of accepting an entry from elsewhere.
func BenchmarkVerify(b *testing.B) {
	es := benchEntries(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := es[i%len(es)].Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEntry is strict decoding of one encoded entry.
func BenchmarkDecodeEntry(b *testing.B) {
	es := benchEntries(b)
	enc := make([][]byte, len(es))
	for i := range es {
		enc[i] = es[i].Encode()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sp.DecodeEntry(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is stamping and signing one entry.
func BenchmarkSign(b *testing.B) {
	d := storetest.NewDevice(1)
	e := d.Set("directory", sp.NewRecordID(), "phone", "867-555-0101")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Time++
		e.Sign(d.Key)
	}
}
