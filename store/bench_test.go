package store

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// signed builds and signs entries in parallel: field values for n records,
// as a writer that has seen nothing would (no causal context).
func signed(seed byte, recs []sp.RecordID, fields func(i int) [][2]string) []sp.Entry {
	key := storetest.NewDevice(seed).Key
	var clock sp.Clock
	var out []sp.Entry
	now := storetest.Epoch
	for i, id := range recs {
		for _, f := range fields(i) {
			coll := "directory"
			v, err := sp.EncodeValue(f[1])
			if err != nil {
				panic(err)
			}
			out = append(out, sp.Entry{Collection: coll, Record: id, Field: f[0], Time: clock.Now(now), Kind: sp.KindValue, Value: v})
		}
		now = now.Add(time.Millisecond)
	}
	signAll(out, key)
	return out
}

func signAll(es []sp.Entry, key ed25519.PrivateKey) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(es); i += workers {
				es[i].Sign(key)
			}
		}()
	}
	wg.Wait()
}

var (
	services = [][2]string{
		{"Health Centre", "Centre de santé"}, {"Crisis Line", "Ligne de crise"},
		{"Women's Shelter", "Refuge pour femmes"}, {"Legal Aid", "Aide juridique"},
		{"Food Bank", "Banque alimentaire"}, {"Youth Centre", "Centre jeunesse"},
		{"Elders Council", "Conseil des aînés"}, {"Medical Travel", "Transport médical"},
		{"Emergency Fund", "Fonds d'urgence"}, {"Help Line", "Ligne d'écoute"},
		{"Wellness Program", "Programme de mieux-être"}, {"Counselling", "Counseling"},
	}
	communities = [][2]string{
		{"Iqaluit", "ᐃᖃᓗᐃᑦ"}, {"Pangnirtung", "ᐸᓐᓂᖅᑑᖅ"}, {"Igloolik", "ᐃᒡᓗᓕᒃ"}, {"Arviat", "ᐊᕐᕕᐊᑦ"},
		{"Rankin Inlet", "ᑲᖏᖅᖠᓂᖅ"}, {"Cambridge Bay", "ᐃᖃᓗᒃᑑᑦᑎᐊᖅ"}, {"Kugluktuk", "ᖁᕐᓗᖅᑐᖅ"},
		{"Pond Inlet", "ᒥᑦᑎᒪᑕᓕᒃ"}, {"Kuujjuaq", "ᑰᒃᔪᐊᖅ"}, {"Inukjuak", "ᐃᓄᒃᔪᐊᖅ"},
		{"Puvirnituq", "ᐳᕕᕐᓂᑐᖅ"}, {"Salluit", "ᓴᓪᓗᐃᑦ"}, {"Nain", "ᓇᐃᓐ"}, {"Hopedale", "ᐊᕝᕕᑕᒃ"},
		{"Inuvik", "ᐃᓄᕕᒃ"}, {"Tuktoyaktuk", "ᑐᒃᑐᔭᖅᑐᖅ"}, {"Baker Lake", "ᖃᒪᓂᑦᑐᐊᖅ"},
		{"Clyde River", "ᑲᖏᖅᖢᒑᐱᒃ"}, {"Gjoa Haven", "ᐅᖅᓱᖅᑑᖅ"}, {"Resolute", "ᖃᐅᓱᐃᑦᑐᖅ"},
	}
)

// directoryFields are the fields of generated directory record i.
func directoryFields(rng *rand.Rand) func(i int) [][2]string {
	return func(i int) [][2]string {
		svc := services[rng.IntN(len(services))]
		com := communities[rng.IntN(len(communities))]
		return [][2]string{
			{"name/en", fmt.Sprintf("%s %s %d", com[0], svc[0], i%97)},
			{"name/fr", fmt.Sprintf("%s de %s %s", svc[1], com[0], com[1])},
		}
	}
}

func randomIDs(rng *rand.Rand, n int) []sp.RecordID {
	ids := make([]sp.RecordID, n)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(rng.IntN(256))
		}
	}
	return ids
}

// BenchmarkApply applies pre-signed directory entries in batches of 1000.
// One op is one batch.
func BenchmarkApply(b *testing.B) {
	s := newStore(b, testOptions())
	rng := rand.New(rand.NewPCG(1, 1))
	all := signed(1, randomIDs(rng, b.N*500), directoryFields(rng))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ApplyVerified(ctx, all[i*1000:(i+1)*1000]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkGet reads single entries by hash from a store of 20,000.
func BenchmarkGet(b *testing.B) {
	s := newStore(b, testOptions())
	rng := rand.New(rand.NewPCG(2, 2))
	es := signed(2, randomIDs(rng, 10000), directoryFields(rng))
	for i := 0; i < len(es); i += 1000 {
		if _, err := s.ApplyVerified(ctx, es[i:min(i+1000, len(es))]); err != nil {
			b.Fatal(err)
		}
	}
	s = reopen(b, s) // read from tables, not the memtable
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := es[rng.IntN(len(es))].Hash()
		if _, err := s.Get(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// The search benchmark's store is built once per process, whatever b.N.
var bench struct {
	once sync.Once
	dir  string
	s    *Store
	err  error
}

const benchRecords = 100_000

func benchSearchStore(b *testing.B) *Store {
	bench.once.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "floe-bench-")
		if bench.err != nil {
			return
		}
		start := time.Now()
		var s *Store
		s, bench.err = Create(ctx, filepath.Join(bench.dir, "node"), testPass, testOptions())
		if bench.err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(3, 3))
		es := signed(3, randomIDs(rng, benchRecords), directoryFields(rng))
		signedAt := time.Now()
		for i := 0; i < len(es); i += 1000 {
			if _, bench.err = s.ApplyVerified(ctx, es[i:min(i+1000, len(es))]); bench.err != nil {
				return
			}
		}
		applied := time.Now()
		if bench.err = s.Close(); bench.err != nil {
			return
		}
		closed := time.Now()
		bench.s, bench.err = Open(ctx, s.Dir(), testPass, testOptions())
		size, _ := bench.s.Size()
		b.Logf("built %d records (%d entries): signing %v, applying %v, closing %v, opening %v (checks the seal); %d MiB on disk",
			benchRecords, len(es), signedAt.Sub(start).Round(time.Millisecond), applied.Sub(signedAt).Round(time.Millisecond),
			closed.Sub(applied).Round(time.Millisecond), time.Since(closed).Round(time.Millisecond), size>>20)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.s
}

func cleanupBench() {
	if bench.s != nil {
		bench.s.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

var benchQueries = []string{
	"iqaluit health", "crisis", "ligne écoute", "ᐃᖃᓗᐃᑦ", "shel", "food bank arviat",
	"centre de sante", "youth", "legal aid nain", "rankin", "ᑰᒃᔪᐊᖅ", "emergency fund kuujjuaq",
	"counsel", "pond inlet women", "aînés", "help line 42",
}

// BenchmarkSearch runs directory queries against 100,000 records and
// reports latency percentiles over the b.N queries.
func BenchmarkSearch(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100,000-record store; skipped with -short")
	}
	s := benchSearchStore(b)
	lat := make([]time.Duration, 0, b.N)
	hits := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := benchQueries[i%len(benchQueries)]
		t0 := time.Now()
		ids, err := s.Search(ctx, q, 20)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		hits += len(ids)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*50/100].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[min(len(lat)*99/100, len(lat)-1)].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(hits)/float64(b.N), "hits/query")
}

// BenchmarkOpen opens a node with the DEFAULT argon2id parameters: what a
// person waits for after typing the passphrase. "unlock" is the key
// derivation and unwrap alone.
func BenchmarkOpen(b *testing.B) {
	def := DefaultKDF()
	opts := testOptions()
	opts.KDF = &def
	dir := filepath.Join(b.TempDir(), "node")
	s, err := Create(ctx, dir, testPass, opts)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	if _, err := s.ApplyVerified(ctx, signed(4, randomIDs(rng, 500), directoryFields(rng))); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.Run("unlock", func(b *testing.B) {
		kf, _, err := readKeyFile(dir)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			if _, err := kf.unwrap(testPass, dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open-close", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(ctx, dir, testPass, opts)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
