package lifecycle

import (
	"flag"
	"fmt"
	"time"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are the lifecycle family's own flags (the shared ones — --iterations, --agents, --task-kib — are in
// scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the shared ones.
type Flags struct {
	Concurrency int `json:"concurrency"` // tasks in flight at once per pattern
	Rounds      int `json:"rounds"`      // interleaved rounds in comparisons
	Warmup      int `json:"warmup"`      // untimed tasks per pattern before measuring
	// Soak is --soak: steady load on the persistent patterns for this long after the rounds, the memory verdict
	// fitted over it (soak.go); 0 = none. SoakRate is its tasks per second per pattern.
	Soak     time.Duration `json:"soak,omitempty"`
	SoakRate float64       `json:"soak_rate,omitempty"`
}

// Register defines the lifecycle flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Concurrency, "concurrency", 1, "lifecycle: tasks in flight at once per pattern")
	fs.IntVar(&f.Rounds, "rounds", 10, "lifecycle: interleaved rounds: patterns alternate in blocks, order rotated (--quick: 6, the fewest a 95 % CI needs)")
	fs.IntVar(&f.Warmup, "warmup", 2, "lifecycle: untimed warm-up tasks per pattern")
	fs.DurationVar(&f.Soak, "soak", 0, "lifecycle: after the rounds, steady load on the persistent patterns for this long (e.g. 10m), memory sampled through it: the stability verdict with its growth fit and detection limit (≥ 4m can show \"stable\")")
	fs.Float64Var(&f.SoakRate, "soak-rate", 20, "lifecycle: --soak's tasks per second per persistent pattern")
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
	if f.Soak < 0 || (f.Soak > 0 && (f.SoakRate <= 0 || f.SoakRate > 10_000)) {
		return fmt.Errorf("--soak must be ≥ 0 and --soak-rate in (0, 10000], got %v and %v", f.Soak, f.SoakRate)
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
