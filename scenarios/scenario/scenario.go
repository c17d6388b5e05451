// Package scenario is the small core every scenario family shares: the Scenario interface and its optional
// interfaces, Env, Outcome, the shared flags (Params), metric names and figures, and the container memory sampler.
// A scenario measures and returns typed results; its branch of the decision tree comes from package decide; the
// lab runner (lab/) owns flags, signals, cleanup and writing results. The core imports no family.
package scenario

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/agentlab/agentlab/decide"
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

// DockerSkipper is implemented by scenarios that can run a part of themselves without a Docker daemon
// (--skip-docker): WithoutDocker returns that part.
type DockerSkipper interface {
	WithoutDocker() Scenario
}

// Checker is implemented by scenarios with flags of their own to validate; the runner calls Check after
// ApplyQuick, and a failure is a usage error (exit 2).
type Checker interface {
	Check(p Params) error
}

// Quicker is implemented by scenarios whose --quick sizes differ from the defaults. set reports whether the user
// gave a flag explicitly: an explicit flag always wins over --quick.
type Quicker interface {
	ApplyQuick(p *Params, set func(flag string) bool)
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
	// Phase prefixes every progress line ("[2/4 bus-load] "): the full lab runs scenarios one after another.
	Phase string
}

// Progress starts a progress display for a phase of total steps.
func (e *Env) Progress(name string, total int) *progress.Bar {
	return progress.New(e.Log, e.TTY, e.Now, e.Phase+name, total)
}

// File is one results file: a typed result (a struct with JSON tags) written as results/<run-id>/<Name>.
type File struct {
	Name  string
	Value any
}

// Outcome is a scenario's result.
type Outcome struct {
	// Files are written in this order.
	Files []File
	// Report writes the human-readable tables (the same structs as Files, and the decisions).
	Report func(io.Writer) error
	// Decisions are this scenario's sections of the seed's decision tree, for final-report.json.
	Decisions decide.Decisions
	// Scenarios says, for a composed run (all), how each scenario ended; nil for a single scenario.
	Scenarios []decide.ScenarioRun
}

// ErrEnvironment marks a run that cannot start because of its environment (the live API unreachable); the
// runner exits 2 for it.
var ErrEnvironment = errors.New("environment")

// EnvError is an error that Is ErrEnvironment without its word in the message.
type EnvError struct{ Err error }

func (e EnvError) Error() string        { return e.Err.Error() }
func (e EnvError) Is(target error) bool { return target == ErrEnvironment }
func (e EnvError) Unwrap() error        { return e.Err }

// File returns the value of the results file name, if the outcome has one.
func (o *Outcome) File(name string) (any, bool) {
	for _, f := range o.Files {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}
