package sim_test

import (
	"context"
	"flag"
	"testing"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/sim"
	"github.com/floe-north/floe/store"
)

var (
	simSteps = flag.Int("sim.steps", 300, "steps per simulation")
	simNodes = flag.Int("sim.nodes", 4, "nodes per simulation")
	simSeeds = flag.Int("sim.seeds", 3, "how many seeds to run")
)

// The simulation at a small size: every run must end with all nodes on one
// state that holds every acknowledged write.
func TestSimulationConverges(t *testing.T) {
	for seed := 1; seed <= *simSeeds; seed++ {
		rep, err := sim.Run(context.Background(), sim.Config{
			Nodes: *simNodes, Steps: *simSteps, Seed: uint64(seed), Dir: t.TempDir(),
			Node: node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}},
		})
		if err != nil {
			t.Fatalf("seed %d: %v\n%+v", seed, err, rep)
		}
		t.Logf("seed %d: %+v", seed, rep)
		if rep.Writes == 0 || rep.Syncs == 0 || rep.Bundles == 0 {
			t.Errorf("seed %d did too little to prove anything: %+v", seed, rep)
		}
	}
}
