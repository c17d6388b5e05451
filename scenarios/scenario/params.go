package scenario

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
	Iterations int  `json:"iterations"`  // lifecycle: tasks per pattern; ai-streaming: streams per client and level
	Agents     int  `json:"agents"`      // lifecycle: persistent agents per pattern; bus-load, agent-messaging: agents
	TaskKiB    int  `json:"task_kib"`    // size of one task's (one turn's) work, KiB hashed
	Quick      bool `json:"quick"`       // reduced sizes
	SkipRust   bool `json:"skip_rust"`   // leave the Rust bus and client out
	SkipDocker bool `json:"skip_docker"` // run only what needs no Docker daemon
	// Explicit are the flags given on the command line: an explicit flag wins over --quick, also when the full
	// lab prepares each scenario's own copy of the parameters.
	Explicit []string      `json:"-"`
	CAdvisor bool          `json:"cadvisor"`        // run the cAdvisor sidecar where memory is measured
	Sample   time.Duration `json:"sample_interval"` // memory sampling interval

	// The buses' flags: bus-load and agent-messaging read them, each with its own --quick sizes.
	AgentsSet bool   `json:"agents_set"` // --agents was given: bus-load measures that one count instead of its sweep
	Bus       string `json:"bus"`        // comma-separated: go, go-netpoll, rust, rust-epoll, nats, node; both; all
	// BusImages are users' bus images (NAME=IMAGE[,port=8080][,args=...]) measured beside --bus (scenarios/buses).
	BusImages string `json:"bus_images,omitempty"`
	Repeat    int    `json:"repeat"` // interleaved repeats per bus and configuration
	// Faults: agent-messaging's faults to inject ("" none, "all"); ai-streaming: any value adds its fault runs.
	Faults string `json:"faults"`
	// Plant is --plant: faults planted on purpose (calibration; see Plant). Empty in a normal run.
	Plant Plant `json:"plant,omitzero"`
}

// MarshalJSON writes durations as Go duration strings, not nanoseconds.
func (p Params) MarshalJSON() ([]byte, error) {
	type plain Params
	return json.Marshal(struct {
		plain
		Sample string `json:"sample_interval"`
	}{plain(p), p.Sample.String()})
}

// Register defines the shared flags on fs, with their defaults; each family registers its own (see package
// scenarios' Params), and --help lists exactly these.
func (p *Params) Register(fs *flag.FlagSet) {
	fs.IntVar(&p.Iterations, "iterations", 100, "lifecycle: tasks per pattern (--quick: 20); ai-streaming: streams per client and concurrency level (--quick: 6)")
	fs.IntVar(&p.Agents, "agents", 10, "lifecycle: persistent agents per pattern (--quick: 3); bus-load: measure this one agent count instead of the sweep; agent-messaging: agents per bus (--quick: 6)")
	fs.IntVar(&p.TaskKiB, "task-kib", 64, "work per task (lifecycle) and per turn (agent-messaging): KiB of data hashed with SHA-256")
	fs.BoolVar(&p.Quick, "quick", false, "reduced sizes for a fast look")
	fs.BoolVar(&p.SkipRust, "skip-rust", false, "leave the Rust bus and the Rust streaming client out")
	fs.BoolVar(&p.SkipDocker, "skip-docker", false, "run only what needs no Docker daemon (all: spawn-process and persistent-process)")
	fs.BoolVar(&p.CAdvisor, "cadvisor", true, "sample container memory with a cAdvisor sidecar as well as Docker stats")
	fs.DurationVar(&p.Sample, "sample-interval", 100*time.Millisecond, "memory sampling interval")
	fs.StringVar(&p.Bus, "bus", "both", "bus-load: buses to measure, comma-separated: go, go-netpoll (gobus --transport=netpoll), rust, rust-epoll (Rust's best design), nats, node (Node.js, ws), both (go and rust; bus-load adds go-netpoll and rust-epoll, and NATS in the full run) or all; agent-messaging: go, rust, node or both")
	fs.StringVar(&p.BusImages, "bus-image", "", "bus-load, agent-messaging: NAME=IMAGE[,port=8080][,args=A B]: a user's bus image (docs/protocol.md) measured beside --bus under NAME")
	fs.IntVar(&p.Repeat, "repeat", 6, "bus-load: interleaved repeats per bus and configuration (6: the fewest a 95 % CI needs; --quick: 9 saturation, 6 open-model); agent-messaging: clean runs per bus and pattern (--quick: 2)")
	fs.Var(&p.Plant, "plant", "PLANTED FAULTS for calibration, not tuning: KEY=VALUE,... with leak-kib (agent, per task), startup-ms (agent), delay-ms and drop-every (the lab's buses: go, go-netpoll, rust, rust-epoll, node; not NATS or a --bus-image), burn-us (streaming clients, per token); the run is marked planted everywhere")
	fs.StringVar(&p.Faults, "faults", "", "agent-messaging: faults to inject: bus-restart,bus-pause,agent-disconnect,agent-kill or all (--quick: all); on a swarm (DOCKER_HOST a manager of lab cluster up) node-partition,node-lost, which all means there; ai-streaming: any value adds the 529, mid-stream-error and cut-connection runs")
}

// Check validates the flags every scenario shares; scenario-specific ones are each scenario's Check.
func (p Params) Check() error {
	for _, c := range []struct {
		name   string
		v, min int
	}{{"iterations", p.Iterations, 1}, {"agents", p.Agents, 1}, {"task-kib", p.TaskKiB, 0}} {
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
