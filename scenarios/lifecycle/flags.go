package lifecycle

import (
	"flag"
	"fmt"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are the lifecycle family's own flags (the shared ones — --iterations, --agents, --task-kib — are in
// scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the shared ones.
type Flags struct {
	Concurrency int `json:"concurrency"` // tasks in flight at once per pattern
	Rounds      int `json:"rounds"`      // interleaved rounds in comparisons
	Warmup      int `json:"warmup"`      // untimed tasks per pattern before measuring
}

// Register defines the lifecycle flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Concurrency, "concurrency", 1, "lifecycle: tasks in flight at once per pattern")
	fs.IntVar(&f.Rounds, "rounds", 10, "lifecycle: interleaved rounds: patterns alternate in blocks, order rotated (--quick: 6, the fewest a 95 % CI needs)")
	fs.IntVar(&f.Warmup, "warmup", 2, "lifecycle: untimed warm-up tasks per pattern")
}

// check validates the lifecycle flags.
func (f Flags) check() error {
	for _, c := range []struct {
		name   string
		v, min int
	}{{"concurrency", f.Concurrency, 1}, {"rounds", f.Rounds, 1}, {"warmup", f.Warmup, 0}} {
		if c.v < c.min {
			return fmt.Errorf("--%s must be ≥ %d, got %d", c.name, c.min, c.v)
		}
	}
	return nil
}

// Params are what the lifecycle scenarios read: the shared flags and their own.
type Params struct {
	scenario.Params
	Flags
}

// Env is the scenario's environment with the lifecycle parameters in place of the shared ones alone.
type Env struct {
	*scenario.Env
	Params Params
}
