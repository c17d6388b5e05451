package conformance

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/agentlab/agentlab/internal/prom"
)

// Metrics is one scrape of /metrics: sample values by series key (name{k="v",...}, labels sorted, see series)
// and the type each `# TYPE` line declares, by metric name. It is internal/prom's, so the suite and the lab
// read /metrics with one parser (prometheus/common/expfmt).
type Metrics = prom.Metrics

// series is the key of a sample: name, then the labels as k="v" pairs sorted by key.
func series(name string, labels ...string) string { return prom.Key(name, labels...) }

// Scrape fetches and parses base/metrics.
func Scrape(ctx context.Context, base string) (Metrics, error) {
	return prom.Scrape(ctx, http.DefaultClient, base+"/metrics")
}

// ParseMetrics reads the Prometheus text exposition format (0.0.4); a syntax error or a series exported twice
// is an error.
func ParseMetrics(r io.Reader) (Metrics, error) { return prom.Parse(r) }

// docMetric is one row of the protocol's metrics table, with its labelled series.
type docMetric struct {
	name, typ string
	label     string
	values    []string
}

// docMetrics is the protocol's metrics table.
func docMetrics() []docMetric {
	return []docMetric{
		{name: "bus_connections", typ: "gauge"},
		{name: "bus_connections_accepted_total", typ: "counter"},
		{name: "bus_rejected_connections_total", typ: "counter", label: "reason", values: []string{"max_connections", "no_request_head"}},
		{name: "bus_registered_agents", typ: "gauge"},
		{name: "bus_messages_in_total", typ: "counter", label: "type",
			values: []string{"register", "send", "broadcast", "group", "ping", "invalid"}},
		{name: "bus_messages_out_total", typ: "counter", label: "type",
			values: []string{"msg", "registered", "pong", "error"}},
		{name: "bus_deliveries_total", typ: "counter", label: "mode", values: []string{"direct", "broadcast", "group"}},
		{name: "bus_bytes_in_total", typ: "counter"},
		{name: "bus_bytes_out_total", typ: "counter"},
		{name: "bus_dropped_total", typ: "counter", label: "reason", values: []string{"slow_consumer"}},
		{name: "bus_errors_total", typ: "counter", label: "code", values: []string{
			"malformed", "not_registered", "already_registered", "duplicate_id", "unknown_target", "unknown_group",
			"too_large"}},
		{name: "process_resident_memory_bytes", typ: "gauge"},
	}
}

// docSeries lists every series of the table (bus_* ones; the RSS gauge is not a count).
func docSeries() []string {
	var out []string
	for _, m := range docMetrics() {
		if !strings.HasPrefix(m.name, "bus_") {
			continue
		}
		if m.label == "" {
			out = append(out, m.name)
			continue
		}
		for _, v := range m.values {
			out = append(out, series(m.name, m.label, v))
		}
	}
	return out
}

// scrape fetches the bus's metrics or fails the case.
func scrape(t T, bus Bus) Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frameWait)
	defer cancel()
	m, err := Scrape(ctx, bus.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitMetrics polls /metrics until every series in want has exactly its value. Counters are updated by the bus's
// goroutines/tasks after the frames that tests wait for may already have arrived, so a single scrape could race.
func waitMetrics(t T, bus Bus, want map[string]float64) Metrics {
	t.Helper()
	start := time.Now()
	deadline := start.Add(3 * time.Second)
	var first []string
	for {
		m := scrape(t, bus)
		var diffs []string
		for _, k := range slices.Sorted(maps.Keys(want)) {
			got, ok := m.Values[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s missing (want %g)", k, want[k]))
			case got != want[k]:
				diffs = append(diffs, fmt.Sprintf("%s = %g, want %g", k, got, want[k]))
			}
		}
		if len(diffs) == 0 {
			if waited := time.Since(start); waited > 500*time.Millisecond {
				t.Logf("metrics took %v to settle; first scrape differed:\n  %s", waited.Round(time.Millisecond),
					strings.Join(first, "\n  "))
			}
			return m
		}
		if first == nil {
			first = diffs
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics still differ after 3 s:\n  %s", strings.Join(diffs, "\n  "))
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond): // polling external state
		}
	}
}
