package report

import (
	"fmt"

	"github.com/agentlab/agentlab/scenarios/aistreaming"
)

// streaming adds the ai-streaming plot: decode cost per client.
func (ps *plotList) streaming(s *aistreaming.Result) {
	// Streaming decode cost per client.
	if s != nil {
		var labels []string
		var clients []string
		val := map[string]map[string]float64{}
		for _, run := range s.Runs {
			l := fmt.Sprintf("%d streams, %gms", run.Concurrent, run.TokenDelayMS)
			if !contains(labels, l) {
				labels = append(labels, l)
			}
			if !contains(clients, run.Client) {
				clients = append(clients, run.Client)
			}
			if val[run.Client] == nil {
				val[run.Client] = map[string]float64{}
			}
			val[run.Client][l] = run.PerTokenCPU.Estimate
		}
		var g []barGroup
		for _, c := range clients {
			bg := barGroup{Name: c}
			for _, l := range labels {
				bg.Values = append(bg.Values, val[c][l])
			}
			g = append(g, bg)
		}
		p, ok := barPlot("client CPU per token", "ms per token (log scale)", labels, g, true)
		ps.add("Streaming decode cost per client", "ai-streaming.json → runs[].per_token_cpu_ms (getrusage user+sys ÷ tokens, median over rounds)", p, ok)
	}
}
