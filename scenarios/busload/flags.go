package busload

import (
	"encoding/json"
	"flag"
	"time"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Flags are bus-load's own flags (the shared ones — --agents, --bus, --repeat, --skip-rust — are in
// scenario.Params). Their JSON keys are final-report.json's parameters, flattened beside the shared ones.
type Flags struct {
	Rate        float64       `json:"rate"`         // open model: deliveries/s offered (0 = derived from saturation)
	Duration    time.Duration `json:"duration"`     // measured window per run
	Patterns    string        `json:"patterns"`     // comma-separated traffic patterns: targeted, broadcast, roundrobin
	Model       string        `json:"model"`        // open | closed | both
	Window      int           `json:"window"`       // closed model: most messages in flight per agent
	InFlight    int           `json:"inflight"`     // closed model: messages in flight over all agents
	Batch       int           `json:"batch"`        // closed model: slots a sender waits for and writes at once (0: the whole window)
	Generators  int           `json:"generators"`   // generator containers per run
	ConnectRate float64       `json:"connect_rate"` // new connections per second, all generators together
	BusCPUs     string        `json:"bus_cpus"`     // cpuset of the bus container
	GenCPUs     string        `json:"gen_cpus"`     // cpuset of the generator containers
	BusMemory   string        `json:"bus_memory"`   // memory limit of the bus container (Docker units: 1g, 512m)
	GenMemory   string        `json:"gen_memory"`   // memory limit of each generator container
	// OpenRepeat is the open-model runs' repeats when fewer than --repeat (0: --repeat). Not a flag: --quick sets
	// it (quickOpenRepeat) so that the saturation runs get more repeats than the latency runs need.
	OpenRepeat int `json:"open_repeat,omitempty"`
}

// MarshalJSON writes the duration as a Go duration string ("5s"), not nanoseconds.
func (f Flags) MarshalJSON() ([]byte, error) {
	type plain Flags
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(f), f.Duration.String()})
}

// Register defines bus-load's flags on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.Float64Var(&f.Rate, "rate", 0, "bus-load: open-model deliveries/s offered (0: half the slower bus's saturation throughput, lowered until the generator keeps headroom)")
	fs.DurationVar(&f.Duration, "duration", 5*time.Second, "bus-load: measured window per run (--quick: 2s)")
	fs.StringVar(&f.Patterns, "patterns", "targeted,broadcast,roundrobin", "bus-load: traffic patterns")
	fs.StringVar(&f.Model, "model", "both", "bus-load: open (fixed schedule), closed (saturation) or both")
	fs.IntVar(&f.Window, "window", 32, "bus-load: closed model, most messages in flight per agent")
	fs.IntVar(&f.Batch, "batch", 0, "bus-load: closed model, slots a sender waits for and writes with one syscall (0: the whole window)")
	fs.IntVar(&f.InFlight, "inflight", 3000, "bus-load: closed model, messages in flight over all agents (the saturation runs' concurrency)")
	fs.IntVar(&f.Generators, "generators", 1, "bus-load: load-generator containers per run")
	fs.Float64Var(&f.ConnectRate, "connect-rate", 1000, "bus-load: new connections per second")
	fs.StringVar(&f.BusCPUs, "bus-cpus", "0", "bus-load: cpuset of the bus container")
	fs.StringVar(&f.GenCPUs, "gen-cpus", "1", "bus-load: cpuset of the load-generator containers")
	fs.StringVar(&f.BusMemory, "bus-memory", "1g", "bus-load: memory limit of the bus container")
	fs.StringVar(&f.GenMemory, "gen-memory", "2g", "bus-load: memory limit of each load-generator container")
}

// Params are what bus-load reads: the shared flags and its own.
type Params struct {
	scenario.Params
	Flags
}

// Env is the scenario's environment with bus-load's parameters in place of the shared ones alone.
type Env struct {
	*scenario.Env
	Params Params
}
