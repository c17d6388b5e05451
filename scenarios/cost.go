package scenarios

import (
	"github.com/agentlab/agentlab/decide"
)

// CostInput gathers the figures of the seed's Docker cost analysis from the outcome's results (decide.Cost does the
// arithmetic): each bus's memory per connection at Test 2's agent count, and the per-round cold-start difference of
// spawn-docker over persistent-docker. One agent container's memory comes from the spawn decision itself.
func (o *Outcome) CostInput() decide.CostInput {
	var in decide.CostInput
	for _, f := range o.Files {
		switch v := f.Value.(type) {
		case busFile:
			in.Buses = append(in.Buses, busMemory(&v)...)
		case *busFile:
			in.Buses = append(in.Buses, busMemory(v)...)
		case *comparison:
			containerCost(v, &in)
		}
	}
	return in
}

// busMemory is the bus's memory per connection at the agent count Test 2 was decided at.
func busMemory(f *busFile) []decide.BusMemory {
	agents := 0
	if f.Decision != nil {
		agents = f.Decision.Agents
	}
	for _, s := range f.Summaries {
		iv, ok := s.Metrics[MetricMemPerConn]
		if ok && iv.N > 0 && (s.Agents == agents || agents == 0) {
			src := ""
			if f.Decision != nil {
				src = f.Decision.MemorySource
			}
			return []decide.BusMemory{{Bus: f.Bus.Name, PerConn: iv, Source: src, AgentCount: s.Agents}}
		}
	}
	return nil
}

// containerCost reads the cold-start difference from the lifecycle comparison (the agent container's memory is the
// spawn decision's host memory per container: decide reads it there).
func containerCost(c *comparison, in *decide.CostInput) {
	var spawn, persistent *patternResult
	for _, p := range c.Patterns {
		switch p.Name {
		case "spawn-docker":
			spawn = p
		case "persistent-docker":
			persistent = p
		}
	}
	if spawn == nil || persistent == nil {
		return
	}
	for i := 0; i < min(len(spawn.RoundMeanMS), len(persistent.RoundMeanMS)); i++ {
		s, p := spawn.RoundMeanMS[i], persistent.RoundMeanMS[i]
		if s > 0 && p > 0 {
			in.ColdStartMS = append(in.ColdStartMS, s-p)
			in.ColdStartRatio = append(in.ColdStartRatio, s/p)
		}
	}
}
