// Package scenarios is the only package that names every scenario family: the explicit registry, the full lab
// (all), the lab's flags (the shared ones and each family's), and the read-back of a results folder (results,
// figures, the cost analysis' inputs). The families live in their own packages — lifecycle (Test 3), busload
// (Test 2), aistreaming (Test 4), messaging (Test 5) — on the small core in scenarios/scenario.
package scenarios

import (
	"errors"
	"sort"

	"github.com/agentlab/agentlab/scenarios/aistreaming"
	"github.com/agentlab/agentlab/scenarios/busload"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"github.com/agentlab/agentlab/scenarios/messaging"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// ErrUnknown is returned for a scenario name that is not registered.
var ErrUnknown = errors.New("unknown scenario")

// Registry maps scenario names to scenarios, each family bound to its flags in Params (the lab's one flag set).
// It is built explicitly, not by init() side effects.
type Registry struct {
	Params *Params
	byName map[string]scenario.Scenario
}

// Default returns the lab's scenarios, bound to a new Params: register its flags, parse, then run.
func Default() Registry {
	p := new(Params)
	r := Registry{Params: p, byName: map[string]scenario.Scenario{}}
	r.add(
		lifecycle.SpawnProcess(&p.Lifecycle),
		lifecycle.PersistentProcess(&p.Lifecycle),
		lifecycle.SpawnDocker(&p.Lifecycle),
		lifecycle.PersistentDocker(&p.Lifecycle),
		lifecycle.Spawn(&p.Lifecycle),
		busload.New(&p.BusLoad),
		aistreaming.New(&p.AIStreaming),
		messaging.New(&p.Messaging),
	)
	// The full lab, composed from the registry: the seed's run-all.sh order.
	r.add(All(r.byName["spawn"], r.byName["bus-load"], r.byName["ai-streaming"], r.byName["agent-messaging"]))
	return r
}

// NewRegistry is a registry of the given scenarios over p (tests: fakes beside the real ones).
func NewRegistry(p *Params, scs ...scenario.Scenario) Registry {
	r := Registry{Params: p, byName: map[string]scenario.Scenario{}}
	r.add(scs...)
	return r
}

func (r Registry) add(scs ...scenario.Scenario) {
	for _, s := range scs {
		r.byName[s.Name()] = s
	}
}

// Lookup returns the scenario called name.
func (r Registry) Lookup(name string) (scenario.Scenario, bool) {
	s, ok := r.byName[name]
	return s, ok
}

// Names returns the registered names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
