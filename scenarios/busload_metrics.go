package scenarios

import (
	"fmt"
	"slices"
)

// Metric names a per-run figure of bus-load that is summarised over repeats. The names are the JSON keys of
// summaries[].metrics and comparison_go_over_rust[].go_over_rust, and the names thresholds and compare use.
type Metric string

// Unit is a metric's unit.
type Unit string

const (
	UnitPerS    Unit = "1/s"
	UnitRatio   Unit = "ratio"
	UnitMS      Unit = "ms"
	UnitCount   Unit = "count"
	UnitBytes   Unit = "bytes"
	UnitCores   Unit = "cores"
	UnitPerCPUS Unit = "1/cpu-s"
)

// The bus-load metrics, as k6's metrics/builtin.go has them: a name, a unit, what it is.
const (
	MetricDeliveredPerS  Metric = "ws_msgs_received_per_s"
	MetricSentPerS       Metric = "ws_msgs_sent_per_s"
	MetricDeliveryRatio  Metric = "delivery_ratio"
	MetricLatencyP50     Metric = "latency_p50_ms"
	MetricLatencyP95     Metric = "latency_p95_ms"
	MetricLatencyP99     Metric = "latency_p99_ms"
	MetricLatencyP999    Metric = "latency_p99_9_ms"
	MetricLatencyMax     Metric = "latency_max_ms"
	MetricConnectingP95  Metric = "ws_connecting_p95_ms"
	MetricSessions       Metric = "ws_sessions"
	MetricSessionsAtEnd  Metric = "ws_sessions_active_at_end"
	MetricMemPerConn     Metric = "bus_mem_per_conn_bytes"
	MetricMemConnected   Metric = "bus_mem_connected_bytes"
	MetricMemPeak        Metric = "bus_mem_peak_bytes"
	MetricRSSPerConn     Metric = "bus_rss_per_conn_bytes"
	MetricBusCPU         Metric = "bus_cpu_cores"
	MetricPerCPUSecond   Metric = "bus_deliveries_per_cpu_s"
	MetricBusCoresBusy   Metric = "bus_cpuset_busy"
	MetricGenCoresBusy   Metric = "gen_cpuset_busy"
	MetricDropped        Metric = "bus_dropped"
	MetricLate           Metric = "late"
	MetricStillQueued    Metric = "still_queued"
	MetricLost           Metric = "lost"
	MetricPresumedLost   Metric = "presumed_lost"
	MetricGenUtilization Metric = "gen_cpu_utilization"
)

// metricDef is one metric: its unit, its description and how a run yields it.
type metricDef struct {
	Name Metric
	Unit Unit
	Help string
	v    func(*busRun) float64
}

// zeroUnmeasured are the metrics whose 0 means the run could not measure them (memory per connection without two
// distinct readings): such runs are left out of medians and ratios instead of pulling them to 0.
var zeroUnmeasured = map[Metric]bool{MetricMemPerConn: true, MetricRSSPerConn: true}

// measured reports whether value v of d is a measurement.
func (d metricDef) measured(v float64) bool { return v != 0 || !zeroUnmeasured[d.Name] }

// busMetrics are the per-run figures summarised over repeats, in report order.
var busMetrics = []metricDef{
	{MetricDeliveredPerS, UnitPerS, "deliveries per second in the measured window", func(r *busRun) float64 { return r.DeliveredPerS }},
	{MetricSentPerS, UnitPerS, "messages sent per second in the measured window", func(r *busRun) float64 { return r.SentPerS }},
	{MetricDeliveryRatio, UnitRatio, "deliveries / expected deliveries", func(r *busRun) float64 { return r.DeliveryRatio }},
	{MetricLatencyP50, UnitMS, "latency p50", func(r *busRun) float64 { return r.Latency.P50MS }},
	{MetricLatencyP95, UnitMS, "latency p95", func(r *busRun) float64 { return r.Latency.P95MS }},
	{MetricLatencyP99, UnitMS, "latency p99", func(r *busRun) float64 { return r.Latency.P99MS }},
	{MetricLatencyP999, UnitMS, "latency p99.9", func(r *busRun) float64 { return r.Latency.P999MS }},
	{MetricLatencyMax, UnitMS, "latency max", func(r *busRun) float64 { return r.Latency.MaxMS }},
	{MetricConnectingP95, UnitMS, "TCP connect + WebSocket upgrade p95", func(r *busRun) float64 { return r.Connecting.P95MS }},
	{MetricSessions, UnitCount, "agents registered", func(r *busRun) float64 { return float64(r.Sessions.Registered) }},
	{MetricSessionsAtEnd, UnitCount, "agents still connected at the end", func(r *busRun) float64 { return float64(r.Sessions.ActiveAtEnd) }},
	{MetricMemPerConn, UnitBytes, "bus container memory per connection", func(r *busRun) float64 { return r.BusFig.MemPerConn }},
	{MetricMemConnected, UnitBytes, "bus container memory with every agent connected", func(r *busRun) float64 { return r.BusFig.MemConnected }},
	{MetricMemPeak, UnitBytes, "bus container memory peak under traffic", func(r *busRun) float64 { return r.BusFig.MemPeak }},
	{MetricRSSPerConn, UnitBytes, "bus process RSS per connection (/metrics)", func(r *busRun) float64 { return r.BusFig.RSSPerConn }},
	{MetricBusCPU, UnitCores, "bus CPU over the measured window", func(r *busRun) float64 { return r.BusFig.CPUCores }},
	{MetricPerCPUSecond, UnitPerCPUS, "deliveries per second of bus CPU time", func(r *busRun) float64 { return r.BusFig.DeliveriesPerCPUSecond }},
	{MetricBusCoresBusy, UnitRatio, "bus cpuset busy (host /proc/stat)", func(r *busRun) float64 { return r.BusFig.CoresBusy }},
	{MetricGenCoresBusy, UnitRatio, "generators' cpuset busy (host /proc/stat)", func(r *busRun) float64 { return r.Gen.CoresBusy }},
	{MetricDropped, UnitCount, "messages the bus dropped (its /metrics)", func(r *busRun) float64 { return r.BusFig.Dropped }},
	{MetricLate, UnitCount, "deliveries after the measured window, before the drain deadline", func(r *busRun) float64 { return float64(r.Late) }},
	{MetricStillQueued, UnitCount, "deliveries not arrived at the drain deadline, not dropped", func(r *busRun) float64 { return float64(r.StillQueued) }},
	{MetricLost, UnitCount, "deliveries dropped by the bus or missing after a complete drain", func(r *busRun) float64 { return float64(r.Lost) }},
	{MetricPresumedLost, UnitCount, "messages of the window not delivered within the token timeout", func(r *busRun) float64 { return float64(r.PresumedLost) }},
	{MetricGenUtilization, UnitRatio, "generator CPU / its cpuset", func(r *busRun) float64 { return r.Gen.Utilization }},
}

// ErrUnknownMetric is returned for a metric name bus-load does not have.
var ErrUnknownMetric = fmt.Errorf("unknown metric")

// LookupMetric returns the definition of name, or ErrUnknownMetric (never a silent zero).
func LookupMetric(name string) (metricDef, error) {
	i := slices.IndexFunc(busMetrics, func(d metricDef) bool { return string(d.Name) == name })
	if i < 0 {
		names := make([]string, len(busMetrics))
		for j, d := range busMetrics {
			names[j] = string(d.Name)
		}
		return metricDef{}, fmt.Errorf("%w %q; valid: %v", ErrUnknownMetric, name, names)
	}
	return busMetrics[i], nil
}
