package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metrics is one scrape of /metrics: sample values by series key (name{k="v",...}, labels sorted, see series)
// and the type each `# TYPE` line declares, by metric name.
type Metrics struct {
	ContentType string
	Values      map[string]float64
	Types       map[string]string
}

// series is the key of a sample: name, then the labels as k="v" pairs sorted by key.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// Scrape fetches and parses base/metrics.
func Scrape(ctx context.Context, base string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return Metrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Metrics{}, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metrics{}, fmt.Errorf("scrape: HTTP %d", resp.StatusCode)
	}
	m, err := ParseMetrics(resp.Body)
	m.ContentType = resp.Header.Get("Content-Type")
	return m, err
}

// ParseMetrics reads the Prometheus text exposition format (0.0.4).
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{Values: map[string]float64{}, Types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[1] == "TYPE" {
				m.Types[f[2]] = f[3]
			}
			continue
		}
		key, rest, err := parseSeries(line)
		if err != nil {
			return m, fmt.Errorf("metrics line %d %q: %w", ln, line, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return m, fmt.Errorf("metrics line %d %q: want value [timestamp]", ln, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return m, fmt.Errorf("metrics line %d %q: %w", ln, line, err)
		}
		if _, dup := m.Values[key]; dup {
			return m, fmt.Errorf("metrics line %d: series %s exported twice", ln, key)
		}
		m.Values[key] = v
	}
	return m, sc.Err()
}

// parseSeries splits `name{a="x",b="y"} rest` into the canonical series key and rest.
func parseSeries(line string) (string, string, error) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", "", fmt.Errorf("no value")
	}
	name := line[:i]
	if line[i] != '{' {
		return name, line[i:], nil
	}
	var labels []string
	s := line[i+1:]
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return series(name, labels...), s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return "", "", fmt.Errorf("bad label list")
		}
		k := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var v strings.Builder
		j := 0
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(s[j])
				}
				continue
			}
			v.WriteByte(s[j])
		}
		if j == len(s) {
			return "", "", fmt.Errorf("unterminated label value")
		}
		labels = append(labels, k, v.String())
		s = s[j+1:]
	}
}

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
		{name: "bus_rejected_connections_total", typ: "counter", label: "reason", values: []string{"max_connections"}},
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
func scrape(t *testing.T, bus Bus) Metrics {
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
func waitMetrics(t *testing.T, bus Bus, want map[string]float64) Metrics {
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
