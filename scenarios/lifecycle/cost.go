package lifecycle

import (
	"github.com/agentlab/agentlab/decide"
)

// ColdStart adds the per-round cold-start difference of spawn-docker over persistent-docker to the Docker cost
// analysis' input (the agent container's memory is the spawn decision's host memory per container: decide reads
// it there).
func (c *Comparison) ColdStart(in *decide.CostInput) {
	var spawn, persistent *PatternResult
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
