package scenarios

import (
	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/scenarios/busload"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// CostInput gathers the figures of the seed's Docker cost analysis from an outcome's results (decide.Cost does the
// arithmetic): each bus's memory per connection at Test 2's agent count, and the per-round cold-start difference of
// spawn-docker over persistent-docker. One agent container's memory comes from the spawn decision itself.
func CostInput(o *scenario.Outcome) decide.CostInput {
	var in decide.CostInput
	for _, f := range o.Files {
		switch v := f.Value.(type) {
		case busload.File:
			in.Buses = append(in.Buses, v.CostMemory()...)
		case *busload.File:
			in.Buses = append(in.Buses, v.CostMemory()...)
		case *lifecycle.Comparison:
			v.ColdStart(&in)
		}
	}
	return in
}
