package lifecycle

import (
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// The lifecycle figures: what thresholds, compare, bench.txt and the CSV read from spawn-comparison.json.
const (
	MetricTimeMean   scenario.Metric = "time_mean_ms" // mean time per task, one value per interleaved round
	MetricTimeP50    scenario.Metric = "time_p50_ms"  // time per task p50 (HDR, all rounds pooled)
	MetricTimeP95    scenario.Metric = "time_p95_ms"  // p95
	MetricTimeP99    scenario.Metric = "time_p99_ms"  // p99
	MetricOpsPerS    scenario.Metric = "ops_per_s"    // tasks ÷ timed wall time
	MetricSavingsPct scenario.Metric = "savings_pct"  // 100·(1 − fast/slow) per round
)

// Metrics are the lifecycle metrics with their units.
func Metrics() map[scenario.Metric]scenario.Unit {
	return map[scenario.Metric]scenario.Unit{MetricTimeMean: scenario.UnitMS, MetricTimeP50: scenario.UnitMS,
		MetricTimeP95: scenario.UnitMS, MetricTimeP99: scenario.UnitMS, MetricOpsPerS: scenario.UnitPerS,
		MetricSavingsPct: scenario.UnitPct}
}

// Figures lists the comparison's figures (scenario "spawn"), pattern by pattern, then the ratios.
func (c *Comparison) Figures() []scenario.Figure {
	fs := scenario.Figures{Scenario: "spawn", Units: Metrics()}
	for _, p := range c.Patterns {
		if p.Tasks == 0 {
			continue
		}
		d := []scenario.Dim{{Key: "pattern", Value: p.Name}}
		fs.Add(d, MetricTimeMean, p.RoundMeanMS...)
		fs.Add(d, MetricTimeP50, p.Time.P50MS)
		fs.Add(d, MetricTimeP95, p.Time.P95MS)
		fs.Add(d, MetricTimeP99, p.Time.P99MS)
		fs.Add(d, MetricOpsPerS, p.OpsPerSec)
	}
	for _, ra := range c.Ratios {
		fs.Add([]scenario.Dim{{Key: "ratio", Value: ra.Slow + "_vs_" + ra.Fast}}, MetricSavingsPct, ra.PerRoundPct...)
	}
	return fs.List
}
