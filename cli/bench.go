package cli

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

type benchCmd struct {
	entries  int
	merge    int
	searches int
	keep     bool
	cpuProf  string
	memProf  string

	sync benchSyncCmd  // floe bench sync
	fs   *flag.FlagSet // to tell which flags were given
}

func (*benchCmd) Name() string { return "bench" }
func (*benchCmd) Synopsis() string {
	return "measure import, merge, reads, search, unlock, memory and sync"
}
func (*benchCmd) Usage() string {
	return `Usage: floe bench [--entries N] [--merge N] [--searches N] [--dir DIR] [--keep] [--json]
       floe bench sync [flags]   (the reconciliation benchmark; below)

Builds a node from generated directory and outreach records (clearly
fictional) and measures, in this process:
  import   local writes (sign and apply), entries per second, and the peak
           resident memory while importing
  unlock   opening the node with the default argon2id parameters
  read     point reads of whole records, p50 and p99
  search   directory searches, p50 and p99
  merge    verifying and applying another node's entries, per second
  steady   resident memory after the import, once the node is reopened and
           has served reads and searches

Without --dir it works in a temporary directory and removes it. Figures for
docs/benchmarks.md come from this command; see that page for how.

Flags:
  --entries N    entries to import (default 1000000)
  --merge N      entries to merge into a second node (default 100000)
  --searches N   searches and point reads to time (default 2000)
  --dir DIR      work in DIR (must not hold a node yet); kept
  --keep         keep the temporary directory
  --cpuprofile F, --memprofile F   profiles of the import, for go tool pprof
` + benchSyncUsage
}
func (c *benchCmd) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.entries, "entries", 1_000_000, "entries to import")
	fs.IntVar(&c.merge, "merge", 100_000, "entries to merge into a second node")
	fs.IntVar(&c.searches, "searches", 2000, "searches and reads to time")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory")
	fs.StringVar(&c.cpuProf, "cpuprofile", "", "write a CPU profile of the import to this file")
	fs.StringVar(&c.memProf, "memprofile", "", "write a heap profile at the end of the import to this file")
	c.sync.Flags(fs)
	c.fs = fs
}

// BenchResult is what floe bench measures.
type BenchResult struct {
	Date          string  `json:"date"`
	GOOS          string  `json:"goos"`
	GOARCH        string  `json:"goarch"`
	CPUs          int     `json:"cpus"`
	Entries       uint64  `json:"entries"`
	ImportSeconds float64 `json:"import_seconds"`
	ImportPerSec  float64 `json:"import_entries_per_second"`
	PeakRSS       int64   `json:"peak_rss_bytes"`
	PeakAnon      int64   `json:"peak_anon_rss_bytes"`
	StoreBytes    int64   `json:"store_bytes"`
	UnlockMillis  float64 `json:"unlock_ms"`
	ReadP50Micros float64 `json:"read_p50_us"`
	ReadP99Micros float64 `json:"read_p99_us"`
	SearchP50     float64 `json:"search_p50_ms"`
	SearchP99     float64 `json:"search_p99_ms"`
	MergeEntries  int     `json:"merge_entries"`
	MergePerSec   float64 `json:"merge_entries_per_second"`
	SteadyRSS     int64   `json:"steady_rss_bytes"`
	SteadyAnon    int64   `json:"steady_anon_rss_bytes"`
}

const benchPassphrase = "bench passphrase"

func (c *benchCmd) Run(ctx context.Context, env *Env, args []string) (err error) {
	if len(args) > 0 && args[0] == "sync" {
		if err := checkBenchFlags(c.fs, true); err != nil {
			return err
		}
		return c.sync.Run(ctx, env, args[1:])
	}
	if err := checkBenchFlags(c.fs, false); err != nil {
		return err
	}
	if err := wantArgs(args, 0, "no arguments", "bench"); err != nil {
		return err
	}
	dir := env.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "floe-bench-"); err != nil {
			return err
		}
		if !c.keep {
			defer os.RemoveAll(dir)
		}
	}
	progress := func(format string, a ...any) {
		if !env.JSON {
			fmt.Fprintf(env.Err, format, a...)
		}
	}
	res := BenchResult{Date: time.Now().UTC().Format(time.DateOnly), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU()}
	opts := nodeOptions()
	opts.Audiences = []string{node.ShelterAudience} // the generated shelters have sealed locations
	path := filepath.Join(dir, "bench")
	n, err := node.Init(ctx, path, []byte(benchPassphrase), opts)
	if err != nil {
		return err
	}
	defer func() {
		if n != nil {
			n.Close()
		}
	}()

	if c.cpuProf != "" {
		f, err := os.Create(c.cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile() // on error paths; stopping twice is harmless
	}
	// Import: directory records first, then outreach, in batches.
	var sample []sp.RecordID
	var words []string
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	// Two importers, so that one signs a batch while the store applies
	// the other's: the way a spreadsheet or pack import runs.
	var batch [][]node.Change
	var coll string
	type job struct {
		coll string
		recs [][]node.Change
	}
	jobs := make(chan job, 1)
	var mu sync.Mutex
	var importErr error
	var workers sync.WaitGroup
	for range 2 {
		workers.Go(func() {
			for j := range jobs {
				ids, err := n.AddBatch(ctx, j.coll, j.recs)
				mu.Lock()
				if err != nil && importErr == nil {
					importErr = err
				}
				if err == nil && j.coll == node.Directory && len(sample) < 10000 {
					sample = append(sample, ids[len(ids)/2])
				}
				mu.Unlock()
			}
		})
	}
	flush := func() error {
		if len(batch) > 0 {
			jobs <- job{coll, batch}
			batch = nil
		}
		mu.Lock()
		defer mu.Unlock()
		return importErr
	}
	finished := false
	finish := func() error {
		if !finished {
			finished = true
			close(jobs)
			workers.Wait()
		}
		return importErr
	}
	defer finish()
	count := func() uint64 {
		st, _ := n.Status(ctx)
		return st.Entries
	}
	errEnough := fmt.Errorf("enough")
	add := func(r fieldkit.Record) error {
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			return err
		}
		if coll == node.Directory && len(words) < 500 && rng.IntN(50) == 0 {
			if v, ok := r.Fields["name/en"].(string); ok {
				words = append(words, v)
			}
		}
		batch = append(batch, ch)
		if len(batch) >= 200 {
			if err := flush(); err != nil {
				return err
			}
			if _, _, anon, ok := memoryStats(); ok {
				res.PeakAnon = max(res.PeakAnon, anon)
			}
			got := count()
			if got >= uint64(c.entries) {
				return errEnough
			}
			progress("\rimport: %d entries ", got)
		}
		return nil
	}
	coll = node.Directory
	if err := fieldkit.GenerateDirectory(1, max(1, c.entries/14), add); err != nil && err != errEnough {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	coll = node.Outreach
	if count() < uint64(c.entries) {
		if err := fieldkit.GenerateOutreach(2, c.entries, time.Now().AddDate(-1, 0, 0), add); err != nil && err != errEnough {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := finish(); err != nil {
		return err
	}
	res.ImportSeconds = time.Since(start).Seconds()
	if c.cpuProf != "" {
		pprof.StopCPUProfile()
	}
	if c.memProf != "" {
		f, err := os.Create(c.memProf)
		if err != nil {
			return err
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	res.Entries = count()
	res.ImportPerSec = float64(res.Entries) / res.ImportSeconds
	_, res.PeakRSS, _, _ = memoryStats()
	progress("\rimport: %d entries in %.1fs (%.0f/s), peak RSS %s (anonymous %s)\n", res.Entries, res.ImportSeconds, res.ImportPerSec, humanBytes(res.PeakRSS), humanBytes(res.PeakAnon))

	// Reopen with the default key derivation, as a person would.
	if err := n.Close(); err != nil {
		return err
	}
	n = nil
	runtime.GC()
	debug.FreeOSMemory()
	t0 := time.Now()
	n, err = node.Open(ctx, path, []byte(benchPassphrase), opts)
	if err != nil {
		return err
	}
	res.UnlockMillis = float64(time.Since(t0).Microseconds()) / 1000
	st, _ := n.Status(ctx)
	res.StoreBytes = st.StoreBytes

	var reads, searches []time.Duration
	for i := 0; i < c.searches && len(sample) > 0; i++ {
		id := sample[rng.IntN(len(sample))]
		t := time.Now()
		if _, err := n.Get(ctx, node.Directory, id, node.ReadOptions{}); err != nil {
			return err
		}
		reads = append(reads, time.Since(t))
	}
	queries := []string{"shelter", "health", "iqaluit", "clinique", "santé", "legal aid", "867-555", "ᐃᓄ", "transport baker", "funds"}
	for _, w := range words {
		queries = append(queries, w)
	}
	for i := 0; i < c.searches; i++ {
		q := queries[rng.IntN(len(queries))]
		t := time.Now()
		if _, err := n.Search(ctx, q, 20); err != nil {
			return err
		}
		searches = append(searches, time.Since(t))
	}
	res.ReadP50Micros, res.ReadP99Micros = pct(reads, 50)/1e3, pct(reads, 99)/1e3
	res.SearchP50, res.SearchP99 = pct(searches, 50)/1e6, pct(searches, 99)/1e6
	runtime.GC()
	debug.FreeOSMemory()
	res.SteadyRSS, _, res.SteadyAnon, _ = memoryStats()
	progress("unlock %.0f ms; read p50 %.0f µs p99 %.0f µs; search p50 %.2f ms p99 %.2f ms; steady RSS %s\n",
		res.UnlockMillis, res.ReadP50Micros, res.ReadP99Micros, res.SearchP50, res.SearchP99, humanBytes(res.SteadyRSS))

	// Merge: a second node verifies and applies entries from the first.
	if c.merge > 0 {
		var es []sp.Entry
		errFull := fmt.Errorf("full")
		err := n.Entries(ctx, func(e sp.Entry) error {
			es = append(es, e)
			if len(es) >= c.merge {
				return errFull
			}
			return nil
		})
		if err != nil && err != errFull {
			return err
		}
		inv, err := n.MakeInvite(node.InviteOptions{Role: node.RoleCoordinator, Areas: []string{"*:*"}})
		if err != nil {
			return err
		}
		oopts := opts
		oopts.Join = &inv
		other, err := node.Init(ctx, filepath.Join(dir, "other"), []byte(benchPassphrase), oopts)
		if err != nil {
			return err
		}
		t := time.Now()
		for lo := 0; lo < len(es); lo += 1000 {
			if _, err := other.Merge(ctx, es[lo:min(lo+1000, len(es))]); err != nil {
				other.Close()
				return err
			}
		}
		res.MergeEntries = len(es)
		res.MergePerSec = float64(len(es)) / time.Since(t).Seconds()
		other.Close()
		progress("merge: %d entries at %.0f/s\n", res.MergeEntries, res.MergePerSec)
	}
	if env.JSON {
		return printJSON(env.Out, res)
	}
	env.Printf("%-28s %d entries in %.1f s: %.0f entries/s\n", "import (sign and apply)", res.Entries, res.ImportSeconds, res.ImportPerSec)
	env.Printf("%-28s %s (anonymous, sampled: %s)\n", "peak RSS during import", humanBytes(res.PeakRSS), humanBytes(res.PeakAnon))
	env.Printf("%-28s %s\n", "store on disk", humanBytes(res.StoreBytes))
	env.Printf("%-28s %.0f ms\n", "unlock (argon2id + open)", res.UnlockMillis)
	env.Printf("%-28s p50 %.0f µs, p99 %.0f µs\n", "point read (whole record)", res.ReadP50Micros, res.ReadP99Micros)
	env.Printf("%-28s p50 %.2f ms, p99 %.2f ms\n", "directory search", res.SearchP50, res.SearchP99)
	env.Printf("%-28s %d entries: %.0f entries/s\n", "merge (verify and apply)", res.MergeEntries, res.MergePerSec)
	env.Printf("%-28s %s (anonymous: %s)\n", "steady RSS after reopen", humanBytes(res.SteadyRSS), humanBytes(res.SteadyAnon))
	return nil
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*p/100)].Nanoseconds())
}
