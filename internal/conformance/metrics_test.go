package conformance

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP bus_errors_total Errors sent, by code.
# TYPE bus_errors_total counter
bus_errors_total{code="malformed"} 3
bus_errors_total{code="weird \"q\" \\ x",z="1"} 1e+00
# TYPE bus_connections gauge
bus_connections 2 1732556000123
process_resident_memory_bytes 1.2345e+07
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		series("bus_errors_total", "code", "malformed"):               3,
		series("bus_errors_total", "z", "1", "code", `weird "q" \ x`): 1,
		"bus_connections":               2,
		"process_resident_memory_bytes": 12345000,
	} {
		if got, ok := m.Values[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", k, got, ok, want, m.Values)
		}
	}
	if m.Types["bus_errors_total"] != "counter" || m.Types["bus_connections"] != "gauge" {
		t.Errorf("types %v", m.Types)
	}
	if _, err := ParseMetrics(strings.NewReader("a 1\na 2\n")); err == nil {
		t.Error("a series exported twice must be an error")
	}
	if _, err := ParseMetrics(strings.NewReader(`a{b="c} 1`)); err == nil {
		t.Error("unterminated label must be an error")
	}
}

// TestDocSeries pins the table of docs/protocol.md: 1 + 1 + 2 + 1 + 6 + 4 + 3 + 1 + 1 + 1 + 7 bus_* series.
func TestDocSeries(t *testing.T) {
	if n := len(docSeries()); n != 28 {
		t.Errorf("%d series, want 28", n)
	}
}
