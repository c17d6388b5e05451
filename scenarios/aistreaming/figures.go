package aistreaming

import (
	"fmt"
	"strconv"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// The ai-streaming figures: what thresholds, compare, bench.txt and the CSV read from ai-streaming.json.
const (
	MetricPerTokenCPU scenario.Metric = "per_token_cpu_ms" // client CPU per token, one value per round
	MetricTTFTP95     scenario.Metric = "ttft_p95_ms"      // request → first text delta, p95
	MetricInterTokP99 scenario.Metric = "inter_token_p99_ms"
)

// Metrics are the ai-streaming metrics with their units.
func Metrics() map[scenario.Metric]scenario.Unit {
	return map[scenario.Metric]scenario.Unit{MetricPerTokenCPU: scenario.UnitMS, MetricTTFTP95: scenario.UnitMS,
		MetricInterTokP99: scenario.UnitMS}
}

// Figures lists the result's figures, run by run, then the short names of the decision's inputs.
func (s *Result) Figures() []scenario.Figure {
	fs := scenario.Figures{Scenario: "ai-streaming", Units: Metrics()}
	for _, run := range s.Runs {
		d := []scenario.Dim{{Key: "client", Value: run.Client}, {Key: "concurrent", Value: "c" + strconv.Itoa(run.Concurrent)},
			{Key: "delay", Value: fmt.Sprintf("d%gms", run.TokenDelayMS)}}
		fs.Add(d, MetricPerTokenCPU, run.PerTokenCPURounds...)
		fs.Add(d, MetricTTFTP95, run.TTFT.P95MS)
		fs.Add(d, MetricInterTokP99, run.InterToken.P99MS)
	}
	for _, in := range s.Decision.Inputs {
		if len(in.PerTokenMS) > 0 {
			fs.List = append(fs.List, scenario.Figure{Scenario: "ai-streaming", Dims: []scenario.Dim{{Key: "client", Value: in.Client}},
				Metric: MetricPerTokenCPU, Unit: scenario.UnitMS, Samples: in.PerTokenMS, Alias: true})
		}
	}
	return fs.List
}
