package scenarios

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The figures of the other scenarios, named as bus-load's (busload_metrics.go): what thresholds, compare, bench.txt
// and the CSV read from a results folder.
const (
	MetricTimeMean    Metric = "time_mean_ms"     // spawn: mean time per task, one value per interleaved round
	MetricTimeP50     Metric = "time_p50_ms"      // spawn: time per task p50 (HDR, all rounds pooled)
	MetricTimeP95     Metric = "time_p95_ms"      // spawn: p95
	MetricTimeP99     Metric = "time_p99_ms"      // spawn: p99
	MetricOpsPerS     Metric = "ops_per_s"        // spawn: tasks ÷ timed wall time
	MetricSavingsPct  Metric = "savings_pct"      // spawn: 100·(1 − fast/slow) per round
	MetricPerTokenCPU Metric = "per_token_cpu_ms" // ai-streaming: client CPU per token, one value per round
	MetricTTFTP95     Metric = "ttft_p95_ms"      // ai-streaming: request → first text delta, p95
	MetricInterTokP99 Metric = "inter_token_p99_ms"
	MetricSuccessPct  Metric = "success_pct" // agent-messaging: first-try verified turns ÷ planned, per clean run
	MetricTurnsPerS   Metric = "turns_per_s" // agent-messaging: received turns ÷ wall, per clean run
	MetricRecoveryMS  Metric = "recovery_ms" // agent-messaging: fault → every conversation moving again
)

// UnitPct is a percentage.
const UnitPct Unit = "%"

// figureMetrics are every metric a figure can have: bus-load's and the ones above, with units.
func figureMetrics() map[Metric]Unit {
	m := map[Metric]Unit{
		MetricTimeMean: UnitMS, MetricTimeP50: UnitMS, MetricTimeP95: UnitMS, MetricTimeP99: UnitMS, MetricOpsPerS: UnitPerS,
		MetricSavingsPct: UnitPct, MetricPerTokenCPU: UnitMS, MetricTTFTP95: UnitMS, MetricInterTokP99: UnitMS,
		MetricSuccessPct: UnitPct, MetricTurnsPerS: UnitPerS, MetricRecoveryMS: UnitMS,
	}
	for _, d := range busMetrics {
		m[d.Name] = d.Unit
	}
	return m
}

// KnownMetric reports whether name is a metric some figure can have, and lists them when not.
func KnownMetric(name string) error {
	m := figureMetrics()
	if _, ok := m[Metric(name)]; ok {
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, string(k))
	}
	slices.Sort(names)
	return fmt.Errorf("%w %q; valid: %s", ErrUnknownMetric, name, strings.Join(names, ", "))
}

// Dim is one part of what a figure is about (bus=go, pattern=targeted, …).
type Dim struct{ Key, Value string }

// Figure is one figure of a run: its samples (one per repeat or round, or one pooled value) and its unit.
type Figure struct {
	Scenario string
	Dims     []Dim
	Metric   Metric
	Unit     Unit
	Samples  []float64
	// Alias marks the short name of another figure (bus-load.go.targeted.latency_p95_ms: the open model at Test 2's
	// agent count); compare, bench.txt and the CSV leave aliases out.
	Alias bool
}

// Name is scenario.dim-values….metric, e.g. bus-load.go.targeted.open.100.latency_p95_ms.
func (f Figure) Name() string {
	parts := []string{f.Scenario}
	for _, d := range f.Dims {
		parts = append(parts, d.Value)
	}
	return strings.Join(append(parts, string(f.Metric)), ".")
}

// Figures lists the run's figures, scenario by scenario, in a stable order.
func (r *Results) Figures() []Figure {
	var out []Figure
	add := func(sc string, dims []Dim, m Metric, xs ...float64) {
		if len(xs) == 0 {
			return
		}
		out = append(out, Figure{Scenario: sc, Dims: dims, Metric: m, Unit: figureMetrics()[m], Samples: xs})
	}
	if c := r.Spawn; c != nil {
		for _, p := range c.Patterns {
			if p.Tasks == 0 {
				continue
			}
			d := []Dim{{"pattern", p.Name}}
			add("spawn", d, MetricTimeMean, p.RoundMeanMS...)
			add("spawn", d, MetricTimeP50, p.Time.P50MS)
			add("spawn", d, MetricTimeP95, p.Time.P95MS)
			add("spawn", d, MetricTimeP99, p.Time.P99MS)
			add("spawn", d, MetricOpsPerS, p.OpsPerSec)
		}
		for _, ra := range c.Ratios {
			add("spawn", []Dim{{"ratio", ra.Slow + "_vs_" + ra.Fast}}, MetricSavingsPct, ra.PerRoundPct...)
		}
	}
	for _, f := range r.Buses {
		agents := 0
		if f.Decision != nil {
			agents = f.Decision.Agents
		}
		for _, s := range f.Summaries {
			k := cfgKey{s.Agents, s.Pattern, s.Model}
			var runs []*busRun
			for _, run := range f.Runs {
				if run.Error == "" && run.Agents == k.agents && run.Pattern == k.pattern && run.Model == k.model {
					runs = append(runs, run)
				}
			}
			for _, m := range busMetrics {
				xs := values(runs, m)
				dims := []Dim{{"bus", f.Bus.Name}, {"pattern", s.Pattern}, {"model", s.Model}, {"agents", strconv.Itoa(s.Agents)}}
				add("bus-load", dims, m.Name, xs...)
				// The short name: the open model (closed when the pattern ran only closed) at Test 2's agent count.
				if s.Agents == agents && (s.Model == "open" || !slices.ContainsFunc(f.Summaries, func(o busSummary) bool {
					return o.Agents == s.Agents && o.Pattern == s.Pattern && o.Model == "open"
				})) && len(xs) > 0 {
					out = append(out, Figure{Scenario: "bus-load", Dims: dims[:2], Metric: m.Name, Unit: m.Unit, Samples: xs, Alias: true})
				}
			}
		}
	}
	if s := r.Streaming; s != nil {
		for _, run := range s.Runs {
			d := []Dim{{"client", run.Client}, {"concurrent", "c" + strconv.Itoa(run.Concurrent)}, {"delay", fmt.Sprintf("d%gms", run.TokenDelayMS)}}
			add("ai-streaming", d, MetricPerTokenCPU, run.PerTokenCPURounds...)
			add("ai-streaming", d, MetricTTFTP95, run.TTFT.P95MS)
			add("ai-streaming", d, MetricInterTokP99, run.InterToken.P99MS)
		}
		for _, in := range s.Decision.Inputs {
			if len(in.PerTokenMS) > 0 {
				out = append(out, Figure{Scenario: "ai-streaming", Dims: []Dim{{"client", in.Client}}, Metric: MetricPerTokenCPU,
					Unit: UnitMS, Samples: in.PerTokenMS, Alias: true})
			}
		}
	}
	if m := r.Messaging; m != nil {
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
			d := []Dim{{"bus", k.bus}, {"pattern", k.pattern}}
			var succ, p50, p95, p99, tps []float64
			for _, run := range per[k] {
				succ, tps = append(succ, run.SuccessPct), append(tps, run.TurnsPerSec)
				p50, p95, p99 = append(p50, run.Latency.P50MS), append(p95, run.Latency.P95MS), append(p99, run.Latency.P99MS)
			}
			add("agent-messaging", d, MetricSuccessPct, succ...)
			add("agent-messaging", d, MetricLatencyP50, p50...)
			add("agent-messaging", d, MetricLatencyP95, p95...)
			add("agent-messaging", d, MetricLatencyP99, p99...)
			add("agent-messaging", d, MetricTurnsPerS, tps...)
		}
		for _, f := range m.FaultRuns {
			if f.RecoveryMS != nil {
				add("agent-messaging", []Dim{{"bus", f.Bus}, {"fault", f.Fault}}, MetricRecoveryMS, *f.RecoveryMS)
			}
		}
	}
	return out
}
