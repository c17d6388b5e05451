package messaging

import "github.com/agentlab/agentlab/scenarios/scenario"

// The agent-messaging figures: what thresholds, compare, bench.txt and the CSV read from agent-messaging.json
// (latency: scenario.MetricLatencyP50/P95/P99, per turn).
const (
	MetricSuccessPct scenario.Metric = "success_pct" // first-try verified turns ÷ planned, per clean run
	MetricTurnsPerS  scenario.Metric = "turns_per_s" // received turns ÷ wall, per clean run
	MetricRecoveryMS scenario.Metric = "recovery_ms" // fault → every conversation moving again
)

// Metrics are the agent-messaging metrics with their units.
func Metrics() map[scenario.Metric]scenario.Unit {
	return map[scenario.Metric]scenario.Unit{MetricSuccessPct: scenario.UnitPct, MetricTurnsPerS: scenario.UnitPerS,
		MetricRecoveryMS: scenario.UnitMS, scenario.MetricLatencyP50: scenario.UnitMS,
		scenario.MetricLatencyP95: scenario.UnitMS, scenario.MetricLatencyP99: scenario.UnitMS}
}

// Figures lists the result's figures: per bus and pattern over the clean runs, then each fault's recovery.
func (m *Result) Figures() []scenario.Figure {
	fs := scenario.Figures{Scenario: "agent-messaging", Units: Metrics()}
	type key struct{ bus, pattern string }
	var keys []key
	per := map[key][]MessagingRun{}
	for _, run := range m.Runs {
		k := key{run.Bus, run.Pattern}
		if _, ok := per[k]; !ok {
			keys = append(keys, k)
		}
		per[k] = append(per[k], run)
	}
	for _, k := range keys {
		d := []scenario.Dim{{Key: "bus", Value: k.bus}, {Key: "pattern", Value: k.pattern}}
		var succ, p50, p95, p99, tps []float64
		for _, run := range per[k] {
			succ, tps = append(succ, run.SuccessPct), append(tps, run.TurnsPerSec)
			p50, p95, p99 = append(p50, run.Latency.P50MS), append(p95, run.Latency.P95MS), append(p99, run.Latency.P99MS)
		}
		fs.Add(d, MetricSuccessPct, succ...)
		fs.Add(d, scenario.MetricLatencyP50, p50...)
		fs.Add(d, scenario.MetricLatencyP95, p95...)
		fs.Add(d, scenario.MetricLatencyP99, p99...)
		fs.Add(d, MetricTurnsPerS, tps...)
	}
	for _, f := range m.FaultRuns {
		if f.RecoveryMS != nil {
			fs.Add([]scenario.Dim{{Key: "bus", Value: f.Bus}, {Key: "fault", Value: f.Fault}}, MetricRecoveryMS, *f.RecoveryMS)
		}
	}
	return fs.List
}
