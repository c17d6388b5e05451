package prom

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const sample = `# HELP bus_errors_total Errors sent, by code.
# TYPE bus_errors_total counter
bus_errors_total{code="malformed"} 3
bus_errors_total{code="weird \"q\" \\ x",z="1"} 1e+00
# TYPE bus_connections gauge
bus_connections 2 1732556000123
process_resident_memory_bytes 1.2345e+07
# TYPE lat_seconds histogram
lat_seconds_bucket{op="a",le="0.005"} 1
lat_seconds_bucket{op="a",le="0.1"} 4
lat_seconds_bucket{op="a",le="+Inf"} 5
lat_seconds_sum{op="a"} 0.75
lat_seconds_count{op="a"} 5
# TYPE rpc summary
rpc{quantile="0.5"} 2
rpc_sum 10
rpc_count 4
`

func TestParse(t *testing.T) {
	m, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		Key("bus_errors_total", "code", "malformed"):               3,
		Key("bus_errors_total", "z", "1", "code", `weird "q" \ x`): 1,
		"bus_connections":                       2,
		"process_resident_memory_bytes":         12345000,
		`lat_seconds_bucket{le="0.005",op="a"}`: 1,
		`lat_seconds_bucket{le="0.1",op="a"}`:   4,
		`lat_seconds_bucket{le="+Inf",op="a"}`:  5,
		`lat_seconds_sum{op="a"}`:               0.75,
		`lat_seconds_count{op="a"}`:             5,
		`rpc{quantile="0.5"}`:                   2,
		"rpc_sum":                               10,
		"rpc_count":                             4,
	}
	for k, v := range want {
		if got, ok := m.Values[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if len(m.Values) != len(want) {
		t.Errorf("%d series, want %d: %v", len(m.Values), len(want), m.Values)
	}
	for name, typ := range map[string]string{"bus_errors_total": "counter", "bus_connections": "gauge",
		"process_resident_memory_bytes": "untyped", "lat_seconds": "histogram", "rpc": "summary"} {
		if m.Types[name] != typ {
			t.Errorf("type of %s = %q, want %q", name, m.Types[name], typ)
		}
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse(strings.NewReader("a 1\na 2\n")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate series: err = %v, want ErrDuplicate", err)
	}
	for _, bad := range []string{`a{b="c} 1` + "\n", "a x\n", "a{b=c} 1\n", "# TYPE a counter\n# TYPE a gauge\na 1\n"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestHelpers(t *testing.T) {
	m0, err := Parse(strings.NewReader(`bus_errors_total{code="a"} 1
bus_errors_total{code="b"} 0
bus_errors_total_other 100
`))
	if err != nil {
		t.Fatal(err)
	}
	m1, err := Parse(strings.NewReader(`bus_errors_total{code="a"} 4
bus_errors_total{code="b"} 2
bus_errors_total{code="c"} 1
bus_errors_total_other 100
`))
	if err != nil {
		t.Fatal(err)
	}
	if s := m1.Sum("bus_errors_total"); s != 7 {
		t.Errorf("Sum = %v, want 7 (the _other family excluded)", s)
	}
	d := m1.Delta(m0).ByLabel("bus_errors_total", "code")
	if len(d) != 3 || d["a"] != 3 || d["b"] != 2 || d["c"] != 1 {
		t.Errorf("ByLabel of delta = %v", d)
	}
	if v := m1.Get("bus_errors_total", "code", "c"); v != 1 {
		t.Errorf("Get = %v", v)
	}
	if v := LabelValue(Key("x", "b", `q"u,o=te`, "code", "z"), "b"); v != `q"u,o=te` {
		t.Errorf("LabelValue = %q", v)
	}
	if v := LabelValue("x", "b"); v != "" {
		t.Errorf("LabelValue of unlabelled = %q", v)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(sample))
	}))
	defer srv.Close()
	m, err := Scrape(context.Background(), srv.Client(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.ContentType, "version=0.0.4") || m.Values["bus_connections"] != 2 {
		t.Errorf("scrape: %q %v", m.ContentType, m.Values)
	}
	if _, err := Scrape(context.Background(), nil, srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: err = %v", err)
	}
}
