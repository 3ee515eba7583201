package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/soak"
	"github.com/floe-north/floe/store"
)

// soakCmd is `floe soak`: two nodes under a steady load for hours, to see
// memory and disk level off.
type soakCmd struct {
	duration, every              time.Duration
	writes, services, cutPercent int
	syncEvery, restartEvery      time.Duration
	backupEvery                  time.Duration
	keep                         bool
	seed                         uint64
}

func (*soakCmd) Name() string     { return "soak" }
func (*soakCmd) Synopsis() string { return "run two nodes under steady load and watch memory and disk" }
func (*soakCmd) Usage() string {
	return `Usage: floe soak [--duration D] [--every D] [--writes N] [--services N]
                 [--sync-every D] [--cut-percent P] [--restart-every D]
                 [--backup-every D] [--seed S] [--keep] [--json]

Runs two real nodes (a laptop and a hub) in a temporary directory for
--duration (default 1h) under a steady mix: edits of a fixed directory
of --services services, outreach contacts recorded and, once there are
200, the oldest deleted; a sync every --sync-every (default 10s), of
which --cut-percent (default 20) are cut at a random byte; a restart of
one node every --restart-every (default 5m); a backup of the laptop
every --backup-every (default 10m) into a folder that keeps the newest
3, as 'floe node run --backup-dir' does. Every --every (default 1m)
it prints the process's resident memory (all of it, and the anonymous
part: the heap), the two nodes' disk use and the laptop's entries.

At the end it syncs the two cleanly (they must agree) and compares the
last quarter of the run with the second: a ratio near 1.0 means the
figure levelled off. It exits 1 if memory or disk still grew by 25% or
more. The nodes use a cheap key derivation; they are thrown away unless
--keep.
`
}
func (c *soakCmd) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.duration, "duration", time.Hour, "how long to run")
	fs.DurationVar(&c.every, "every", time.Minute, "how often to sample")
	fs.IntVar(&c.writes, "writes", 20, "writes a second")
	fs.IntVar(&c.services, "services", 500, "services in the directory both nodes edit")
	fs.DurationVar(&c.syncEvery, "sync-every", 10*time.Second, "time between syncs")
	fs.IntVar(&c.cutPercent, "cut-percent", 20, "percent of syncs cut mid-way")
	fs.DurationVar(&c.restartEvery, "restart-every", 5*time.Minute, "time between restarts of a node")
	fs.DurationVar(&c.backupEvery, "backup-every", 10*time.Minute, "time between backups of the laptop (0: none)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.BoolVar(&c.keep, "keep", false, "keep the node directories")
}

func (c *soakCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "soak"); err != nil {
		return err
	}
	if c.duration <= 0 || c.every <= 0 || c.writes < 1 || c.services < 1 || c.cutPercent < 0 || c.cutPercent > 100 {
		return usagef("floe soak --help", "want a positive duration, interval, writes and services, and a cut percent from 0 to 100")
	}
	dir, err := os.MkdirTemp("", "floe-soak-")
	if err != nil {
		return err
	}
	if c.keep {
		env.Printf("nodes in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	opts := nodeOptions()
	opts.Store.KDF = &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}
	cfg := soak.Config{Dir: dir, Duration: c.duration, Every: c.every, Writes: c.writes, Services: c.services,
		SyncEvery: c.syncEvery, RestartEvery: c.restartEvery, CutPercent: c.cutPercent, Node: opts, Seed: c.seed,
		BackupEvery: c.backupEvery,
		Backup: func(ctx context.Context, n *node.Node, dir string) error {
			_, err := n.BackupInto(ctx, dir, 3)
			return err
		},
		Memory: func() (int64, int64, bool) { rss, _, anon, ok := memoryStats(); return rss, anon, ok }}
	if !env.JSON {
		env.Printf("%8s %10s %10s %10s %8s %7s %6s %5s %8s %7s\n", "elapsed", "rss", "anon", "disk", "entries", "writes", "syncs", "cuts", "restarts", "backups")
	}
	rep, err := soak.Run(ctx, cfg, func(s soak.Sample) {
		if !env.JSON {
			env.Printf("%8s %10s %10s %10s %8d %7d %6d %5d %8d %7d\n", s.Elapsed.Round(time.Second), mib(s.RSS), mib(s.Anon), mib(s.Disk),
				s.Entries, s.Writes, s.Syncs, s.Cuts, s.Restarts, s.Backups)
		}
	})
	if err != nil {
		return err
	}
	if env.JSON {
		if err := printJSON(env.Out, rep); err != nil {
			return err
		}
	} else {
		env.Printf("last quarter over second quarter: resident %.2f, anonymous %.2f, disk %.2f (1.00 is flat)\n", rep.RSSGrowth, rep.AnonGrowth, rep.DiskGrowth)
	}
	if len(rep.Samples) >= 8 && !rep.LevelsOff {
		return fmt.Errorf("memory or disk still grew by %.0f%% or more over the run", (soak.Flat-1)*100)
	}
	if !env.JSON {
		if len(rep.Samples) < 8 {
			env.Printf("too few samples to judge the trend (run longer, or sample more often)\n")
		} else {
			env.Printf("memory and disk levelled off\n")
		}
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
