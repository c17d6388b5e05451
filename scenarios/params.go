package scenarios

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"time"
)

// Params are the knobs of a run: one flag set for the whole lab, as the seed had; each scenario reads its own,
// validates them (Checker) and sets its --quick sizes (Quicker). In final-report.json durations are strings
// ("100ms", "5s").
type Params struct {
	Iterations  int  `json:"iterations"`  // tasks per lifecycle pattern
	Agents      int  `json:"agents"`      // persistent agents per pattern; agents in bus scenarios
	Concurrency int  `json:"concurrency"` // tasks in flight at once per pattern
	TaskKiB     int  `json:"task_kib"`    // size of one task's work, KiB hashed
	Rounds      int  `json:"rounds"`      // interleaved rounds in comparisons
	Warmup      int  `json:"warmup"`      // untimed tasks per pattern before measuring
	Quick       bool `json:"quick"`       // reduced sizes
	SkipRust    bool `json:"skip_rust"`   // leave the Rust bus out
	SkipDocker  bool `json:"skip_docker"` // run only what needs no Docker daemon
	// Explicit are the flags given on the command line: an explicit flag wins over --quick, also when the full
	// lab prepares each scenario's own copy of the parameters.
	Explicit []string      `json:"-"`
	CAdvisor bool          `json:"cadvisor"`        // run the cAdvisor sidecar where memory is measured
	Sample   time.Duration `json:"sample_interval"` // memory sampling interval

	// bus-load (see busload.go)
	AgentsSet   bool          `json:"agents_set"`   // --agents was given: bus-load measures that one count instead of its sweep
	Bus         string        `json:"bus"`          // go | go-netpoll | rust | nats | both | all
	Repeat      int           `json:"repeat"`       // interleaved repeats per bus and configuration
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

	// agent-messaging (see messaging.go)
	Conversations int    `json:"conversations"` // conversations per pattern
	Turns         int    `json:"turns"`         // turns per conversation (clean runs)
	Faults        string `json:"faults"`        // comma-separated faults to inject ("" none, "all")

	// ai-streaming (see aistreaming.go); --iterations is streams per client per concurrency level, --faults (any
	// value) adds the fault runs.
	Concurrent string        `json:"concurrent"`  // comma-separated concurrency levels (streams in flight)
	Mock       bool          `json:"mock"`        // use the mock API even when ANTHROPIC_API_KEY is set
	Tokens     int           `json:"tokens"`      // tokens per streamed response
	TokenDelay time.Duration `json:"token_delay"` // the realistic inter-token delay (runs at 0 too: the CPU-bound check)
}

// MarshalJSON writes durations as Go duration strings, not nanoseconds.
func (p Params) MarshalJSON() ([]byte, error) {
	type plain Params
	return json.Marshal(struct {
		plain
		Sample     string `json:"sample_interval"`
		Duration   string `json:"duration"`
		TokenDelay string `json:"token_delay"`
	}{plain(p), p.Sample.String(), p.Duration.String(), p.TokenDelay.String()})
}

// Register defines every flag on fs, with its default; --help lists exactly these.
func (p *Params) Register(fs *flag.FlagSet) {
	fs.IntVar(&p.Iterations, "iterations", 100, "tasks per lifecycle pattern (--quick: 20)")
	fs.IntVar(&p.Agents, "agents", 10, "persistent agents per pattern (--quick: 3); bus-load: measure this one agent count instead of the sweep")
	fs.IntVar(&p.Concurrency, "concurrency", 1, "tasks in flight at once per pattern")
	fs.IntVar(&p.TaskKiB, "task-kib", 64, "work per task: KiB of data hashed with SHA-256")
	fs.IntVar(&p.Rounds, "rounds", 10, "interleaved rounds: patterns alternate in blocks, order rotated (--quick: 6, the fewest a 95 % CI needs)")
	fs.IntVar(&p.Warmup, "warmup", 2, "untimed warm-up tasks per pattern")
	fs.BoolVar(&p.Quick, "quick", false, "reduced sizes for a fast look")
	fs.BoolVar(&p.SkipRust, "skip-rust", false, "leave the Rust bus out")
	fs.BoolVar(&p.SkipDocker, "skip-docker", false, "run only what needs no Docker daemon (all: spawn-process and persistent-process)")
	fs.BoolVar(&p.CAdvisor, "cadvisor", true, "sample container memory with a cAdvisor sidecar as well as Docker stats")
	fs.DurationVar(&p.Sample, "sample-interval", 100*time.Millisecond, "memory sampling interval")
	fs.StringVar(&p.Bus, "bus", "both", "bus-load: buses to measure: go, go-netpoll (gobus --transport=netpoll), rust, nats, both (go and rust) or all")
	fs.IntVar(&p.Repeat, "repeat", 6, "bus-load: interleaved repeats per bus and configuration (6: the fewest a 95 % CI needs; --quick: 2)")
	fs.Float64Var(&p.Rate, "rate", 0, "bus-load: open-model deliveries/s offered (0: half the slower bus's saturation throughput, lowered until the generator keeps headroom)")
	fs.DurationVar(&p.Duration, "duration", 5*time.Second, "bus-load: measured window per run (--quick: 2s)")
	fs.StringVar(&p.Patterns, "patterns", "targeted,broadcast,roundrobin", "bus-load: traffic patterns")
	fs.StringVar(&p.Model, "model", "both", "bus-load: open (fixed schedule), closed (saturation) or both")
	fs.IntVar(&p.Window, "window", 32, "bus-load: closed model, most messages in flight per agent")
	fs.IntVar(&p.Batch, "batch", 0, "bus-load: closed model, slots a sender waits for and writes with one syscall (0: the whole window)")
	fs.IntVar(&p.InFlight, "inflight", 3000, "bus-load: closed model, messages in flight over all agents (the saturation runs' concurrency)")
	fs.IntVar(&p.Generators, "generators", 1, "bus-load: load-generator containers per run")
	fs.Float64Var(&p.ConnectRate, "connect-rate", 1000, "bus-load: new connections per second")
	fs.StringVar(&p.BusCPUs, "bus-cpus", "0", "bus-load: cpuset of the bus container")
	fs.StringVar(&p.GenCPUs, "gen-cpus", "1", "bus-load: cpuset of the load-generator containers")
	fs.StringVar(&p.BusMemory, "bus-memory", "1g", "bus-load: memory limit of the bus container")
	fs.StringVar(&p.GenMemory, "gen-memory", "2g", "bus-load: memory limit of each load-generator container")
	fs.IntVar(&p.Conversations, "conversations", 5, "agent-messaging: conversations per pattern (--quick: 3)")
	fs.IntVar(&p.Turns, "turns", 100, "agent-messaging: turns per conversation (--quick: 50)")
	fs.StringVar(&p.Faults, "faults", "", "agent-messaging: faults to inject: bus-restart,bus-pause,agent-disconnect,agent-kill or all (--quick: all); ai-streaming: any value adds the 529, mid-stream-error and cut-connection runs")
	fs.StringVar(&p.Concurrent, "concurrent", "1,10,100,1000", "ai-streaming: concurrency levels, streams in flight (--quick: 1,10)")
	fs.BoolVar(&p.Mock, "mock", false, "ai-streaming: use the mock API (the default when ANTHROPIC_API_KEY is unset)")
	fs.IntVar(&p.Tokens, "tokens", 100, "ai-streaming: tokens per streamed response (--quick: 50)")
	fs.DurationVar(&p.TokenDelay, "token-delay", 20*time.Millisecond, "ai-streaming: realistic inter-token delay; every level also runs at 0 (decoder-bound)")
}

// Check validates the flags every scenario shares; scenario-specific ones are each scenario's Check.
func (p Params) Check() error {
	for _, c := range []struct {
		name   string
		v, min int
	}{{"iterations", p.Iterations, 1}, {"agents", p.Agents, 1}, {"concurrency", p.Concurrency, 1},
		{"task-kib", p.TaskKiB, 0}, {"rounds", p.Rounds, 1}, {"warmup", p.Warmup, 0}} {
		if c.v < c.min {
			return fmt.Errorf("--%s must be ≥ %d, got %d", c.name, c.min, c.v)
		}
	}
	if p.Sample <= 0 {
		return fmt.Errorf("--sample-interval must be > 0, got %v", p.Sample)
	}
	return nil
}

// IsSet reports whether flag was given explicitly (p.Explicit).
func (p Params) IsSet(flag string) bool { return slices.Contains(p.Explicit, flag) }

// Resolve returns the scenario to run for p: with --skip-docker, the part of sc that needs no daemon, or an error
// when sc has none.
func Resolve(sc Scenario, p Params) (Scenario, error) {
	if !p.SkipDocker || !sc.NeedsDocker() {
		return sc, nil
	}
	if ds, ok := sc.(DockerSkipper); ok {
		if out := ds.WithoutDocker(); !out.NeedsDocker() {
			return out, nil
		}
	}
	return nil, fmt.Errorf("--skip-docker: scenario %s needs a Docker daemon (without one: spawn-process, persistent-process, all)", sc.Name())
}

// Prepare applies sc's --quick sizes (when p.Quick) and validates p for sc: what the runner does before a run.
func Prepare(sc Scenario, p *Params, set func(flag string) bool) error {
	if q, ok := sc.(Quicker); ok && p.Quick {
		q.ApplyQuick(p, set)
	}
	if err := p.Check(); err != nil {
		return err
	}
	if c, ok := sc.(Checker); ok {
		return c.Check(*p)
	}
	return nil
}
