// Package scenarios holds the lab's scenarios, one file each, behind the Scenario interface and an explicit
// registry. A scenario measures; the lab runner owns flags, signals, cleanup and writing results.
package scenarios

import (
	"context"
	"errors"
	"io"
	"sort"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/progress"
)

// Scenario is one measurement.
type Scenario interface {
	// Name is the --scenario value.
	Name() string
	// Describe is one line for the scenario list.
	Describe() string
	// NeedsDocker says whether the runner must connect to a daemon first.
	NeedsDocker() bool
	// Run measures and returns what it found. On cancellation it returns the partial outcome together with
	// ctx.Err(), so interrupted runs keep their data.
	Run(ctx context.Context, env *Env) (*Outcome, error)
}

// Params are the knobs of a run: one flag set for the whole lab, as the seed had; each scenario reads its own.
type Params struct {
	Iterations  int           // tasks per lifecycle pattern
	Agents      int           // persistent agents per pattern; agents in bus scenarios
	Concurrency int           // tasks in flight at once per pattern
	TaskKiB     int           // size of one task's work, KiB hashed
	Rounds      int           // interleaved rounds in comparisons
	Warmup      int           // untimed tasks per pattern before measuring
	Quick       bool          // reduced sizes
	SkipRust    bool          // leave the Rust bus out
	CAdvisor    bool          // run the cAdvisor sidecar where memory is measured
	Sample      time.Duration // memory sampling interval

	// bus-load (see busload.go)
	AgentsSet   bool          // --agents was given: bus-load measures that one count instead of its sweep
	Bus         string        // go | rust | both
	Repeat      int           // interleaved repeats per bus and configuration
	Rate        float64       // open model: deliveries/s offered (0 = half the slower bus's saturation throughput)
	Duration    time.Duration // measured window per run
	Patterns    string        // comma-separated traffic patterns: targeted, broadcast, roundrobin
	Model       string        // open | closed | both
	Window      int           // closed model: messages in flight per agent
	Generators  int           // generator containers per run
	ConnectRate float64       // new connections per second, all generators together
	BusCPUs     string        // cpuset of the bus container
	GenCPUs     string        // cpuset of the generator containers
	BusMemory   string        // memory limit of the bus container (Docker units: 1g, 512m)
	GenMemory   string        // memory limit of each generator container
}

// Env is what a scenario may use. Everything is injected: no scenario reaches for globals.
type Env struct {
	RunID  string
	Params Params
	Docker *client.Client // nil unless NeedsDocker
	Images *images.Builder
	Log    io.Writer // progress and notes (stderr)
	TTY    bool      // Log is a terminal
	Now    func() time.Time
}

// Progress starts a progress display for a phase of total steps.
func (e *Env) Progress(name string, total int) *progress.Bar {
	return progress.New(e.Log, e.TTY, e.Now, name, total)
}

// Outcome is a scenario's result.
type Outcome struct {
	// Files are written as JSON to results/<run-id>/<key>.
	Files map[string]any
	// Report writes the human-readable table.
	Report func(io.Writer) error
	// Decisions are this scenario's branches of the seed's decision tree, keyed by section
	// ("spawn_patterns", "message_bus", ...), for final-report.json.
	Decisions map[string]any
}

// ErrUnknown is returned by Lookup for a name that is not registered.
var ErrUnknown = errors.New("unknown scenario")

// Registry maps scenario names to scenarios. It is built explicitly, not by init() side effects.
type Registry map[string]Scenario

// Default returns the lab's scenarios.
func Default() Registry {
	r := Registry{}
	for _, s := range []Scenario{
		SpawnProcess(),
		PersistentProcess(),
		SpawnDocker(),
		PersistentDocker(),
		Spawn(),
		BusLoad(),
	} {
		r[s.Name()] = s
	}
	return r
}

// Names returns the registered names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
