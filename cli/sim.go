package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/floe-north/floe/node/sim"
	"github.com/floe-north/floe/store"
)

// simCmd is `floe sim`: the convergence simulation at any size.
type simCmd struct {
	nodes, steps, seeds int
	seed                uint64
	keep                bool
}

func (*simCmd) Name() string { return "sim" }
func (*simCmd) Synopsis() string {
	return "simulate a network of nodes through cuts, crashes and partitions"
}
func (*simCmd) Usage() string {
	return `Usage: floe sim [--nodes N] [--steps N] [--seed S] [--seeds K] [--keep] [--json]

Runs N real nodes in a temporary directory through random writes
(concurrent edits of the same fields, deletions), syncs over links cut at
random bytes, random partitions, crashes and restarts, and bundles that
are duplicated, reordered, damaged, cut short or dropped. At the end the
partitions heal; every node must hold the same state, and that state must
hold every write any node acknowledged. Exit status 1 if not.

The same seed makes the same choices. --seeds K runs seeds S..S+K-1.
The nodes use a cheap key derivation: they are thrown away.
`
}
func (c *simCmd) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.nodes, "nodes", 6, "how many nodes")
	fs.IntVar(&c.steps, "steps", 2000, "how many random steps")
	fs.Uint64Var(&c.seed, "seed", 1, "the first seed")
	fs.IntVar(&c.seeds, "seeds", 1, "how many seeds to run")
	fs.BoolVar(&c.keep, "keep", false, "keep the node directories (printed)")
}
func (c *simCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "sim"); err != nil {
		return err
	}
	if c.nodes < 2 || c.steps < 1 || c.seeds < 1 {
		return usagef("floe sim --help", "want at least 2 nodes, 1 step and 1 seed")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	var reports []sim.Report
	for k := 0; k < c.seeds; k++ {
		seed := c.seed + uint64(k)
		dir, err := os.MkdirTemp("", "floe-sim-")
		if err != nil {
			return err
		}
		start := time.Now()
		opts := nodeOptions()
		opts.Store.KDF = &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}
		rep, err := sim.Run(ctx, sim.Config{Nodes: c.nodes, Steps: c.steps, Seed: seed, Dir: dir, Node: opts})
		if !c.keep {
			os.RemoveAll(dir)
		}
		if err != nil {
			return fmt.Errorf("seed %d: %w (rerun: floe sim --nodes %d --steps %d --seed %d)", seed, err, c.nodes, c.steps, seed)
		}
		reports = append(reports, rep)
		if !env.JSON {
			env.Printf("seed %d: converged in %s: %d nodes, %d entries, state %.12s\n", seed, time.Since(start).Round(time.Millisecond), c.nodes, rep.Entries, rep.StateHash)
			env.Printf("  %d writes (%d concurrent edits, %d deletions); %d syncs (%d cut); %d bundles (%d duplicated, %d held, %d damaged or cut, %d dropped); %d crashes, %d restarts, %d partitions; healed in %d rounds\n",
				rep.Writes, rep.ConcurrentEdits, rep.Deletes, rep.Syncs, rep.SyncsCut, rep.Bundles, rep.Duplicated, rep.Held, rep.Damaged, rep.Dropped, rep.Crashes, rep.Restarts, rep.Partitions, rep.HealRounds)
			if c.keep {
				env.Printf("  nodes kept in %s\n", dir)
			}
		}
	}
	if env.JSON {
		return printJSON(env.Out, reports)
	}
	return nil
}
