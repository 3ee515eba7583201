package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// benchSyncCmd is 'floe bench sync': the reconciliation benchmark. It is
// reached through benchCmd, which registers its flags and hands off when
// the first argument is "sync".
type benchSyncCmd struct {
	ns, ds, spreads, links string
	seed                   uint64
	markdown               bool
}

const benchSyncUsage = `
Usage: floe bench sync [--n LIST] [--d LIST] [--spread LIST] [--link LIST]
                       [--seed N] [--json | --markdown]

The reconciliation benchmark. For every n (entries both sides hold) and d
(entries only side A holds), it builds two synthetic sets of sync keys and
syncs them, B (the side that lacks the d entries, as a device coming back
online) calling A. The differences are either the newest d entries (an
offline catch-up) or d entries scattered at random through the order.

The sets are synthetic, with no database: sorted sync keys in memory and a
pool of 256 real signed directory entries that stands in for every entry
sent. Building 10^6 entries in real stores would take hours and measure the
store, not the protocol; wall times here leave out store reads and writes.

For each cell it prints the bytes each way (entries, short IDs and the rest
of the protocol apart), the round trips (counted in lockstep, independent of
the link), the wall time over each link, and the floor:
d × average entry size + d × 16 B. It marks each target:
  bytes    both ways together ≤ 1.15 × floor + 2 KiB
  d=0      one round trip and ≤ 200 B each way
  RT       round trips ≤ ⌈log16 n⌉ + 2
  goodput  on the emulated link, for d ≥ 10000: entry bytes delivered per
           second of the whole session ≥ 90% of the lesser of the link rate
           and the TCP loss bound MSS/RTT × 1.22/√p (MSS 1460)

Links: loopback is a real TCP connection on 127.0.0.1; satellite is the
emulated field link (600 ms RTT, 512 kbit/s, 1% loss; node/linkemu). A
satellite cell with d=10000 takes about a minute; the whole default grid
about seven minutes, nearly all on the emulated link. Progress goes to
standard error.

Flags:
  --n LIST       entries both sides hold (default 10000,100000,1000000)
  --d LIST       entries only A holds (default 0,1,100,10000)
  --spread LIST  newest, scattered (default both)
  --link LIST    loopback, satellite (default both)
  --seed N       seed for keys, entries, salt and losses (default 1)
  --json         one JSON document for scripts
  --markdown     a Markdown table for docs/benchmarks.md
`

// benchSyncFlagNames are the flags that belong to floe bench sync alone.
var benchSyncFlagNames = []string{"n", "d", "spread", "link", "seed", "markdown"}

func (c *benchSyncCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.ns, "n", "10000,100000,1000000", "floe bench sync: entries both sides hold")
	fs.StringVar(&c.ds, "d", "0,1,100,10000", "floe bench sync: entries only A holds")
	fs.StringVar(&c.spreads, "spread", "newest,scattered", "floe bench sync: where the differences lie")
	fs.StringVar(&c.links, "link", "loopback,satellite", "floe bench sync: links to run over")
	fs.Uint64Var(&c.seed, "seed", 1, "floe bench sync: random seed")
	fs.BoolVar(&c.markdown, "markdown", false, "floe bench sync: print a Markdown table")
}

// flagsGiven returns the names of the flags given on the command line.
func flagsGiven(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	if fs != nil {
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	}
	return set
}

// checkBenchFlags refuses flags given to the wrong one of floe bench and
// floe bench sync.
func checkBenchFlags(fs *flag.FlagSet, syncMode bool) error {
	own := map[string]bool{}
	for _, n := range benchSyncFlagNames {
		own[n] = true
	}
	for name := range flagsGiven(fs) {
		switch {
		case syncMode && !own[name] && name != "json":
			return usagef("run 'floe bench --help'", "--%s is a flag of floe bench, not of floe bench sync", name)
		case !syncMode && own[name]:
			return usagef("run 'floe bench sync --%s …'", "--%s is a flag of floe bench sync", name)
		}
	}
	return nil
}

// SyncBenchReport is what floe bench sync measures.
type SyncBenchReport struct {
	Date      string `json:"date"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Seed      uint64 `json:"seed"`
	// Initiator is the side that calls: B, the one that lacks entries.
	// Rows with d = 0 have spread "none".
	Initiator string `json:"initiator"`
	// GoodputTarget is 90% of the lesser of the emulated link's rate and
	// the TCP loss bound, in bits per second.
	GoodputTarget float64        `json:"goodput_target_bps"`
	Rows          []SyncBenchRow `json:"rows"`
}

// SyncBenchTraffic is one direction's bytes.
type SyncBenchTraffic struct {
	Payload  int64 `json:"payload"`
	IDs      int64 `json:"ids"`
	Protocol int64 `json:"protocol"`
	Frames   int64 `json:"frames"`
}

func (t SyncBenchTraffic) total() int64 { return t.Payload + t.IDs + t.Protocol }

// SyncBenchRow is one cell of the grid over one link.
type SyncBenchRow struct {
	Link   string `json:"link"`
	N      int    `json:"n"`
	D      int    `json:"d"`
	Spread string `json:"spread"`
	// AToB and BToA are what each side sent, from the session's counters,
	// over this link.
	AToB  SyncBenchTraffic `json:"a_to_b"`
	BToA  SyncBenchTraffic `json:"b_to_a"`
	Total int64            `json:"total_bytes"`
	// Received is how many entries B received and applied.
	Received uint64 `json:"entries_received"`
	// AvgEntry is the average encoded size of the entries sent.
	AvgEntry float64 `json:"avg_entry_bytes"`
	// Floor is d × AvgEntry + d × 16 B; Ratio is Total/Floor, absent when
	// the floor is zero.
	Floor      int64    `json:"floor_bytes"`
	Ratio      *float64 `json:"ratio,omitempty"`
	RoundTrips int      `json:"round_trips"`
	RTBound    int      `json:"round_trip_bound"`
	Wall       float64  `json:"wall_seconds"`
	// Goodput is the entry bytes B received per second of the whole
	// session, in bits per second (emulated link only).
	Goodput float64 `json:"goodput_bps,omitempty"`
	// Targets: absent where a target does not apply.
	BytesOK   *bool `json:"bytes_ok,omitempty"`
	HelloOK   *bool `json:"d0_ok,omitempty"`
	RTOK      *bool `json:"round_trips_ok,omitempty"`
	GoodputOK *bool `json:"goodput_ok,omitempty"`
}

// Sync benchmark constants.
const (
	syncBenchSlackBytes = 2 << 10 // the "+ 2 KB" of the bytes target
	syncBenchIDBytes    = 16      // per difference, in the floor
	syncBenchHelloBytes = 200     // d=0: at most this each way
	syncBenchGoodputD   = 10_000  // the goodput target applies from this d
	syncBenchPool       = 256     // distinct real entries behind the keys
)

func parseBenchInts(flagName, s string, lo int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "_", "")
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < lo || v > 10_000_000 {
			return nil, usagef("run 'floe bench --help'", "--%s: %q is not a whole number from %d to 10000000", flagName, f, lo)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, usagef("run 'floe bench --help'", "--%s is empty", flagName)
	}
	return out, nil
}

func parseBenchWords(flagName, s string, allowed ...string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || f == a
		}
		if !ok {
			return nil, usagef("run 'floe bench --help'", "--%s: %q is not one of %s", flagName, f, strings.Join(allowed, ", "))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, usagef("run 'floe bench --help'", "--%s is empty", flagName)
	}
	return out, nil
}

func (c *benchSyncCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "bench sync"); err != nil {
		return err
	}
	if c.markdown && env.JSON {
		return usagef("run 'floe bench --help'", "choose one of --json and --markdown")
	}
	ns, err := parseBenchInts("n", c.ns, 1)
	if err != nil {
		return err
	}
	ds, err := parseBenchInts("d", c.ds, 0)
	if err != nil {
		return err
	}
	spreads, err := parseBenchWords("spread", c.spreads, "newest", "scattered")
	if err != nil {
		return err
	}
	links, err := parseBenchWords("link", c.links, "loopback", "satellite")
	if err != nil {
		return err
	}
	rep := SyncBenchReport{Date: time.Now().UTC().Format(time.DateOnly), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPU: benchCPUModel(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Seed: c.seed, Initiator: "B",
		GoodputTarget: 0.9 * syncGoodputBound(linkemu.Satellite)}
	progress := func(format string, a ...any) { fmt.Fprintf(env.Err, format, a...) }
	pool := syncBenchEntries(c.seed)
	maxD := 0
	for _, d := range ds {
		maxD = max(maxD, d)
	}
	for _, n := range ns {
		progress("bench sync: making %d keys\n", n+maxD)
		all := syncBenchKeys(c.seed, n+maxD)
		for _, d := range ds {
			for si, spread := range spreads {
				if d == 0 {
					// With no differences the spreads are one and the same.
					if si > 0 {
						break
					}
					spread = "none"
				}
				a, b := syncBenchSides(all[:n+d], n, d, spread, c.seed)
				cell := syncBenchCell{n: n, d: d, spread: spread, a: a, b: b, pool: pool, seed: c.seed}
				cell.salt = syncBenchSalt(c.seed, n, d)
				rt, err := cell.lockstep()
				if err != nil {
					return fmt.Errorf("n=%d d=%d %s, in lockstep: %w", n, d, spread, err)
				}
				for _, link := range links {
					if err := ctx.Err(); err != nil {
						return err
					}
					progress("bench sync: %-9s n=%-7d d=%-5d %-9s ", link, n, d, spread)
					row, err := cell.drive(ctx, link)
					if err != nil {
						progress("\n")
						return fmt.Errorf("n=%d d=%d %s over %s: %w", n, d, spread, link, err)
					}
					row.RoundTrips = rt
					judgeSyncRow(&row, rep.GoodputTarget)
					progress("%s total, %d RT, %.2f s\n", benchBytes(row.Total), row.RoundTrips, row.Wall)
					rep.Rows = append(rep.Rows, row)
				}
			}
		}
		all = nil
		runtime.GC()
	}
	switch {
	case env.JSON:
		return printJSON(env.Out, rep)
	case c.markdown:
		return printSyncMarkdown(env.Out, &rep)
	}
	return printSyncTable(env.Out, &rep)
}

// syncBenchKeys makes count distinct sync keys in order: times one
// millisecond apart, random hashes.
func syncBenchKeys(seed uint64, count int) []sp.SyncKey {
	rng := rand.New(rand.NewPCG(seed, 0x73796e636b657973))
	base := uint64(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC).UnixMilli())
	keys := make([]sp.SyncKey, count)
	var h sp.EntryHash
	for i := range keys {
		for j := 0; j < len(h); j += 8 {
			binary.LittleEndian.PutUint64(h[j:], rng.Uint64())
		}
		keys[i] = sp.MakeSyncKey(sp.MakeHLC(base+uint64(i), 0), h)
	}
	return keys
}

// syncBenchSides splits all (n+d sorted keys) into A, which holds them
// all, and B, which lacks d of them: the newest d, or d chosen uniformly
// at random.
func syncBenchSides(all []sp.SyncKey, n, d int, spread string, seed uint64) (a, b []sp.SyncKey) {
	if spread == "newest" || d == 0 {
		return all, all[:n]
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)<<32|uint64(d)))
	lack := make([]bool, len(all))
	for k := 0; k < d; {
		i := rng.IntN(len(all))
		if !lack[i] {
			lack[i] = true
			k++
		}
	}
	b = make([]sp.SyncKey, 0, n)
	for i := range all {
		if !lack[i] {
			b = append(b, all[i])
		}
	}
	return all, b
}

func syncBenchSalt(seed uint64, n, d int) sp.Salt {
	rng := rand.New(rand.NewPCG(seed^0x73616c74, uint64(n)<<32|uint64(d)))
	var s sp.Salt
	binary.LittleEndian.PutUint64(s[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(s[8:], rng.Uint64())
	return s
}

// syncBenchEntries is the pool of real signed directory entries whose
// encodings stand in for every entry sent: names, phone numbers, hours and
// notes, 20 to 120 bytes of text each.
func syncBenchEntries(seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x656e7472696573))
	var ks [ed25519.SeedSize]byte
	binary.LittleEndian.PutUint64(ks[:], seed)
	key := ed25519.NewKeyFromSeed(ks[:])
	places := []string{"Kugluktuk", "Gjoa Haven", "Pangnirtung", "Arviat", "Kuujjuaq", "Inuvik", "Fort Good Hope", "Baker Lake", "Igloolik", "Old Crow", "Puvirnituq", "Cambridge Bay"}
	kinds := []string{"Health Centre", "Women's Shelter", "Legal Aid Clinic", "Youth Drop-in", "Elders' Programme", "Food Bank", "Mental Health Line", "Housing Office", "Family Resource Centre", "Addictions Outreach"}
	notes := []string{
		"Walk-in Tuesday and Thursday afternoons; call ahead when the road is closed.",
		"Interpreters for Inuktitut and Inuinnaqtun on request. Bring your health card if you have it.",
		"Fictional listing for testing. Open to all ages; no referral needed.",
		"Closed during the spring hunt; the nurse on call covers emergencies at the nursing station, 24 hours a day.",
		"Free, confidential. Transport can be arranged for people from the outlying camps.",
	}
	hours := []string{"Mon–Fri 9:00–17:00", "Daily 10:00–22:00", "Tue, Thu 13:00–16:30; Sat 10:00–12:00", "24 hours, every day of the year"}
	base := uint64(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC).UnixMilli())
	pool := make([][]byte, syncBenchPool)
	for i := range pool {
		var rec sp.RecordID
		binary.LittleEndian.PutUint64(rec[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(rec[8:], rng.Uint64()|1)
		place, kind := places[rng.IntN(len(places))], kinds[rng.IntN(len(kinds))]
		var field, text string
		switch i % 4 {
		case 0:
			field, text = "name/en", place+" "+kind
		case 1:
			field, text = "phone", fmt.Sprintf("+1 867-555-%04d", rng.IntN(10000))
		case 2:
			field, text = "hours/en", hours[rng.IntN(len(hours))]
		default:
			field, text = "notes/en", place+" "+kind+". "+notes[rng.IntN(len(notes))]
		}
		if len(text) > 120 {
			text = text[:120]
		}
		val, err := sp.EncodeValue(text)
		if err != nil {
			panic("bug: encoding a benchmark value: " + err.Error())
		}
		e := sp.Entry{Collection: node.Directory, Record: rec, Field: field, Time: sp.MakeHLC(base+uint64(i), 0), Kind: sp.KindValue, Value: val}
		e.Sign(key)
		pool[i] = e.Encode()
	}
	return pool
}

// benchPoolSource stands in for a store: any key reads as one of the pool's
// entries, in the directory lane.
type benchPoolSource [][]byte

var _ sp.EntrySource = benchPoolSource(nil)

func (p benchPoolSource) LoadEntry(k sp.SyncKey) ([]byte, sp.Lane, error) {
	return p[binary.LittleEndian.Uint64(k[8:16])%uint64(len(p))], sp.LaneDirectory, nil
}

// syncBenchCell is one (n, d, spread) of the grid.
type syncBenchCell struct {
	n, d   int
	spread string
	a, b   []sp.SyncKey
	pool   [][]byte
	salt   sp.Salt
	seed   uint64
}

func benchDigest(keys []sp.SyncKey) sp.Digest {
	var d sp.Digest
	for i := range keys {
		d.Add(keys[i].Hash())
	}
	return d
}

// sessions makes fresh sessions for A (the responder) and B (the
// initiator, which lacks the d entries).
func (c *syncBenchCell) sessions() (a, b *sp.Session) {
	var network sp.NetworkID
	copy(network[:], "floe bench sync")
	var ida, idb sp.DeviceID
	ida[0], idb[0] = 'A', 'B'
	src := benchPoolSource(c.pool)
	a = sp.NewSession(sp.SessionConfig{Network: network, Local: ida, Digest: benchDigest(c.a), Source: src,
		Keys: func() ([]sp.SyncKey, error) { return c.a, nil }})
	b = sp.NewSession(sp.SessionConfig{Initiator: true, Network: network, Local: idb, Salt: c.salt, Digest: benchDigest(c.b), Source: src,
		Keys: func() ([]sp.SyncKey, error) { return c.b, nil }})
	b.Start()
	return a, b
}

func benchCountApply(n *uint64) func([]sp.Entry) error {
	return func(es []sp.Entry) error { *n += uint64(len(es)); return nil }
}

// heldNone adapts an apply function that keeps everything to node.Drive.
func heldNone(apply func([]sp.Entry) error) func([]sp.Entry) (int, error) {
	return func(es []sp.Entry) (int, error) { return 0, apply(es) }
}

// lockstep counts the round trips, whatever the link.
func (c *syncBenchCell) lockstep() (int, error) {
	a, b := c.sessions()
	var na, nb uint64
	res, err := sp.Lockstep(a, b, benchCountApply(&na), benchCountApply(&nb), sp.LockstepOptions{})
	if err != nil {
		return 0, err
	}
	if nb != uint64(c.d) || na != 0 {
		return 0, fmt.Errorf("bug: B received %d entries and A %d; want %d and 0", nb, na, c.d)
	}
	return res.RoundTrips(), nil
}

// drive runs fresh sessions over a link and measures them.
func (c *syncBenchCell) drive(ctx context.Context, link string) (SyncBenchRow, error) {
	row := SyncBenchRow{Link: link, N: c.n, D: c.d, Spread: c.spread, RTBound: syncRTBound(c.n)}
	var ca, cb net.Conn
	switch link {
	case "loopback":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return row, err
		}
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			acc <- c
		}()
		cb, err = net.Dial("tcp", l.Addr().String())
		if err != nil {
			l.Close()
			<-acc
			return row, err
		}
		ca = <-acc
		l.Close()
		if ca == nil {
			cb.Close()
			return row, errors.New("the loopback listener accepted no connection")
		}
	case "satellite":
		p := linkemu.Satellite
		p.Seed = int64(c.seed)
		ca, cb = linkemu.Pipe(p)
	}
	defer ca.Close()
	defer cb.Close()
	a, b := c.sessions()
	var na, nb uint64
	var errA, errB error
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { errA = node.Drive(ctx, ca, a, heldNone(benchCountApply(&na)), node.DriveOptions{}) })
	wg.Go(func() { errB = node.Drive(ctx, cb, b, heldNone(benchCountApply(&nb)), node.DriveOptions{}) })
	wg.Wait()
	row.Wall = time.Since(start).Seconds()
	if err := errors.Join(errA, errB); err != nil {
		return row, err
	}
	sa, sb := a.Stats(), b.Stats()
	row.AToB = benchTraffic(sa.Out)
	row.BToA = benchTraffic(sb.Out)
	row.Total = row.AToB.total() + row.BToA.total()
	row.Received = nb
	if nb != uint64(c.d) {
		return row, fmt.Errorf("bug: B received %d entries, want %d", nb, c.d)
	}
	if sa.Sent > 0 {
		row.AvgEntry = float64(sa.Out.Payload) / float64(sa.Sent)
	}
	row.Floor = int64(math.Round(float64(c.d)*row.AvgEntry)) + int64(c.d)*syncBenchIDBytes
	if row.Floor > 0 {
		r := float64(row.Total) / float64(row.Floor)
		row.Ratio = &r
	}
	if link == "satellite" && row.Wall > 0 {
		row.Goodput = float64(sb.In.Payload) * 8 / row.Wall
	}
	return row, nil
}

func benchTraffic(t sp.Traffic) SyncBenchTraffic {
	return SyncBenchTraffic{Payload: t.Payload, IDs: t.IDs, Protocol: t.Protocol, Frames: t.Frames}
}

// syncRTBound is ⌈log16 n⌉ + 2.
func syncRTBound(n int) int {
	k := 0
	for p := 1; p < n; p *= 16 {
		k++
	}
	return k + 2
}

// syncGoodputBound is the lesser of a link's rate and the TCP loss bound
// (Mathis et al.: MSS/RTT × 1.22/√p), in bits per second.
func syncGoodputBound(p linkemu.Profile) float64 {
	rate := float64(p.Bandwidth)
	if p.Loss <= 0 || p.Latency <= 0 {
		return rate
	}
	mathis := float64(linkemu.MSS*8) / (2 * p.Latency).Seconds() * 1.22 / math.Sqrt(p.Loss)
	if rate <= 0 {
		return mathis
	}
	return min(rate, mathis)
}

func judgeSyncRow(r *SyncBenchRow, goodputTarget float64) {
	yes := func(ok bool) *bool { return &ok }
	r.BytesOK = yes(float64(r.Total) <= 1.15*float64(r.Floor)+syncBenchSlackBytes)
	if r.D == 0 {
		r.HelloOK = yes(r.RoundTrips == 1 && r.AToB.total() <= syncBenchHelloBytes && r.BToA.total() <= syncBenchHelloBytes)
	}
	r.RTOK = yes(r.RoundTrips <= r.RTBound)
	if r.Link == "satellite" && r.D >= syncBenchGoodputD {
		r.GoodputOK = yes(r.Goodput >= goodputTarget)
	}
}

// benchCPUModel is the processor's name from /proc/cpuinfo, if there is one.
func benchCPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// benchBytes writes a byte count in at most about six characters:
// 812, 12.4K, 2.31M (K = 1024 B).
func benchBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0fK", float64(n)/(1<<10))
	case n >= 10000:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10)
}

func (t SyncBenchTraffic) compact() string {
	return benchBytes(t.Payload) + "/" + benchBytes(t.IDs) + "/" + benchBytes(t.Protocol)
}

func benchCount(n int) string {
	switch n {
	case 10_000:
		return "10^4"
	case 100_000:
		return "10^5"
	case 1_000_000:
		return "10^6"
	}
	return strconv.Itoa(n)
}

func (r *SyncBenchRow) spreadText() string {
	if r.Spread == "none" {
		return "—"
	}
	return r.Spread
}

func (r *SyncBenchRow) ratioText() string {
	if r.Ratio == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", *r.Ratio)
}

func (r *SyncBenchRow) goodputText() string {
	if r.Link != "satellite" || r.D == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0fk", r.Goodput/1000)
}

func benchWall(s float64) string {
	if s < 0.01 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.1f s", s)
}

// marks lists the targets a row meets and misses: "bytes ✓ RT ✗".
func (r *SyncBenchRow) marks(pass, miss string) string {
	var parts []string
	add := func(name string, ok *bool) {
		if ok == nil {
			return
		}
		m := pass
		if !*ok {
			m = miss
		}
		parts = append(parts, name+" "+m)
	}
	add("bytes", r.BytesOK)
	add("d=0", r.HelloOK)
	add("RT", r.RTOK)
	add("goodput", r.GoodputOK)
	return strings.Join(parts, " ")
}

func printSyncHeader(w io.Writer, rep *SyncBenchReport) {
	fmt.Fprintf(w, "floe bench sync, %s: %s, %d cores, %s/%s, %s; seed %d\n", rep.Date, rep.CPU, rep.CPUs, rep.GOOS, rep.GOARCH, rep.GoVersion, rep.Seed)
	fmt.Fprintf(w, "Synthetic sets, no database: sync keys in memory and a pool of %d real signed entries.\n", syncBenchPool)
	fmt.Fprintf(w, "B (which lacks the d entries) calls A. Bytes are payload/IDs/protocol; K = 1024 B.\n")
	fmt.Fprintf(w, "Floor = d × average entry + d × 16 B. Targets: bytes ≤ 1.15 × floor + 2 KiB; d=0: 1 RT and ≤ 200 B each way;\n")
	fmt.Fprintf(w, "RT ≤ ⌈log16 n⌉ + 2; satellite goodput for d ≥ %d ≥ %.0f kbit/s (90%% of min(link rate, Mathis bound)).\n\n", syncBenchGoodputD, rep.GoodputTarget/1000)
}

func printSyncTable(w io.Writer, rep *SyncBenchReport) error {
	printSyncHeader(w, rep)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "link\tn\td\tspread\tA→B\tB→A\ttotal\tfloor\tratio\tRT\t≤RT\twall\tgoodput\ttargets")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Link, benchCount(r.N), r.D, r.spreadText(),
			r.AToB.compact(), r.BToA.compact(), benchBytes(r.Total), benchBytes(r.Floor), r.ratioText(),
			r.RoundTrips, r.RTBound, benchWall(r.Wall), r.goodputText(), r.marks("ok", "MISS"))
	}
	return tw.Flush()
}

func printSyncMarkdown(w io.Writer, rep *SyncBenchReport) error {
	fmt.Fprintf(w, "**Machine**: %s, %d cores, %s/%s, %s. **Date**: %s. **Seed**: %d.\n\n", rep.CPU, rep.CPUs, rep.GOOS, rep.GOARCH, rep.GoVersion, rep.Date, rep.Seed)
	fmt.Fprintln(w, "| link | n | d | spread | A→B payload / IDs / protocol | B→A payload / IDs / protocol | total | floor | total/floor | RT (bound) | wall | goodput, kbit/s | targets |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d (%d) | %s | %s | %s |\n", r.Link, benchCount(r.N), r.D, r.spreadText(),
			r.AToB.compact(), r.BToA.compact(), benchBytes(r.Total), benchBytes(r.Floor), r.ratioText(),
			r.RoundTrips, r.RTBound, benchWall(r.Wall), strings.TrimSuffix(r.goodputText(), "k"), r.marks("✓", "✗"))
	}
	return nil
}
