package scenario

import (
	"errors"
	"strings"
)

// Metric names a figure of a run, as k6's metrics/builtin.go names its metrics: each family declares its own as
// constants with a unit (busload.Metrics, lifecycle.Metrics, …). The names are the JSON keys of summaries and
// ratios, and the names thresholds, compare, bench.txt and the CSV use.
type Metric string

// Unit is a metric's unit.
type Unit string

// The units figures have.
const (
	UnitPerS    Unit = "1/s"
	UnitRatio   Unit = "ratio"
	UnitMS      Unit = "ms"
	UnitCount   Unit = "count"
	UnitBytes   Unit = "bytes"
	UnitCores   Unit = "cores"
	UnitPerCPUS Unit = "1/cpu-s"
	UnitPct     Unit = "%"
)

// Latency percentiles: bus-load (per delivery) and agent-messaging (per turn) both have them, under one name each.
const (
	MetricLatencyP50 Metric = "latency_p50_ms"
	MetricLatencyP95 Metric = "latency_p95_ms"
	MetricLatencyP99 Metric = "latency_p99_ms"
)

// ErrUnknownMetric is returned for a metric name no figure has.
var ErrUnknownMetric = errors.New("unknown metric")

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

// Figures collects the figures of one scenario in order; Add leaves empty sample lists out.
type Figures struct {
	Scenario string
	Units    map[Metric]Unit
	List     []Figure
}

// Add appends the figure dims.m with samples xs, unit from Units.
func (fs *Figures) Add(dims []Dim, m Metric, xs ...float64) {
	if len(xs) == 0 {
		return
	}
	fs.List = append(fs.List, Figure{Scenario: fs.Scenario, Dims: dims, Metric: m, Unit: fs.Units[m], Samples: xs})
}
