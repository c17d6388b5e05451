package busload

import (
	"slices"
	"strconv"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Figures lists the figures of bus-load's files (one per bus): every metric of every configuration over its
// repeats, and the short name of each — the open model (closed when the pattern ran only closed) at the agent count
// Test 2 was decided at.
func Figures(files []*File) []scenario.Figure {
	var out []scenario.Figure
	for _, f := range files {
		agents := 0
		if f.Decision != nil {
			agents = f.Decision.Agents
		}
		for _, s := range f.Summaries {
			k := cfgKey{s.Agents, s.Pattern, s.Model}
			var runs []*RunResult
			for _, run := range f.Runs {
				if run.Error == "" && run.Agents == k.agents && run.Pattern == k.pattern && run.Model == k.model {
					runs = append(runs, run)
				}
			}
			for _, m := range busMetrics {
				xs := values(runs, m)
				if len(xs) == 0 {
					continue
				}
				dims := []scenario.Dim{{Key: "bus", Value: f.Bus.Name}, {Key: "pattern", Value: s.Pattern},
					{Key: "model", Value: s.Model}, {Key: "agents", Value: strconv.Itoa(s.Agents)}}
				out = append(out, scenario.Figure{Scenario: "bus-load", Dims: dims, Metric: m.Name, Unit: m.Unit, Samples: xs})
				if s.Agents == agents && (s.Model == "open" || !slices.ContainsFunc(f.Summaries, func(o Summary) bool {
					return o.Agents == s.Agents && o.Pattern == s.Pattern && o.Model == "open"
				})) {
					out = append(out, scenario.Figure{Scenario: "bus-load", Dims: dims[:2], Metric: m.Name, Unit: m.Unit, Samples: xs, Alias: true})
				}
			}
		}
	}
	return out
}
