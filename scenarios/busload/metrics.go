package busload

import (
	"fmt"
	"slices"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

// The bus-load metrics, as k6's metrics/builtin.go has them: a name, a unit, what it is.
const (
	MetricDeliveredPerS  scenario.Metric = "ws_msgs_received_per_s"
	MetricSentPerS       scenario.Metric = "ws_msgs_sent_per_s"
	MetricDeliveryRatio  scenario.Metric = "delivery_ratio"
	MetricLatencyP50                     = scenario.MetricLatencyP50
	MetricLatencyP95                     = scenario.MetricLatencyP95
	MetricLatencyP99                     = scenario.MetricLatencyP99
	MetricLatencyP999    scenario.Metric = "latency_p99_9_ms"
	MetricLatencyMax     scenario.Metric = "latency_max_ms"
	MetricConnectingP95  scenario.Metric = "ws_connecting_p95_ms"
	MetricSessions       scenario.Metric = "ws_sessions"
	MetricSessionsAtEnd  scenario.Metric = "ws_sessions_active_at_end"
	MetricMemPerConn     scenario.Metric = "bus_mem_per_conn_bytes"
	MetricMemSlope       scenario.Metric = "bus_mem_slope_bytes_per_conn"
	MetricMemSlopeIdle   scenario.Metric = "bus_mem_slope_through_idle_bytes_per_conn"
	MetricMemFixed       scenario.Metric = "bus_mem_fixed_bytes"
	MetricMemConnected   scenario.Metric = "bus_mem_connected_bytes"
	MetricMemPeak        scenario.Metric = "bus_mem_peak_bytes"
	MetricRSSPerConn     scenario.Metric = "bus_rss_per_conn_bytes"
	MetricBusCPU         scenario.Metric = "bus_cpu_cores"
	MetricPerCPUSecond   scenario.Metric = "bus_deliveries_per_cpu_s"
	MetricBusCoresBusy   scenario.Metric = "bus_cpuset_busy"
	MetricGenCoresBusy   scenario.Metric = "gen_cpuset_busy"
	MetricDropped        scenario.Metric = "bus_dropped"
	MetricLate           scenario.Metric = "late"
	MetricStillQueued    scenario.Metric = "still_queued"
	MetricLost           scenario.Metric = "lost"
	MetricPresumedLost   scenario.Metric = "presumed_lost"
	MetricGenUtilization scenario.Metric = "gen_cpu_utilization"
)

// metricDef is one metric: its unit, its description and how a run yields it.
type metricDef struct {
	Name scenario.Metric
	Unit scenario.Unit
	Help string
	v    func(*RunResult) float64
}

// zeroUnmeasured are the metrics whose 0 means the run could not measure them (memory per connection without two
// distinct readings): such runs are left out of medians and ratios instead of pulling them to 0.
var zeroUnmeasured = map[scenario.Metric]bool{MetricMemPerConn: true, MetricRSSPerConn: true, MetricMemSlope: true, MetricMemSlopeIdle: true, MetricMemFixed: true}

// measured reports whether value v of d is a measurement.
func (d metricDef) measured(v float64) bool { return v != 0 || !zeroUnmeasured[d.Name] }

// busMetrics are the per-run figures summarised over repeats, in report order.
var busMetrics = []metricDef{
	{MetricDeliveredPerS, scenario.UnitPerS, "deliveries per second in the measured window", func(r *RunResult) float64 { return r.DeliveredPerS }},
	{MetricSentPerS, scenario.UnitPerS, "messages sent per second in the measured window", func(r *RunResult) float64 { return r.SentPerS }},
	{MetricDeliveryRatio, scenario.UnitRatio, "deliveries / expected deliveries", func(r *RunResult) float64 { return r.DeliveryRatio }},
	{MetricLatencyP50, scenario.UnitMS, "latency p50", func(r *RunResult) float64 { return r.Latency.P50MS }},
	{MetricLatencyP95, scenario.UnitMS, "latency p95", func(r *RunResult) float64 { return r.Latency.P95MS }},
	{MetricLatencyP99, scenario.UnitMS, "latency p99", func(r *RunResult) float64 { return r.Latency.P99MS }},
	{MetricLatencyP999, scenario.UnitMS, "latency p99.9", func(r *RunResult) float64 { return r.Latency.P999MS }},
	{MetricLatencyMax, scenario.UnitMS, "latency max", func(r *RunResult) float64 { return r.Latency.MaxMS }},
	{MetricConnectingP95, scenario.UnitMS, "TCP connect + WebSocket upgrade p95", func(r *RunResult) float64 { return r.Connecting.P95MS }},
	{MetricSessions, scenario.UnitCount, "agents registered", func(r *RunResult) float64 { return float64(r.Sessions.Registered) }},
	{MetricSessionsAtEnd, scenario.UnitCount, "agents still connected at the end", func(r *RunResult) float64 { return float64(r.Sessions.ActiveAtEnd) }},
	{MetricMemPerConn, scenario.UnitBytes, "bus container memory per connection, per run: (connected − idle) / agents, fixed costs included", func(r *RunResult) float64 { return r.BusFig.MemPerConn }},
	{MetricMemSlope, scenario.UnitBytes, "bus container memory per connection as a slope: least squares over the idle-connection steps", func(r *RunResult) float64 { return r.Ladder.slope() }},
	{MetricMemSlopeIdle, scenario.UnitBytes, "bus container memory per connection, one line through every step of the ladder, the idle reading included (context: the first connections' fixed step tilts it)", func(r *RunResult) float64 {
		if r.Ladder == nil || r.Ladder.Fit == nil {
			return 0
		}
		return r.Ladder.Fit.SlopeThroughIdleBytes
	}},
	{MetricMemFixed, scenario.UnitBytes, "bus container fixed memory: the slope fit's intercept", func(r *RunResult) float64 { return r.Ladder.intercept() }},
	{MetricMemConnected, scenario.UnitBytes, "bus container memory with every agent connected", func(r *RunResult) float64 { return r.BusFig.MemConnected }},
	{MetricMemPeak, scenario.UnitBytes, "bus container memory peak under traffic", func(r *RunResult) float64 { return r.BusFig.MemPeak }},
	{MetricRSSPerConn, scenario.UnitBytes, "bus process RSS per connection (/metrics)", func(r *RunResult) float64 { return r.BusFig.RSSPerConn }},
	{MetricBusCPU, scenario.UnitCores, "bus CPU over the measured window", func(r *RunResult) float64 { return r.BusFig.CPUCores }},
	{MetricPerCPUSecond, scenario.UnitPerCPUS, "deliveries per second of bus CPU time", func(r *RunResult) float64 { return r.BusFig.DeliveriesPerCPUSecond }},
	{MetricBusCoresBusy, scenario.UnitRatio, "bus cpuset busy (host /proc/stat)", func(r *RunResult) float64 { return r.BusFig.CoresBusy }},
	{MetricGenCoresBusy, scenario.UnitRatio, "generators' cpuset busy (host /proc/stat)", func(r *RunResult) float64 { return r.Gen.CoresBusy }},
	{MetricDropped, scenario.UnitCount, "messages the bus dropped (its /metrics)", func(r *RunResult) float64 { return r.BusFig.Dropped }},
	{MetricLate, scenario.UnitCount, "deliveries after the measured window, before the drain deadline", func(r *RunResult) float64 { return float64(r.Late) }},
	{MetricStillQueued, scenario.UnitCount, "deliveries not arrived at the drain deadline, not dropped", func(r *RunResult) float64 { return float64(r.StillQueued) }},
	{MetricLost, scenario.UnitCount, "deliveries dropped by the bus or missing after a complete drain", func(r *RunResult) float64 { return float64(r.Lost) }},
	{MetricPresumedLost, scenario.UnitCount, "messages of the window not delivered within the token timeout", func(r *RunResult) float64 { return float64(r.PresumedLost) }},
	{MetricGenUtilization, scenario.UnitRatio, "generator CPU / its cpuset", func(r *RunResult) float64 { return r.Gen.Utilization }},
}

// LookupMetric returns the definition of name, or ErrUnknownMetric (never a silent zero).
func LookupMetric(name string) (metricDef, error) {
	i := slices.IndexFunc(busMetrics, func(d metricDef) bool { return string(d.Name) == name })
	if i < 0 {
		names := make([]string, len(busMetrics))
		for j, d := range busMetrics {
			names[j] = string(d.Name)
		}
		return metricDef{}, fmt.Errorf("%w %q; valid: %v", scenario.ErrUnknownMetric, name, names)
	}
	return busMetrics[i], nil
}

// Metrics are bus-load's metrics with their units, for the lab's list of every figure's name.
func Metrics() map[scenario.Metric]scenario.Unit {
	m := map[scenario.Metric]scenario.Unit{}
	for _, d := range busMetrics {
		m[d.Name] = d.Unit
	}
	return m
}
